"""The stream transport: every scenario on layerloop (each backend) and on asyncio."""

from __future__ import annotations

import asyncio
import hashlib
import socket
import struct
import sys
from typing import Any

import pytest

from layerloop_transports import _stream
from transports_helpers import (
    BufferedEcho,
    Recorder,
    errors_to,
    growth_with_idle_connections,
    is_ours,
    open_fds,
)


async def _echo_server(loop: asyncio.AbstractEventLoop, factory: Any) -> tuple[Any, int]:
    server = await loop.create_server(factory, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


def test_echo_protocol(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        server, port = await _echo_server(loop, lambda: Recorder(echo=True))
        transport, client = await loop.create_connection(Recorder, "127.0.0.1", port)
        assert isinstance(transport, asyncio.Transport)
        assert client.events == ["made"]  # connection_made ran before the await returned
        payload = bytes(range(256)) * 4096  # 1 MiB, several reads
        transport.write(payload[:1000])
        transport.writelines([payload[1000:5000], memoryview(payload[5000:])])
        await client.wait_for_bytes(len(payload))
        assert bytes(client.data) == payload
        transport.close()
        await client.closed
        assert client.lost == [None]
        server.close()
        await server.wait_closed()

    loop.run_until_complete(main())


def test_echo_buffered_protocol(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        protocols: list[BufferedEcho] = []

        def factory() -> BufferedEcho:
            protocols.append(BufferedEcho(1000))
            return protocols[-1]

        server, port = await _echo_server(loop, factory)
        transport, client = await loop.create_connection(Recorder, "127.0.0.1", port)
        payload = hashlib.sha256(b"seed").digest() * 10_000
        transport.write(payload)
        await client.wait_for_bytes(len(payload))
        assert bytes(client.data) == payload
        (echo,) = protocols
        # Every read landed in the protocol's own 1000-byte buffer.
        assert max(echo.sizes) <= 1000
        assert sum(echo.sizes) == len(payload)
        assert set(echo.hints) == {-1}
        transport.write_eof()  # the echo returns False from eof_received: it closes
        await client.closed
        assert await echo.closed is None
        server.close()
        await server.wait_closed()

    loop.run_until_complete(main())


def test_asyncio_streams(loop: asyncio.AbstractEventLoop) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while line := await reader.readline():
            writer.write(line.upper())
            await writer.drain()
        writer.close()
        await writer.wait_closed()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for i in range(100):
            writer.write(b"line %d\n" % i)
            await writer.drain()
            assert await reader.readline() == b"LINE %d\n" % i
        writer.write_eof()
        assert await reader.read() == b""
        writer.close()
        await writer.wait_closed()
        async with server:
            pass
        assert not server.is_serving()

    loop.run_until_complete(main())


def test_extra_info_and_nodelay(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        server, port = await _echo_server(loop, Recorder)
        transport, _ = await loop.create_connection(Recorder, "127.0.0.1", port)
        sock = transport.get_extra_info("socket")
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        assert transport.get_extra_info("peername") == ("127.0.0.1", port)
        assert transport.get_extra_info("sockname") == sock.getsockname()
        assert transport.get_extra_info("nonexistent", "dflt") == "dflt"
        assert transport.can_write_eof()
        assert transport.is_reading()
        transport.pause_reading()
        assert not transport.is_reading()
        transport.resume_reading()
        assert transport.is_reading()
        transport.close()
        assert transport.is_closing()
        assert not transport.is_reading()
        server.close()

    loop.run_until_complete(main())


async def _silent_pair(
    loop: asyncio.AbstractEventLoop,
) -> tuple[socket.socket, socket.socket, Any, Recorder]:
    """A transport on one end of a socket pair whose other end is a plain socket that
    reads only when the test says so (small kernel buffers, so writes queue)."""
    ours, peer = socket.socketpair()
    for s in (ours, peer):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    peer.setblocking(False)
    transport, protocol = await loop.connect_accepted_socket(Recorder, ours)
    return ours, peer, transport, protocol


async def _drain_peer(loop: asyncio.AbstractEventLoop, peer: socket.socket) -> bytes:
    got = bytearray()
    while chunk := await loop.sock_recv(peer, 65536):
        got += chunk
    return bytes(got)


def test_close_flushes_a_full_buffer(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        _, peer, transport, protocol = await _silent_pair(loop)
        payload = hashlib.sha512(b"x").digest() * 50_000  # 3.2 MB, far beyond the kernel's
        transport.write(payload)
        assert transport.get_write_buffer_size() > 0
        assert protocol.events == ["made", "pause"]
        transport.close()
        assert transport.is_closing()
        transport.close()  # idempotent
        await asyncio.sleep(0.01)
        assert protocol.lost == []  # not lost before the buffer drains
        got = await _drain_peer(loop, peer)
        assert hashlib.sha256(got).digest() == hashlib.sha256(payload).digest()
        await protocol.closed
        assert protocol.lost == [None]
        assert protocol.events[-1] == "lost"
        assert transport.get_write_buffer_size() == 0
        peer.close()

    loop.run_until_complete(main())


def test_abort_discards_the_buffer(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        ours, peer, transport, protocol = await _silent_pair(loop)
        payload = b"a" * 2_000_000
        transport.write(payload)
        assert transport.get_write_buffer_size() > 0
        transport.abort()
        assert transport.is_closing()
        assert transport.get_write_buffer_size() == 0
        transport.abort()
        transport.close()
        transport.write(b"ignored after abort")
        await protocol.closed
        await asyncio.sleep(0)
        assert protocol.lost == [None]  # once, with None
        assert ours.fileno() == -1  # the socket is closed
        try:
            got = await _drain_peer(loop, peer)
        except ConnectionResetError:
            got = b""
        assert len(got) < len(payload)
        assert set(got) <= {ord("a")}
        peer.close()

    loop.run_until_complete(main())


class SlowReaderWriter(Recorder):
    """Writes chunks while not paused; records the largest write buffer seen."""

    def __init__(self) -> None:
        super().__init__()
        self.paused = False
        self.resumed = asyncio.get_running_loop().create_future()
        self.max_buffer = 0

    def pause_writing(self) -> None:
        super().pause_writing()
        self.paused = True

    def resume_writing(self) -> None:
        super().resume_writing()
        self.paused = False
        if not self.resumed.done():
            self.resumed.set_result(None)


def test_pause_resume_writing_bounds_memory(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        ours, peer = socket.socketpair()
        peer.setblocking(False)
        transport, protocol = await loop.connect_accepted_socket(SlowReaderWriter, ours)
        assert transport.get_write_buffer_limits() == (16 * 1024, 64 * 1024)
        transport.set_write_buffer_limits(high=32 * 1024)
        assert transport.get_write_buffer_limits() == (8 * 1024, 32 * 1024)
        chunk = b"z" * 10_000
        total = 20_000_000
        sent = 0
        received = 0

        async def slow_reader() -> int:
            count = 0
            while True:
                data = await loop.sock_recv(peer, 16384)
                if not data:
                    return count
                count += len(data)
                await asyncio.sleep(0)

        reader = asyncio.ensure_future(slow_reader())
        while sent < total:
            if protocol.paused:
                protocol.resumed = loop.create_future()
                await protocol.resumed
                assert transport.get_write_buffer_size() <= 8 * 1024
                continue
            transport.write(chunk)
            sent += len(chunk)
            protocol.max_buffer = max(protocol.max_buffer, transport.get_write_buffer_size())
        transport.close()
        received = await reader
        assert received == total
        assert protocol.events.count("pause") == protocol.events.count("resume") >= 1
        # Bounded: never more than one chunk beyond the high-water mark.
        assert protocol.max_buffer <= 32 * 1024 + len(chunk)
        await protocol.closed
        peer.close()

    loop.run_until_complete(main())


def test_write_buffer_limits_validation(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        ours, peer = socket.socketpair()
        transport, _ = await loop.connect_accepted_socket(Recorder, ours)
        transport.set_write_buffer_limits(low=1000)
        assert transport.get_write_buffer_limits() == (1000, 4000)
        with pytest.raises(ValueError, match="must be >= low"):
            transport.set_write_buffer_limits(high=10, low=20)
        with pytest.raises(ValueError):
            transport.set_write_buffer_limits(high=-1)
        with pytest.raises(TypeError, match="bytes-like object, not 'str'"):
            transport.write("text")
        transport.write_eof()
        with pytest.raises(RuntimeError, match="after write_eof"):
            transport.write(b"late")
        with pytest.raises(RuntimeError, match="after write_eof"):
            transport.writelines([b"late"])
        transport.close()
        peer.close()

    loop.run_until_complete(main())


@pytest.mark.parametrize("keep_open", [True, False])
def test_eof_received_half_close(loop: asyncio.AbstractEventLoop, keep_open: bool) -> None:
    async def main() -> None:
        ours, peer = socket.socketpair()
        peer.setblocking(False)
        transport, protocol = await loop.connect_accepted_socket(
            lambda: Recorder(keep_open_on_eof=keep_open), ours
        )
        await loop.sock_sendall(peer, b"request")
        peer.shutdown(socket.SHUT_WR)
        await protocol.got_eof
        assert bytes(protocol.data) == b"request"
        if keep_open:
            # Half-open: still writable, and closing is the protocol's decision.
            await asyncio.sleep(0.01)
            assert not transport.is_closing()
            assert protocol.lost == []
            transport.write(b"reply")
            transport.close()
        else:
            assert transport.is_closing()
        await protocol.closed
        assert protocol.events == ["made", "eof", "lost"]
        got = await _drain_peer(loop, peer)
        assert got == (b"reply" if keep_open else b"")
        peer.close()

    loop.run_until_complete(main())


def test_write_eof_after_queued_data(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        _, peer, transport, protocol = await _silent_pair(loop)
        payload = b"q" * 1_000_000
        transport.write(payload)
        transport.write_eof()
        got = await _drain_peer(loop, peer)  # EOF arrives only after every byte
        assert got == payload
        await loop.sock_sendall(peer, b"still readable")
        await protocol.wait_for_bytes(14)
        assert bytes(protocol.data) == b"still readable"
        transport.close()
        await protocol.closed
        peer.close()

    loop.run_until_complete(main())


def test_pause_reading_holds_data(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        ours, peer = socket.socketpair()
        peer.setblocking(False)
        transport, protocol = await loop.connect_accepted_socket(Recorder, ours)
        transport.pause_reading()
        await loop.sock_sendall(peer, b"held")
        await asyncio.sleep(0.02)
        assert protocol.data == b""
        transport.resume_reading()
        await protocol.wait_for_bytes(4)
        assert protocol.data == b"held"
        transport.close()
        await protocol.closed
        peer.close()

    loop.run_until_complete(main())


class PausesInConnectionMade(Recorder):
    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        transport.pause_reading()


def test_pause_reading_in_connection_made(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        ours, peer = socket.socketpair()
        peer.setblocking(False)
        peer.sendall(b"early")
        transport, protocol = await loop.connect_accepted_socket(PausesInConnectionMade, ours)
        await asyncio.sleep(0.02)
        assert protocol.data == b""
        transport.resume_reading()
        await protocol.wait_for_bytes(5)
        transport.close()
        await protocol.closed
        peer.close()

    loop.run_until_complete(main())


def test_peer_reset_reports_connection_lost(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        seen = errors_to(loop)
        raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        raw.bind(("127.0.0.1", 0))
        raw.listen(1)
        raw.setblocking(False)
        t2, p2 = await loop.create_connection(Recorder, *raw.getsockname())
        conn, _ = await loop.sock_accept(raw)
        # SO_LINGER with a zero timeout: close() sends RST instead of FIN.
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()
        await p2.closed
        assert len(p2.lost) == 1
        assert isinstance(p2.lost[0], ConnectionResetError)
        assert t2.is_closing()
        assert seen == []  # an OSError is not reported to the exception handler
        raw.close()

    loop.run_until_complete(main())


class FailsInDataReceived(Recorder):
    def data_received(self, data: bytes) -> None:
        raise ZeroDivisionError("boom")


class FailsInGetBuffer(BufferedEcho):
    def get_buffer(self, sizehint: int) -> bytearray:
        raise ZeroDivisionError("no buffer")


class EmptyBuffer(BufferedEcho):
    def get_buffer(self, sizehint: int) -> bytearray:
        return bytearray()


@pytest.mark.parametrize(
    ("factory", "message", "exc_type"),
    [
        (
            FailsInDataReceived,
            "Fatal error: protocol.data_received() call failed.",
            ZeroDivisionError,
        ),
        (FailsInGetBuffer, "Fatal error: protocol.get_buffer() call failed.", ZeroDivisionError),
        (EmptyBuffer, "Fatal error: protocol.get_buffer() call failed.", RuntimeError),
    ],
)
def test_protocol_errors_are_fatal(
    loop: asyncio.AbstractEventLoop, factory: Any, message: str, exc_type: type
) -> None:
    async def main() -> None:
        seen = errors_to(loop)
        ours, peer = socket.socketpair()
        peer.setblocking(False)
        transport, protocol = await loop.connect_accepted_socket(factory, ours)
        await loop.sock_sendall(peer, b"data")
        await protocol.closed
        assert [c["message"] for c in seen] == [message]
        assert type(seen[0]["exception"]) is exc_type
        assert seen[0]["transport"] is transport
        assert seen[0]["protocol"] is protocol
        assert transport.is_closing()
        peer.close()

    loop.run_until_complete(main())


def test_connect_close_cycles_leak_no_fd(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        server, port = await _echo_server(loop, lambda: Recorder(echo=True))
        # Warm up (lazy resources of the loop and the resolver), then count.
        for _ in range(5):
            transport, protocol = await loop.create_connection(Recorder, "127.0.0.1", port)
            transport.close()
            await protocol.closed
        before = open_fds()
        for _ in range(1000):
            transport, protocol = await loop.create_connection(Recorder, "127.0.0.1", port)
            transport.write(b"x")
            transport.close()
            await protocol.closed
        await asyncio.sleep(0.05)  # the server side closes on EOF
        assert open_fds() <= before
        server.close()
        await server.wait_closed()

    loop.run_until_complete(main())


def test_connection_refused(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()  # nothing listens there now
        before = open_fds()
        with pytest.raises(ConnectionRefusedError):
            await loop.create_connection(Recorder, "127.0.0.1", port)
        if is_ours(loop) or sys.version_info >= (3, 12):  # asyncio has all_errors from 3.12
            with pytest.raises(ExceptionGroup) as group:
                await loop.create_connection(Recorder, "127.0.0.1", port, all_errors=True)
            assert group.value.message == "create_connection failed"
            assert [type(e) for e in group.value.exceptions] == [ConnectionRefusedError]
        assert open_fds() == before

    loop.run_until_complete(main())


def test_transport_is_ours(loop: asyncio.AbstractEventLoop) -> None:
    """Guard: the layerloop parametrisations really use layerloop's transport."""

    async def main() -> None:
        ours, peer = socket.socketpair()
        transport, _ = await loop.connect_accepted_socket(Recorder, ours)
        name = type(transport).__module__
        assert name.startswith("layerloop_transports" if is_ours(loop) else "asyncio")
        transport.close()
        await asyncio.sleep(0)
        peer.close()

    loop.run_until_complete(main())


# -- writelines ---------------------------------------------------------------------------


async def _transport_to_raw_peer(loop: asyncio.AbstractEventLoop) -> tuple[Any, Any, socket.socket]:
    """A client transport whose peer is a plain socket read only when the test says so
    (small kernel buffers on both sides, so that megabytes stay queued)."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.setblocking(False)
    with listener:
        accepting = loop.create_task(loop.sock_accept(listener))
        transport, protocol = await loop.create_connection(Recorder, *listener.getsockname())
        peer, _ = await accepting
    transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
    peer.setblocking(False)
    return transport, protocol, peer


async def _read_to_eof(loop: asyncio.AbstractEventLoop, peer: socket.socket) -> bytes:
    got = bytearray()
    while chunk := await loop.sock_recv(peer, 262144):
        got += chunk
    return bytes(got)


class _StreamSpy:
    """Stands between our transport and its backend stream, recording what each
    ``write`` is handed."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.writes: list[Any] = []

    def write(self, data: Any, done: Any) -> None:
        self.writes.append(list(data) if isinstance(data, list) else data)
        self.stream.write(data, done)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


def test_writelines_large_items_are_queued_without_joining(
    loop: asyncio.AbstractEventLoop,
) -> None:
    """Megabytes through writelines: every byte arrives in order after what was
    written before and before what is written after; mutable items are copied when
    queued (the caller reuses them at once); bytes items are handed to the backend
    as they are, several per vectored write; flow control sees the queued bytes."""

    async def main() -> None:
        transport, protocol, peer = await _transport_to_raw_peer(loop)
        spy = None
        if is_ours(loop):
            spy = transport._stream = _StreamSpy(transport._stream)
        head = b"head" * 1000
        big = bytes(range(256)) * 4096  # 1 MiB
        mutable = bytearray(b"m" * 300_000)
        mutable_view = memoryview(bytearray(b"v" * 200_000))
        tail = b"t" * 500_000
        transport.write(b"<")
        transport.writelines([head, big, mutable, mutable_view, b"", tail])
        expected = b"<" + head + big + b"m" * 300_000 + b"v" * 200_000 + tail
        if is_ours(loop) or sys.version_info < (3, 12):
            # asyncio 3.12+ queues views of the caller's objects (no copy): reusing
            # them changes what it sends.  asyncio 3.11 joins, layerloop copies.
            mutable[:] = b"X" * len(mutable)
            mutable_view[:] = b"Y" * len(mutable_view)
        assert transport.get_write_buffer_size() > 1_000_000
        if is_ours(loop) or sys.version_info < (3, 12):
            # asyncio 3.12/3.13's writelines does not call pause_writing.
            assert "pause" in protocol.events
        transport.write(b">")
        expected += b">"
        transport.close()
        got = await _read_to_eof(loop, peer)
        peer.close()
        await protocol.closed
        assert len(got) == len(expected)
        assert hashlib.sha256(got).digest() == hashlib.sha256(expected).digest()
        assert transport.get_write_buffer_size() == 0
        if spy is not None:
            handed = [view for write in spy.writes if isinstance(write, list) for view in write]
            # The 1 MiB bytes object itself went to the backend (no join, no copy)...
            assert any(view.obj is big for view in handed)
            # ...with a later item in the same vectored write...
            assert any(
                isinstance(write, list) and len(write) > 1 and write[0].obj is big
                for write in spy.writes
            ) or any(view.obj is tail for view in handed)
            # ...and the mutable items never did (copies did).
            assert not any(view.obj is mutable for view in handed)
            assert not any(view.obj is mutable_view.obj for view in handed)

    loop.run_until_complete(main())


def test_writelines_small_items_bad_items_and_order(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        transport, protocol, peer = await _transport_to_raw_peer(loop)
        reused = bytearray(b"abc")
        transport.writelines([b"1", reused, memoryview(b"23"), b""])
        reused[:] = b"XYZ"  # small: sent at once or copied
        transport.writelines(iter([b"4", b"5"]))  # any iterable
        transport.writelines([])
        with pytest.raises(TypeError) as caught:
            transport.writelines([b"ok", "not bytes"])
        if sys.version_info >= (3, 12):
            assert str(caught.value) == "memoryview: a bytes-like object is required, not 'str'"
        else:
            assert str(caught.value) == "sequence item 1: expected a bytes-like object, str found"
        transport.write(b"6")
        transport.close()
        got = await _read_to_eof(loop, peer)
        peer.close()
        await protocol.closed
        assert got == b"1abc23456"  # nothing of the refused call was sent

    loop.run_until_complete(main())


def _writable_anonymous_memory() -> int:
    """The bytes of the process's writable anonymous mappings and heap, touched or not.

    Read buffers are anonymous mappings: ``tracemalloc`` does not see them, and their
    untouched pages are not resident.  (``VmSize`` would also count the 64 MiB that glibc
    reserves, inaccessible, for a new thread's malloc arena.)"""
    total = 0
    with open("/proc/self/maps") as maps:
        for line in maps:
            fields = line.split()
            if fields[1].startswith("rw") and (len(fields) < 6 or fields[5] == "[heap]"):
                start, end = (int(bound, 16) for bound in fields[0].split("-"))
                total += end - start
    return total


@pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads the mappings in Linux's /proc/self/maps"
)
def test_connections_between_reads_hold_no_read_buffer(loop: asyncio.AbstractEventLoop) -> None:
    """A ``Protocol`` connection that has read and waits for more holds no 256 KiB read
    buffer of its own: a readiness backend reads small messages straight into bytes
    objects (as asyncio's per-read ``recv`` allocation is gone once the bytes are
    delivered); on a completion backend, where each waiting connection has a receive in
    flight, the buffer lent to it is a small one (16 KiB) while reads are small."""
    connections = 100  # both ends are transports: 200 that have read something
    held = loop.run_until_complete(
        growth_with_idle_connections(loop, connections, _writable_anonymous_memory)
    )
    # A buffer per transport would be 200 x 256 KiB = 50 MiB.
    assert held < 10 * 1024 * 1024, f"{held / 2**20:.1f} MiB held by {connections} connections"


def test_bulk_reads_are_not_held_to_the_small_buffer(loop: asyncio.AbstractEventLoop) -> None:
    """Once a read fills its buffer, the next reads get room for much more: a megabyte
    waiting in the kernel arrives in chunks larger than 16 KiB, on every backend (on a
    completion backend the first read after a small one lends a 16 KiB buffer)."""
    payload = bytes(range(256)) * 4096  # 1 MiB

    async def main() -> list[int]:
        transport, protocol, peer = await _transport_to_raw_peer(loop)
        sizes: list[int] = []
        record = protocol.data_received

        def data_received(data: bytes) -> None:
            sizes.append(len(data))
            record(data)

        protocol.data_received = data_received
        # Small reads first, so that a completion backend is lending small buffers.
        for _ in range(3):
            await loop.sock_sendall(peer, b"x" * 100)
            await protocol.wait_for_bytes(len(protocol.data) + 100)
        sizes.clear()
        peer.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 * 1024 * 1024)
        transport.get_extra_info("socket").setsockopt(
            socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024
        )
        await loop.sock_sendall(peer, payload)
        await protocol.wait_for_bytes(300 + len(payload))
        assert bytes(protocol.data[300:]) == payload
        transport.close()
        peer.close()
        await protocol.closed
        return sizes

    sizes = loop.run_until_complete(main())
    assert sum(sizes) == len(payload)
    assert max(sizes) > 16 * 1024, sizes


class _ScribblingFreeList(list[memoryview]):
    """A read-buffer free list whose buffers are overwritten the moment they are given
    back, as a read by a loop in another thread (which may take one at any bytecode)
    would overwrite them."""

    def append(self, view: memoryview) -> None:
        view[:] = b"\xff" * view.nbytes
        super().append(view)


def test_read_bytes_are_copied_out_before_the_buffer_is_given_back(
    request: pytest.FixtureRequest, loop: asyncio.AbstractEventLoop, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not is_ours(loop):
        pytest.skip("layerloop's read-buffer free list (asyncio's recv allocates per read)")
    monkeypatch.setattr(_stream, "_free_read_buffers", _ScribblingFreeList())
    monkeypatch.setattr(_stream, "_free_small_read_buffers", _ScribblingFreeList())
    payload = bytes(range(251)) * 400  # ~100 KB: several reads

    async def main() -> bytes:
        server, port = await _echo_server(loop, lambda: Recorder(echo=True))
        transport, client = await loop.create_connection(Recorder, "127.0.0.1", port)
        transport.write(payload)
        await client.wait_for_bytes(len(payload))
        transport.close()
        await client.closed
        server.close()
        await server.wait_closed()
        return bytes(client.data)

    assert loop.run_until_complete(main()) == payload
