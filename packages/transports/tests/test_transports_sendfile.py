"""loop.sendfile(): zero-copy on stream transports, the read-and-write fallback, the
file position and CPython's argument checks; every scenario on layerloop (each
backend) and on asyncio."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import ssl
import tempfile
from collections.abc import Iterator
from typing import IO, Any

import pytest

from reliability_helpers import make_certificate, tls_contexts
from transports_helpers import Recorder, is_ours

SIZE = 3 * 1024 * 1024 + 123
DATA = hashlib.sha256(b"sendfile").digest() * (SIZE // 32) + b"x" * (SIZE % 32)


#: Far more than loopback's socket buffers hold (several MiB each way), so that a
#: sendfile to a peer that does not read cannot finish.
BIG_SIZE = 16 * 1024 * 1024
BIG_DATA = DATA * (BIG_SIZE // SIZE) + DATA[: BIG_SIZE % SIZE]


@pytest.fixture
def data_file() -> Iterator[IO[bytes]]:
    with tempfile.TemporaryFile() as file:
        file.write(DATA)
        file.seek(0)
        yield file


@pytest.fixture
def big_file() -> Iterator[IO[bytes]]:
    with tempfile.TemporaryFile() as file:
        file.write(BIG_DATA)
        file.seek(0)
        yield file


class PausedReader(Recorder):
    """A server side that does not read until told to."""

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        transport.pause_reading()


async def _pair(
    loop: asyncio.AbstractEventLoop, server_factory: Any = Recorder
) -> tuple[Any, Any, Any, Any]:
    accepted: list[Any] = []

    def factory() -> Any:
        accepted.append(server_factory())
        return accepted[-1]

    server = await loop.create_server(factory, "127.0.0.1", 0)
    transport, client = await loop.create_connection(Recorder, *server.sockets[0].getsockname()[:2])
    while not accepted or accepted[0].transport is None:
        await asyncio.sleep(0.001)
    return server, transport, client, accepted[0]


async def _finish(server: Any, transport: Any) -> None:
    transport.close()
    server.close()
    await server.wait_closed()


def test_whole_file_between_writes(loop: asyncio.AbstractEventLoop, data_file: IO[bytes]) -> None:
    async def main() -> None:
        server, transport, _, peer = await _pair(loop)
        transport.write(b"head")
        sent = await loop.sendfile(transport, data_file)
        transport.write(b"tail")
        assert sent == SIZE
        assert data_file.tell() == SIZE
        await peer.wait_for_bytes(SIZE + 8)
        assert bytes(peer.data) == b"head" + DATA + b"tail"
        await _finish(server, transport)

    loop.run_until_complete(main())


def test_offset_and_count(loop: asyncio.AbstractEventLoop, data_file: IO[bytes]) -> None:
    async def main() -> None:
        server, transport, _, peer = await _pair(loop)
        sent = await loop.sendfile(transport, data_file, 1000, 5000)
        assert sent == 5000
        assert data_file.tell() == 6000
        # count past the end of the file: what is there is sent.
        sent = await loop.sendfile(transport, data_file, SIZE - 10, 100)
        assert sent == 10
        assert data_file.tell() == SIZE
        await peer.wait_for_bytes(5010)
        assert bytes(peer.data) == DATA[1000:6000] + DATA[-10:]
        await _finish(server, transport)

    loop.run_until_complete(main())


def test_writes_are_refused_while_sendfile_runs(
    loop: asyncio.AbstractEventLoop, big_file: IO[bytes]
) -> None:
    async def main() -> None:
        server, transport, _, peer = await _pair(loop, PausedReader)
        task = asyncio.ensure_future(loop.sendfile(transport, big_file))
        await asyncio.sleep(0.05)
        assert not task.done()  # the peer does not read: the kernel buffers are full
        with pytest.raises(RuntimeError, match=r"^unable to write; sendfile is in progress$"):
            transport.write(b"no")
        with pytest.raises(RuntimeError, match="sendfile is in progress"):
            transport.writelines([b"no"])
        peer.transport.resume_reading()
        assert await task == BIG_SIZE
        transport.write(b"yes")
        await peer.wait_for_bytes(BIG_SIZE + 3)
        assert bytes(peer.data) == BIG_DATA + b"yes"
        await _finish(server, transport)

    loop.run_until_complete(main())


def test_sendfile_waits_for_queued_writes(
    loop: asyncio.AbstractEventLoop, data_file: IO[bytes]
) -> None:
    async def main() -> None:
        server, transport, _, peer = await _pair(loop, PausedReader)
        queued = os.urandom(4 * 1024 * 1024)
        transport.write(queued)  # more than the kernel takes: most of it is queued
        assert transport.get_write_buffer_size() > 0
        task = asyncio.ensure_future(loop.sendfile(transport, data_file, 0, 100_000))
        await asyncio.sleep(0.05)
        assert not task.done()
        peer.transport.resume_reading()
        assert await task == 100_000
        await peer.wait_for_bytes(len(queued) + 100_000)
        assert bytes(peer.data) == queued + DATA[:100_000]
        await _finish(server, transport)

    loop.run_until_complete(main())


def test_cancelled_sendfile_leaves_the_position_at_what_was_sent(
    loop: asyncio.AbstractEventLoop, big_file: IO[bytes]
) -> None:
    if not is_ours(loop):
        pytest.skip(
            "asyncio leaves the file position untouched when sendfile is cancelled, "
            "although part of the file was sent (measured on 3.11-3.13); layerloop "
            "follows the documented rule"
        )

    async def main() -> None:
        server, transport, _, peer = await _pair(loop, PausedReader)
        task = asyncio.ensure_future(loop.sendfile(transport, big_file, 10))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        position = big_file.tell()
        assert 10 < position < BIG_SIZE  # part of it reached the kernel
        # The transport is usable again and the stream is consistent: the peer sees
        # exactly the bytes up to the file position, then what follows.
        transport.write(b"after")
        peer.transport.resume_reading()
        await peer.wait_for_bytes(position - 10 + 5)
        await asyncio.sleep(0.05)
        assert bytes(peer.data) == BIG_DATA[10:position] + b"after"
        await _finish(server, transport)

    loop.run_until_complete(main())


def test_fallback_for_a_file_without_descriptor(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        server, transport, _, peer = await _pair(loop, PausedReader)
        source = io.BytesIO(BIG_DATA)
        with pytest.raises(asyncio.SendfileNotAvailableError):
            await loop.sendfile(transport, source, fallback=False)
        assert source.tell() == 0
        transport.set_write_buffer_limits(high=64 * 1024)
        task = asyncio.ensure_future(loop.sendfile(transport, source, 7))
        await asyncio.sleep(0.05)
        # Flow control holds the fallback back while the peer does not read.
        assert not task.done()
        assert transport.get_write_buffer_size() < 2 * 1024 * 1024
        peer.transport.resume_reading()
        assert await task == BIG_SIZE - 7
        assert source.tell() == BIG_SIZE
        await peer.wait_for_bytes(BIG_SIZE - 7)
        assert bytes(peer.data) == BIG_DATA[7:]
        await _finish(server, transport)

    loop.run_until_complete(main())


def test_bad_arguments(loop: asyncio.AbstractEventLoop, data_file: IO[bytes]) -> None:
    async def main() -> None:
        server, transport, _, _ = await _pair(loop)
        with tempfile.TemporaryFile("w+") as text:
            cases: list[tuple[Any, dict[str, Any], type[Exception], str]] = [
                (text, {}, ValueError, "file should be opened in binary mode"),
                (data_file, {"count": 0}, ValueError, "count must be a positive integer (got 0)"),
                (
                    data_file,
                    {"count": "1"},
                    TypeError,
                    "count must be a positive integer (got '1')",
                ),
                (
                    data_file,
                    {"offset": -1},
                    ValueError,
                    "offset must be a non-negative integer (got -1)",
                ),
                (
                    data_file,
                    {"offset": 1.5},
                    TypeError,
                    "offset must be a non-negative integer (got 1.5)",
                ),
            ]
            for file, kwargs, exc_type, message in cases:
                with pytest.raises(exc_type) as caught:
                    await loop.sendfile(transport, file, **kwargs)
                assert str(caught.value) == message
        assert data_file.tell() == 0
        # A datagram transport cannot carry a file.
        dgram, _ = await loop.create_datagram_endpoint(
            asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0)
        )
        with pytest.raises(RuntimeError) as caught:
            await loop.sendfile(dgram, data_file)
        assert str(caught.value) == f"sendfile is not supported for transport {dgram!r}"
        dgram.close()
        transport.close()
        with pytest.raises(RuntimeError, match=r"^Transport is closing$"):
            await loop.sendfile(transport, data_file)
        await _finish(server, transport)

    loop.run_until_complete(main())


def test_empty_file(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        server, transport, _, peer = await _pair(loop)
        with tempfile.TemporaryFile() as empty:
            assert await loop.sendfile(transport, empty) == 0
            assert empty.tell() == 0
        transport.write(b"still fine")
        await peer.wait_for_bytes(10)
        assert bytes(peer.data) == b"still fine"
        await _finish(server, transport)

    loop.run_until_complete(main())


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    try:
        cert, key = make_certificate(tmp_path_factory.mktemp("cert"))
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    return tls_contexts(cert, key)


def test_tls_transport_takes_the_fallback(
    loop: asyncio.AbstractEventLoop,
    data_file: IO[bytes],
    tls: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    server_context, client_context = tls

    async def main() -> None:
        accepted: list[Recorder] = []

        def factory() -> Recorder:
            accepted.append(Recorder())
            return accepted[-1]

        server = await loop.create_server(factory, "127.0.0.1", 0, ssl=server_context)
        port = server.sockets[0].getsockname()[1]
        transport, _ = await loop.create_connection(
            Recorder, "127.0.0.1", port, ssl=client_context, server_hostname="localhost"
        )
        with pytest.raises(RuntimeError) as caught:
            await loop.sendfile(transport, data_file, fallback=False)
        assert str(caught.value) == (
            f"fallback is disabled and native sendfile is not supported for transport {transport!r}"
        )
        transport.write(b"<")
        assert await loop.sendfile(transport, data_file, 5, 200_000) == 200_000
        assert data_file.tell() == 200_005
        transport.write(b">")
        while not accepted:
            await asyncio.sleep(0.001)
        await accepted[0].wait_for_bytes(200_002)
        assert bytes(accepted[0].data) == b"<" + DATA[5:200_005] + b">"
        transport.close()
        server.close()
        await server.wait_closed()

    loop.run_until_complete(main())


def test_abort_during_sendfile(loop: asyncio.AbstractEventLoop, big_file: IO[bytes]) -> None:
    if not is_ours(loop):
        pytest.skip(
            "asyncio's sendfile never returns when its transport is aborted meanwhile "
            "(measured on 3.11: the socket is closed under its pending write callback)"
        )

    async def main() -> None:
        server, transport, client, peer = await _pair(loop, PausedReader)
        errors: list[dict[str, Any]] = []
        loop.set_exception_handler(lambda _loop, context: errors.append(context))
        task = asyncio.ensure_future(loop.sendfile(transport, big_file))
        await asyncio.sleep(0.05)
        transport.abort()
        with pytest.raises(ConnectionError):
            await task
        await client.closed
        assert errors == []
        assert 0 < big_file.tell() < BIG_SIZE
        peer.transport.abort()
        server.close()
        await server.wait_closed()

    loop.run_until_complete(main())


class _ClosesAfter(Recorder):
    """A server side that closes the connection once it has received 1024 bytes."""

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if len(self.data) >= 1024 and not self.transport.is_closing():
            self.transport.close()


def test_fallback_with_the_peer_closing_in_the_middle(loop: asyncio.AbstractEventLoop) -> None:
    """The read-and-write fallback (a file without descriptor) when the peer goes away
    after a few KiB: ConnectionError, the transport closing, the file position after
    what was handed to the transport (what CPython's test_sendfile_fallback_close_peer_
    in_the_middle_of_receiving checks, with the fallback forced through a private hook
    there)."""

    async def main() -> None:
        server, transport, client, peer = await _pair(loop, _ClosesAfter)
        source = io.BytesIO(BIG_DATA)
        with pytest.raises(ConnectionError):
            await loop.sendfile(transport, source)
        await peer.closed
        assert 1024 <= len(peer.data) < BIG_SIZE
        assert 1024 <= source.tell() < BIG_SIZE
        assert transport.is_closing()
        await client.closed
        await _finish(server, transport)

    loop.run_until_complete(main())
