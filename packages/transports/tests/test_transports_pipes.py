"""connect_read_pipe / connect_write_pipe: pipes, sockets and ptys, on layerloop and on
asyncio's loop (the oracle) through the ``loop`` fixture."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gc
import hashlib
import os
import socket
import tempfile
import warnings
from typing import Any

import pytest

from transports_helpers import Recorder, errors_to, is_ours, open_fds


def _reading(fd: int) -> Any:
    """An unbuffered file object over *fd* (the transport takes and closes it)."""
    return open(fd, "rb", buffering=0)


def _writing(fd: int) -> Any:
    return open(fd, "wb", buffering=0)


def _run(loop: asyncio.AbstractEventLoop, coro: Any) -> Any:
    return loop.run_until_complete(asyncio.wait_for(coro, 30))


def _closed(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError as exc:
        return exc.errno == errno.EBADF
    return False


async def _settle(rounds: int = 5) -> None:
    for _ in range(rounds):
        await asyncio.sleep(0.01)


def test_read_pipe_data_eof_then_lost(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        rfd, wfd = os.pipe()
        pipe = _reading(rfd)
        transport, proto = await loop.connect_read_pipe(Recorder, pipe)
        assert isinstance(transport, asyncio.ReadTransport)
        assert transport.get_extra_info("pipe") is pipe
        assert transport.get_extra_info("nothing", 7) == 7
        assert transport.is_reading()
        os.write(wfd, b"hello ")
        os.write(wfd, b"pipe")
        await proto.wait_for_bytes(10)
        os.close(wfd)
        await proto.closed
        assert bytes(proto.data) == b"hello pipe"
        assert proto.events == ["made", "eof", "lost"]
        assert proto.lost == [None]
        assert transport.is_closing()
        assert pipe.closed  # the transport owns the pipe object

    _run(loop, main())


def test_read_pipe_pause_resume(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        rfd, wfd = os.pipe()
        transport, proto = await loop.connect_read_pipe(Recorder, _reading(rfd))
        transport.pause_reading()
        transport.pause_reading()  # idempotent
        assert not transport.is_reading()
        os.write(wfd, b"held")
        await _settle()
        assert bytes(proto.data) == b""
        transport.resume_reading()
        assert transport.is_reading()
        await proto.wait_for_bytes(4)
        assert bytes(proto.data) == b"held"
        transport.close()
        assert transport.is_closing()
        assert not transport.is_reading()
        await proto.closed
        assert proto.events == ["made", "lost"]
        assert proto.lost == [None]
        os.close(wfd)

    _run(loop, main())


def test_pause_reading_in_connection_made(loop: asyncio.AbstractEventLoop) -> None:
    class Paused(Recorder):
        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            transport.pause_reading()

    async def main() -> None:
        rfd, wfd = os.pipe()
        os.write(wfd, b"early")
        transport, proto = await loop.connect_read_pipe(Paused, _reading(rfd))
        await _settle()
        assert bytes(proto.data) == b""
        transport.resume_reading()
        await proto.wait_for_bytes(5)
        transport.close()
        await proto.closed
        os.close(wfd)

    _run(loop, main())


@pytest.mark.parametrize("side", ["read", "write"])
def test_regular_file_is_rejected(loop: asyncio.AbstractEventLoop, side: str) -> None:
    async def main() -> None:
        with tempfile.TemporaryFile() as file:
            made: list[Recorder] = []

            def factory() -> Recorder:
                made.append(Recorder())
                return made[-1]

            connect = loop.connect_read_pipe if side == "read" else loop.connect_write_pipe
            with pytest.raises(ValueError) as info:
                await connect(factory, file)
            expected = (
                "Pipe transport is for pipes/sockets only."
                if side == "read"
                else "Pipe transport is only for pipes, sockets and character devices"
            )
            assert str(info.value) == expected
            assert not file.closed  # refused, so not owned
            await _settle(1)
            assert made and made[0].events == []

    _run(loop, main())


def test_write_pipe_close_flushes_everything(loop: asyncio.AbstractEventLoop) -> None:
    payload = os.urandom(3 * 1024 * 1024 + 17)

    async def main() -> None:
        rfd, wfd = os.pipe()
        reader_t, reader = await loop.connect_read_pipe(Recorder, _reading(rfd))
        writer_t, writer = await loop.connect_write_pipe(Recorder, _writing(wfd))
        assert isinstance(writer_t, asyncio.WriteTransport)
        assert writer_t.can_write_eof()
        view = bytearray(payload)
        writer_t.write(view[: len(view) // 2])
        writer_t.write(memoryview(view)[len(view) // 2 :])
        view[:] = bytes(len(view))  # the transport copied what it queued
        assert writer_t.get_write_buffer_size() > 0
        writer_t.close()
        assert writer_t.is_closing()
        writer_t.write(b"dropped after close")  # silently ignored, as CPython
        await writer.closed
        await reader.closed
        assert writer.lost == [None]
        assert reader.lost == [None]
        assert hashlib.sha256(reader.data).digest() == hashlib.sha256(payload).digest()
        assert "pause" in writer.events and "resume" in writer.events
        assert reader.events[-2:] == ["eof", "lost"]
        assert reader_t.is_closing()

    _run(loop, main())


def test_write_pipe_flow_control_and_limits(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        rfd, wfd = os.pipe()
        transport, proto = await loop.connect_write_pipe(Recorder, _writing(wfd))
        assert transport.get_write_buffer_limits() == (16 * 1024, 64 * 1024)
        with pytest.raises(ValueError):
            transport.set_write_buffer_limits(high=1, low=2)
        with pytest.raises(ValueError):
            transport.set_write_buffer_limits(high=-1)
        transport.set_write_buffer_limits(high=1000)
        assert transport.get_write_buffer_limits() == (250, 1000)
        # The pipe takes 64 KiB; the rest stays queued and pauses the protocol.
        transport.write(b"x" * (256 * 1024))
        assert proto.events == ["made", "pause"]
        assert transport.get_write_buffer_size() > 1000
        os.set_blocking(rfd, False)
        drained = 0
        while drained < 256 * 1024:
            await asyncio.sleep(0.001)
            with contextlib.suppress(BlockingIOError):
                drained += len(os.read(rfd, 1 << 20))
        await _settle()
        assert proto.events == ["made", "pause", "resume"]
        assert transport.get_write_buffer_size() == 0
        transport.close()
        await proto.closed
        os.close(rfd)

    _run(loop, main())


@pytest.mark.parametrize("queued", [False, True])
def test_write_pipe_reader_gone(loop: asyncio.AbstractEventLoop, queued: bool) -> None:
    async def main() -> None:
        rfd, wfd = os.pipe()
        errors = errors_to(loop)
        transport, proto = await loop.connect_write_pipe(Recorder, _writing(wfd))
        if queued:
            transport.write(b"y" * (200 * 1024))
            assert transport.get_write_buffer_size() > 0
        os.close(rfd)
        await proto.closed
        if queued:
            assert len(proto.lost) == 1 and isinstance(proto.lost[0], BrokenPipeError)
        else:
            assert proto.lost == [None]
        assert transport.is_closing()
        assert errors == []  # an OSError is not reported to the handler

    _run(loop, main())


def test_write_pipe_write_to_broken_pipe(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        rfd, wfd = os.pipe()
        errors = errors_to(loop)
        transport, proto = await loop.connect_write_pipe(Recorder, _writing(wfd))
        os.close(rfd)
        transport.write(b"z")  # fails at once with EPIPE
        await proto.closed
        assert len(proto.lost) == 1
        assert isinstance(proto.lost[0], BrokenPipeError)
        assert errors == []
        for _ in range(3):
            transport.write(b"after")  # dropped, no exception

    _run(loop, main())


def test_write_pipe_abort_discards(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        rfd, wfd = os.pipe()
        transport, proto = await loop.connect_write_pipe(Recorder, _writing(wfd))
        transport.write(b"a" * (1024 * 1024))
        assert transport.get_write_buffer_size() > 0
        transport.abort()
        assert transport.is_closing()
        assert transport.get_write_buffer_size() == 0
        await proto.closed
        assert proto.lost == [None]
        os.set_blocking(rfd, False)
        got = 0
        while True:
            chunk = os.read(rfd, 1 << 20)  # EOF once the kernel's part is read
            if not chunk:
                break
            got += len(chunk)
        assert 0 < got < 1024 * 1024
        os.close(rfd)

    _run(loop, main())


def test_write_eof_closes_after_queue(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        rfd, wfd = os.pipe()
        transport, proto = await loop.connect_write_pipe(Recorder, _writing(wfd))
        transport.write(b"tail")
        transport.write_eof()
        assert transport.is_closing()
        await proto.closed
        assert proto.lost == [None]
        assert os.read(rfd, 100) == b"tail"
        assert os.read(rfd, 100) == b""
        os.close(rfd)

    _run(loop, main())


def test_sockets_as_pipes(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        a, b = socket.socketpair()
        c, d = socket.socketpair()
        rt, reader = await loop.connect_read_pipe(Recorder, a)
        wt, writer = await loop.connect_write_pipe(Recorder, c)
        assert rt.get_extra_info("pipe") is a
        b.sendall(b"over a socket")
        await reader.wait_for_bytes(13)
        wt.write(b"to d")
        d.setblocking(True)
        assert d.recv(10) == b"to d"
        d.close()  # the peer of a write "pipe" goes away
        await writer.closed
        assert writer.lost == [None]
        b.close()
        await reader.closed
        assert reader.events == ["made", "eof", "lost"]
        assert a.fileno() == -1 and c.fileno() == -1

    _run(loop, main())


def test_pty_read_and_write(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        master, slave = os.openpty()
        errors = errors_to(loop)
        slave_file = _reading(slave)
        rt, reader = await loop.connect_read_pipe(Recorder, _reading(master))
        os.write(slave, b"from the slave")
        await reader.wait_for_bytes(14)
        assert bytes(reader.data) == b"from the slave"
        # A character device has no "reader gone" signal, so writing is all there is.
        wt, writer = await loop.connect_write_pipe(Recorder, _writing(os.dup(master)))
        wt.write(b"to slave\n")
        await _settle()
        assert os.read(slave, 100) == b"to slave\n"
        wt.close()
        await writer.closed
        assert writer.lost == [None]
        # Closing the slave makes the master read EIO: connection_lost(OSError(EIO)),
        # without a call to the exception handler.
        slave_file.close()
        await reader.closed
        assert len(reader.lost) == 1
        exc = reader.lost[0]
        assert isinstance(exc, OSError) and exc.errno == errno.EIO
        assert "eof" not in reader.events
        assert errors == []
        assert rt.is_closing()

    _run(loop, main())


def test_data_received_error_keeps_reading(loop: asyncio.AbstractEventLoop) -> None:
    class Fails(Recorder):
        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if len(self.data) < 3:
                raise ZeroDivisionError

    async def main() -> None:
        rfd, wfd = os.pipe()
        errors = errors_to(loop)
        transport, proto = await loop.connect_read_pipe(Fails, _reading(rfd))
        os.write(wfd, b"ab")
        await proto.wait_for_bytes(2)
        await _settle()
        assert len(errors) == 1
        assert isinstance(errors[0]["exception"], ZeroDivisionError)
        assert not transport.is_closing()
        os.write(wfd, b"cd")
        await proto.wait_for_bytes(4)
        transport.close()
        await proto.closed
        os.close(wfd)

    _run(loop, main())


def test_no_fd_leak(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        async def cycle() -> None:
            rfd, wfd = os.pipe()
            _, reader = await loop.connect_read_pipe(Recorder, _reading(rfd))
            wt, writer = await loop.connect_write_pipe(Recorder, _writing(wfd))
            wt.write(b"x" * 100)
            wt.close()
            await reader.closed
            await writer.closed

        await cycle()
        before = open_fds()
        for _ in range(50):
            await cycle()
        assert open_fds() == before

    _run(loop, main())


def test_unclosed_pipe_warns(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> int:
        rfd, wfd = os.pipe()
        transport, proto = await loop.connect_read_pipe(asyncio.Protocol, _reading(rfd))
        # While reading, the loop's registration keeps the transport alive.
        transport.pause_reading()
        del transport, proto
        return wfd

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        wfd = _run(loop, main())
        gc.collect()
    assert any(issubclass(w.category, ResourceWarning) for w in seen)
    os.close(wfd)


def test_transport_classes(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        rfd, wfd = os.pipe()
        rt, reader = await loop.connect_read_pipe(Recorder, _reading(rfd))
        wt, writer = await loop.connect_write_pipe(Recorder, _writing(wfd))
        if is_ours(loop):
            assert type(rt).__module__.startswith("layerloop_transports")
            assert type(wt).__module__.startswith("layerloop_transports")
        assert rt.get_protocol() is reader and wt.get_protocol() is writer
        wt.close()
        await reader.closed
        await writer.closed

    _run(loop, main())
