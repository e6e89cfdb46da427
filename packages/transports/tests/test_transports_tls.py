"""TLS over the stream transports: every scenario on layerloop (each backend) and on
asyncio (the oracle).  Certificates are made at test time with ``trustme``."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import re
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import trustme

from layerloop_selector import available_backends, new_backend
from layerloop_transports import _tls
from transports_helpers import (
    Recorder,
    TransportsLoop,
    errors_to,
    is_ours,
    reads_bytes_by_completion,
    small_round_trips_then_close,
)


class Certs:
    """A CA, a certificate for ``localhost``/127.0.0.1 it signed, and contexts."""

    def __init__(self) -> None:
        self.ca = trustme.CA()
        self.cert = self.ca.issue_cert("localhost", "127.0.0.1")

    def server(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.cert.configure_cert(context)
        return context

    def client(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        self.ca.configure_trust(context)
        return context


@pytest.fixture(scope="module")
def certs() -> Iterator[Certs]:
    yield Certs()


async def _tls_server(
    loop: asyncio.AbstractEventLoop, factory: Any, context: ssl.SSLContext
) -> tuple[Any, int]:
    server = await loop.create_server(factory, "127.0.0.1", 0, ssl=context)
    return server, server.sockets[0].getsockname()[1]


class BufferedSink(asyncio.BufferedProtocol):
    """Receives into its own small buffer and keeps what arrived."""

    def __init__(self, size: int, kind: str = "memoryview") -> None:
        self.buffer = bytearray(size)
        self.lent: bytearray | memoryview = (
            memoryview(self.buffer) if kind == "memoryview" else self.buffer
        )
        self.data = bytearray()
        self.sizes: list[int] = []
        self.transport: Any = None
        self.closed = asyncio.get_running_loop().create_future()
        self.enough: asyncio.Future[None] | None = None
        self.want = 0

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def get_buffer(self, sizehint: int) -> bytearray | memoryview:
        return self.lent

    def buffer_updated(self, nbytes: int) -> None:
        self.sizes.append(nbytes)
        self.data += self.buffer[:nbytes]
        if self.enough is not None and len(self.data) >= self.want and not self.enough.done():
            self.enough.set_result(None)

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: BaseException | None) -> None:
        if not self.closed.done():
            self.closed.set_result(exc)

    async def wait_for_bytes(self, count: int) -> None:
        if len(self.data) < count:
            self.want = count
            self.enough = asyncio.get_running_loop().create_future()
            await self.enough


def test_echo_and_extra_info(loop: asyncio.AbstractEventLoop, certs: Certs) -> None:
    async def main() -> None:
        server_context = certs.server()
        client_context = certs.client()
        server, port = await _tls_server(loop, lambda: Recorder(echo=True), server_context)
        transport, client = await loop.create_connection(
            Recorder, "127.0.0.1", port, ssl=client_context, server_hostname="localhost"
        )
        assert isinstance(transport, asyncio.Transport)
        assert client.events == ["made"]  # after the handshake, before the await returned
        payload = os.urandom(1 << 20)
        transport.write(payload[:1000])
        transport.writelines([payload[1000:5000], memoryview(payload[5000:])])
        await client.wait_for_bytes(len(payload))
        assert bytes(client.data) == payload
        # TLS details, then what the lower transport knows.
        assert transport.get_extra_info("sslcontext") is client_context
        ssl_object = transport.get_extra_info("ssl_object")
        assert isinstance(ssl_object, ssl.SSLObject)
        assert ssl_object.server_hostname == "localhost"
        peercert = transport.get_extra_info("peercert")
        assert ("DNS", "localhost") in peercert["subjectAltName"]
        cipher = transport.get_extra_info("cipher")
        assert cipher == ssl_object.cipher() and cipher[1].startswith("TLS")
        assert transport.get_extra_info("compression") is None
        assert transport.get_extra_info("peername") == ("127.0.0.1", port)
        sock = transport.get_extra_info("socket")
        assert sock.getpeername() == ("127.0.0.1", port)
        assert transport.get_extra_info("sockname") == sock.getsockname()
        assert transport.get_extra_info("no-such-key", "dflt") == "dflt"
        assert not transport.can_write_eof()
        with pytest.raises(NotImplementedError):
            transport.write_eof()
        with pytest.raises(TypeError, match="expecting a bytes-like instance, got str"):
            transport.write("text")  # type: ignore[arg-type]
        transport.close()
        assert transport.is_closing()
        await client.closed
        assert client.lost == [None]
        server.close()
        await server.wait_closed()

    loop.run_until_complete(main())


def test_small_records_reach_the_tls_layer_as_they_were_read(
    loop: asyncio.AbstractEventLoop, certs: Certs, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The TLS layer reads the ciphertext into its buffer where the backend lends it
    (readiness backends); where the backend reads bytes (io_uring's multishot
    receives) it takes them as they are, not copied into its buffer first."""
    if not is_ours(loop):
        pytest.skip("layerloop's transports")
    reads_bytes = reads_bytes_by_completion(loop)
    calls = {"buffer_updated": 0, "data_received": 0}
    buffer_updated = _tls.TLSLayer.buffer_updated
    data_received = _tls.TLSLayer.data_received

    def spy_updated(self: _tls.TLSLayer, nbytes: int) -> None:
        calls["buffer_updated"] += 1
        buffer_updated(self, nbytes)

    def spy_received(self: _tls.TLSLayer, data: bytes | memoryview) -> None:
        calls["data_received"] += isinstance(data, bytes)
        data_received(self, data)

    monkeypatch.setattr(_tls.TLSLayer, "buffer_updated", spy_updated)
    monkeypatch.setattr(_tls.TLSLayer, "data_received", spy_received)

    async def main() -> None:
        server, port = await _tls_server(loop, lambda: Recorder(echo=True), certs.server())
        transport, client = await loop.create_connection(
            Recorder, "127.0.0.1", port, ssl=certs.client(), server_hostname="localhost"
        )
        calls.update(buffer_updated=0, data_received=0)  # the handshake is over
        await small_round_trips_then_close(transport, client, server)

    loop.run_until_complete(main())
    if reads_bytes:
        assert calls["buffer_updated"] == 0
        assert calls["data_received"] >= 40  # both sides, a record each way per message
    else:
        assert calls["buffer_updated"] >= 40
        assert calls["data_received"] == 0


@pytest.mark.parametrize("kind", ["memoryview", "bytearray"])
def test_buffered_protocol_reads_into_its_buffer(
    loop: asyncio.AbstractEventLoop, certs: Certs, kind: str
) -> None:
    if kind == "bytearray" and not is_ours(loop):
        pytest.skip(
            "asyncio's SSL transport loses data when get_buffer() returns a bytearray: "
            "it decrypts into buf[offset:], a copy"
        )

    async def main() -> None:
        server, port = await _tls_server(loop, lambda: Recorder(echo=True), certs.server())
        sinks: list[BufferedSink] = []

        def factory() -> BufferedSink:
            sinks.append(BufferedSink(1000, kind))
            return sinks[-1]

        transport, _ = await loop.create_connection(
            factory, "127.0.0.1", port, ssl=certs.client(), server_hostname="localhost"
        )
        (sink,) = sinks
        payload = hashlib.sha256(b"seed").digest() * 20_000  # 640 KB
        transport.write(payload)
        await sink.wait_for_bytes(len(payload))
        assert bytes(sink.data) == payload
        assert max(sink.sizes) <= 1000
        assert sum(sink.sizes) == len(payload)
        transport.close()
        assert await sink.closed is None
        server.close()
        await server.wait_closed()

    loop.run_until_complete(main())


class _StartTLSServer(asyncio.Protocol):
    """Plain text until ``STARTTLS\\n``, then TLS: echoes, upper-cased."""

    def __init__(self, loop: asyncio.AbstractEventLoop, context: ssl.SSLContext) -> None:
        self.loop = loop
        self.context = context
        self.transport: Any = None
        self.plain = bytearray()
        self.upgraded: asyncio.Future[Any] = loop.create_future()
        self.lost = loop.create_future()

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.upgraded.done():
            self.transport.write(data.upper())
            return
        self.plain += data
        if self.plain.endswith(b"STARTTLS\n"):
            self.transport.write(b"GO\n")
            self.loop.create_task(self._upgrade())

    async def _upgrade(self) -> None:
        try:
            self.transport = await self.loop.start_tls(
                self.transport, self, self.context, server_side=True
            )
        except Exception as exc:
            self.upgraded.set_exception(exc)
        else:
            self.upgraded.set_result(self.transport)

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: BaseException | None) -> None:
        if not self.lost.done():
            self.lost.set_result(exc)


@pytest.mark.parametrize("client_kind", ["protocol", "buffered"])
def test_start_tls_both_sides(
    loop: asyncio.AbstractEventLoop, certs: Certs, client_kind: str
) -> None:
    async def main() -> None:
        servers: list[_StartTLSServer] = []

        def factory() -> _StartTLSServer:
            servers.append(_StartTLSServer(loop, certs.server()))
            return servers[-1]

        server = await loop.create_server(factory, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        plain, client = await loop.create_connection(Recorder, "127.0.0.1", port)
        plain.write(b"hello in clear\nSTARTTLS\n")
        await client.wait_for_bytes(3)
        assert bytes(client.data) == b"GO\n"
        new_protocol: Any = client if client_kind == "protocol" else BufferedSink(333)
        sink: Any = new_protocol
        tls = await loop.start_tls(plain, new_protocol, certs.client(), server_hostname="localhost")
        assert tls is not None and tls is not plain
        assert tls.get_protocol() is new_protocol
        assert isinstance(tls.get_extra_info("ssl_object"), ssl.SSLObject)
        assert plain.get_extra_info("ssl_object") is None
        (srv,) = servers
        server_tls = await srv.upgraded
        assert isinstance(server_tls.get_extra_info("ssl_object"), ssl.SSLObject)
        assert bytes(srv.plain) == b"hello in clear\nSTARTTLS\n"
        # connection_made is not called again by start_tls.
        assert client.events == ["made"]
        payload = b"secret words " * 50_000
        tls.write(payload)
        if client_kind == "protocol":
            await client.wait_for_bytes(3 + len(payload))
            assert bytes(client.data[3:]) == payload.upper()
        else:
            await sink.wait_for_bytes(len(payload))
            assert bytes(sink.data) == payload.upper()
            assert max(sink.sizes) <= 333
        tls.close()
        assert await srv.lost is None
        server.close()
        await server.wait_closed()

    loop.run_until_complete(main())


def test_tls_over_tls(loop: asyncio.AbstractEventLoop, certs: Certs) -> None:
    """start_tls over a TLS transport on both sides: the inner layers' plaintext passes
    through the outer layers, and both ends' inner layers (two ``Protocol`` s in one
    thread) deliver their own data."""

    async def main() -> None:
        servers: list[_StartTLSServer] = []

        def factory() -> _StartTLSServer:
            servers.append(_StartTLSServer(loop, certs.server()))
            return servers[-1]

        server, port = await _tls_server(loop, factory, certs.server())
        outer, client = await loop.create_connection(
            Recorder, "127.0.0.1", port, ssl=certs.client(), server_hostname="localhost"
        )
        outer.write(b"STARTTLS\n")
        await client.wait_for_bytes(3)
        inner = await loop.start_tls(outer, client, certs.client(), server_hostname="localhost")
        assert inner is not None
        outer_object = outer.get_extra_info("ssl_object")
        inner_object = inner.get_extra_info("ssl_object")
        assert isinstance(inner_object, ssl.SSLObject) and inner_object is not outer_object
        (srv,) = servers
        await srv.upgraded
        payload = os.urandom(3 << 20)
        inner.write(payload)
        await client.wait_for_bytes(3 + len(payload))
        assert bytes(client.data) == b"GO\n" + payload.upper()
        inner.close()
        assert await srv.lost is None
        await client.closed
        assert client.lost == [None]
        server.close()
        await server.wait_closed()

    loop.run_until_complete(main())


def test_bad_certificate_reaches_the_caller(loop: asyncio.AbstractEventLoop, certs: Certs) -> None:
    async def main() -> None:
        errors_to(loop)  # the server side's failed handshakes must not fail the test
        server, port = await _tls_server(loop, Recorder, certs.server())
        made: list[Recorder] = []

        def factory() -> Recorder:
            made.append(Recorder())
            return made[-1]

        # A CA we do not trust.
        untrusting = ssl.create_default_context()
        with pytest.raises(ssl.SSLCertVerificationError) as info:
            await loop.create_connection(
                factory, "127.0.0.1", port, ssl=untrusting, server_hostname="localhost"
            )
        assert info.value.verify_code == 20  # X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY
        # A trusted certificate for another name.
        with pytest.raises(ssl.SSLCertVerificationError, match="Hostname mismatch"):
            await loop.create_connection(
                factory, "127.0.0.1", port, ssl=certs.client(), server_hostname="example.org"
            )
        # The protocols never saw a connection.
        assert [p.events for p in made] == [[], []]
        # start_tls gets the same error.
        plain, _ = await loop.create_connection(Recorder, "127.0.0.1", port)
        with pytest.raises(ssl.SSLCertVerificationError):
            await loop.start_tls(plain, Recorder(), untrusting, server_hostname="localhost")
        server.close()
        await server.wait_closed()

    loop.run_until_complete(main())


class _Silent(asyncio.Protocol):
    def __init__(self) -> None:
        self.lost = asyncio.get_running_loop().create_future()

    def connection_lost(self, exc: BaseException | None) -> None:
        self.lost.set_result(exc)


def test_handshake_timeout(loop: asyncio.AbstractEventLoop, certs: Certs) -> None:
    async def main() -> None:
        seen = errors_to(loop)
        peers: list[_Silent] = []

        def factory() -> _Silent:
            peers.append(_Silent())
            return peers[-1]

        server = await loop.create_server(factory, "127.0.0.1", 0)  # never answers
        port = server.sockets[0].getsockname()[1]
        start = time.monotonic()
        with pytest.raises(
            ConnectionAbortedError,
            match=r"^SSL handshake is taking longer than 0\.3 seconds: aborting the connection$",
        ):
            await loop.create_connection(
                Recorder,
                "127.0.0.1",
                port,
                ssl=certs.client(),
                server_hostname="localhost",
                ssl_handshake_timeout=0.3,
            )
        assert 0.25 < time.monotonic() - start < 5
        # The connection was dropped, and nothing went to the exception handler.
        (peer,) = peers
        await asyncio.wait_for(peer.lost, 5)
        assert seen == []
        server.close()
        await server.wait_closed()

    loop.run_until_complete(main())


class _Counting(asyncio.Protocol):
    """Counts and hashes what it receives; sees eof and loss."""

    def __init__(self) -> None:
        self.count = 0
        self.digest = hashlib.sha256()
        self.events: list[str] = []
        self.transport: Any = None
        loop = asyncio.get_running_loop()
        self.lost: asyncio.Future[BaseException | None] = loop.create_future()
        self.made: asyncio.Future[None] = loop.create_future()

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.made.set_result(None)

    def data_received(self, data: bytes) -> None:
        self.count += len(data)
        self.digest.update(data)

    def eof_received(self) -> bool:
        self.events.append("eof")
        return False

    def connection_lost(self, exc: BaseException | None) -> None:
        self.events.append("lost")
        self.lost.set_result(exc)


def test_close_flushes_then_sends_close_notify(
    loop: asyncio.AbstractEventLoop, certs: Certs
) -> None:
    async def main() -> None:
        receivers: list[_Counting] = []

        def factory() -> _Counting:
            receivers.append(_Counting())
            return receivers[-1]

        server, port = await _tls_server(loop, factory, certs.server())
        transport, client = await loop.create_connection(
            Recorder, "127.0.0.1", port, ssl=certs.client(), server_hostname="localhost"
        )
        payload = os.urandom(8 << 20)
        for offset in range(0, len(payload), 1 << 20):
            transport.write(payload[offset : offset + (1 << 20)])
        assert transport.get_write_buffer_size() > 0  # not all taken yet
        transport.close()
        transport.write(b"dropped")  # after close: ignored
        assert await asyncio.wait_for(client.closed, 30) is None
        (receiver,) = receivers
        assert await asyncio.wait_for(receiver.lost, 30) is None
        assert receiver.count == len(payload)
        assert receiver.digest.digest() == hashlib.sha256(payload).digest()
        # close_notify arrived: the server's protocol saw end of stream first.
        assert receiver.events == ["eof", "lost"]
        server.close()
        await server.wait_closed()

    loop.run_until_complete(main())


def test_abort_discards(loop: asyncio.AbstractEventLoop, certs: Certs) -> None:
    async def main() -> None:
        receivers: list[_Counting] = []

        def factory() -> _Counting:
            receivers.append(_Counting())
            return receivers[-1]

        server, port = await _tls_server(loop, factory, certs.server())
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        sock.connect(("127.0.0.1", port))
        transport, client = await loop.create_connection(
            Recorder, sock=sock, ssl=certs.client(), server_hostname="localhost"
        )
        total = 16 << 20
        for _ in range(16):
            transport.write(b"\0" * (1 << 20))
        # The lower transport paused the TLS layer: it holds ciphertext itself.
        assert transport.get_write_buffer_size() > 0
        transport.abort()
        assert transport.is_closing()
        assert await asyncio.wait_for(client.closed, 10) is None
        assert client.lost == [None]
        (receiver,) = receivers
        await asyncio.wait_for(receiver.lost, 10)
        assert receiver.count < total  # the buffered rest was discarded
        assert "eof" not in receiver.events or receiver.count < total
        server.close()
        await server.wait_closed()

    loop.run_until_complete(main())


class _FlowWriter(Recorder):
    def __init__(self) -> None:
        super().__init__()
        self.paused_at: list[int] = []
        self.resumed_at: list[int] = []
        self.resumed = asyncio.get_running_loop().create_future()

    def pause_writing(self) -> None:
        super().pause_writing()
        self.paused_at.append(self.transport.get_write_buffer_size())

    def resume_writing(self) -> None:
        super().resume_writing()
        self.resumed_at.append(self.transport.get_write_buffer_size())
        if not self.resumed.done():
            self.resumed.set_result(None)


def test_write_flow_control(loop: asyncio.AbstractEventLoop, certs: Certs) -> None:
    async def main() -> None:
        receivers: list[_Counting] = []

        def factory() -> _Counting:
            receivers.append(_Counting())
            return receivers[-1]

        server, port = await _tls_server(loop, factory, certs.server())
        transport, client = await loop.create_connection(
            _FlowWriter, "127.0.0.1", port, ssl=certs.client(), server_hostname="localhost"
        )
        assert transport.get_write_buffer_limits() == (128 * 1024, 512 * 1024)
        with pytest.raises(ValueError, match=r"high \(1\) must be >= low \(2\) must be >= 0"):
            transport.set_write_buffer_limits(high=1, low=2)
        transport.set_write_buffer_limits(high=64 * 1024)
        assert transport.get_write_buffer_limits() == (16 * 1024, 64 * 1024)
        (receiver,) = receivers
        await receiver.made  # its handshake may finish after ours
        receiver.transport.pause_reading()  # the peer stops reading
        chunk = b"z" * 65536
        written = 0
        while not client.paused_at and written < 256 << 20:
            transport.write(chunk)
            written += len(chunk)
            await asyncio.sleep(0)
        assert client.paused_at, "pause_writing never came"
        assert client.paused_at[0] >= 64 * 1024
        # Memory stays bounded: what the TLS layer holds is about what was written
        # since the peer's buffers filled, not everything.
        assert transport.get_write_buffer_size() <= 64 * 1024 + len(chunk) + 4096
        receiver.transport.resume_reading()
        await asyncio.wait_for(client.resumed, 30)
        assert client.resumed_at[0] <= 16 * 1024
        assert client.events.count("pause") == client.events.count("resume") == 1
        transport.close()
        await asyncio.wait_for(receiver.lost, 30)
        assert receiver.count == written
        server.close()
        await server.wait_closed()

    loop.run_until_complete(main())


def test_zero_high_water_never_leaves_an_empty_buffer_paused(
    loop: asyncio.AbstractEventLoop, certs: Certs
) -> None:
    """With ``set_write_buffer_limits(high=0)`` a TLS stream's ``drain()`` returns once
    the bytes are handed to the socket, while the peer keeps the connection open: the
    protocol is never left paused with nothing buffered (layerloop once paused it on
    the first write and never resumed it, so ``drain()`` hung)."""
    if not is_ours(loop):
        pytest.skip(
            "asyncio's TLS transport pauses and resumes on alternate checks with high=0 "
            "and can be left paused with an empty buffer: its third drain() hangs on "
            "3.11-3.13 (python/cpython#102792)"
        )

    big = 64 * 1024 * 1024  # more than the kernel buffers of both sockets hold

    async def main() -> None:
        peer_done = loop.create_future()
        peer_reads = loop.create_future()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readexactly(15)
            await peer_reads
            await reader.readexactly(big)
            await peer_done
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=certs.server())
        port = server.sockets[0].getsockname()[1]
        _reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=certs.client(), server_hostname="localhost"
        )
        writer.transport.set_write_buffer_limits(high=0)
        for word in (b"hello", b"again", b"third"):
            writer.write(word)
            await asyncio.wait_for(writer.drain(), 5)
        assert writer.transport.get_write_buffer_size() == 0
        # The peer does not read: the socket transport below ends up holding the
        # first megabytes and pauses the TLS layer, whose own buffer then fills, and
        # drain() waits until the peer has read them all.
        writer.write(b"w" * (big - 1024 * 1024))
        writer.write(b"w" * (1024 * 1024))
        draining = asyncio.ensure_future(writer.drain())
        await asyncio.sleep(0.2)
        assert not draining.done()
        assert writer.transport.get_write_buffer_size() > 0
        peer_reads.set_result(None)
        await asyncio.wait_for(draining, 10)
        assert writer.transport.get_write_buffer_size() == 0
        peer_done.set_result(None)
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()

    loop.run_until_complete(main())


def test_read_flow_control(loop: asyncio.AbstractEventLoop, certs: Certs) -> None:
    async def main() -> None:
        server, port = await _tls_server(loop, lambda: Recorder(echo=True), certs.server())
        transport, client = await loop.create_connection(
            Recorder, "127.0.0.1", port, ssl=certs.client(), server_hostname="localhost"
        )
        transport.write(b"first")
        await client.wait_for_bytes(5)
        assert transport.is_reading()
        transport.pause_reading()
        assert not transport.is_reading()
        transport.write(b"second")
        await asyncio.sleep(0.2)
        assert bytes(client.data) == b"first"  # nothing delivered while paused
        transport.resume_reading()
        assert transport.is_reading()
        await asyncio.wait_for(client.wait_for_bytes(11), 10)
        assert bytes(client.data) == b"firstsecond"
        transport.close()
        await client.closed
        server.close()
        await server.wait_closed()

    loop.run_until_complete(main())


class _Chunks(Recorder):
    """Keeps each ``data_received`` payload apart."""

    def __init__(self) -> None:
        super().__init__()
        self.chunks: list[bytes] = []

    def data_received(self, data: bytes) -> None:
        self.chunks.append(data)
        super().data_received(data)


def _send_records_at_once(port: int, context: ssl.SSLContext, records: list[bytes]) -> None:
    """A blocking TLS client that encrypts *records* (one TLS record each) and sends
    their ciphertext in one ``sendall``, then waits for the server's ``close_notify``."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = context.wrap_bio(incoming, outgoing, server_hostname="localhost")
        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                sock.sendall(outgoing.read())
                received = sock.recv(65536)
                assert received, "the server closed during the handshake"
                incoming.write(received)
        sock.sendall(outgoing.read())
        for record in records:
            tls.write(record)
        sock.sendall(outgoing.read())
        sock.settimeout(30)
        while received := sock.recv(65536):
            incoming.write(received)
            try:
                if not tls.read():
                    return  # close_notify
            except ssl.SSLWantReadError:
                pass


def test_records_received_together_are_one_delivery(
    loop: asyncio.AbstractEventLoop, certs: Certs
) -> None:
    """Every complete record in the incoming data is decrypted before the application
    hears of it: one ``data_received`` with all of them, in order."""

    async def main() -> None:
        receivers: list[_Chunks] = []

        def factory() -> _Chunks:
            receivers.append(_Chunks())
            return receivers[-1]

        server, port = await _tls_server(loop, factory, certs.server())
        records = [b"%02d" % index * 50 for index in range(20)]
        client = loop.run_in_executor(None, _send_records_at_once, port, certs.client(), records)
        while not receivers:
            await asyncio.sleep(0.01)
        (receiver,) = receivers
        expected = b"".join(records)
        await asyncio.wait_for(receiver.wait_for_bytes(len(expected)), 30)
        assert receiver.chunks == [expected]
        receiver.transport.close()
        await asyncio.wait_for(client, 30)
        server.close()
        await server.wait_closed()

    loop.run_until_complete(main())


def test_peer_close_notify_and_plain_eof(loop: asyncio.AbstractEventLoop, certs: Certs) -> None:
    async def main() -> None:
        peers: list[Recorder] = []

        def factory() -> Recorder:
            peers.append(Recorder())
            return peers[-1]

        server, port = await _tls_server(loop, factory, certs.server())
        for how in ("close_notify", "tcp_eof"):
            transport, client = await loop.create_connection(
                _Counting, "127.0.0.1", port, ssl=certs.client(), server_hostname="localhost"
            )
            await peers[-1].made
            peer = peers[-1].transport
            peer.write(b"last words")
            if how == "close_notify":
                peer.close()
            else:
                # End of the TCP stream with no close_notify.
                peer.get_extra_info("socket").shutdown(socket.SHUT_WR)
            assert await asyncio.wait_for(client.lost, 10) is None
            # Data first, then end of stream, then the loss.
            assert client.count == len(b"last words")
            assert client.events == ["eof", "lost"], how
            assert transport.is_closing()
            peer.close()
        server.close()
        await server.wait_closed()

    loop.run_until_complete(main())


def test_unix_tls_and_connect_accepted_socket(
    loop: asyncio.AbstractEventLoop, certs: Certs, tmp_path: Any
) -> None:
    async def main() -> None:
        path = str(tmp_path / "tls.sock")
        server = await loop.create_unix_server(
            lambda: Recorder(echo=True), path, ssl=certs.server()
        )
        transport, client = await loop.create_unix_connection(
            Recorder, path, ssl=certs.client(), server_hostname="localhost"
        )
        transport.write(b"over unix")
        await client.wait_for_bytes(9)
        assert bytes(client.data) == b"over unix"
        assert transport.get_extra_info("peername") == path
        transport.close()
        await client.closed
        server.close()
        await server.wait_closed()

        # connect_accepted_socket(ssl=) is the server side of a socket pair.
        left, right = socket.socketpair()
        accepted = loop.create_task(
            loop.connect_accepted_socket(lambda: Recorder(echo=True), left, ssl=certs.server())
        )
        client_transport, client2 = await loop.create_unix_connection(
            Recorder, sock=right, ssl=certs.client(), server_hostname="localhost"
        )
        server_transport, _ = await accepted
        assert server_transport.get_extra_info("ssl_object").server_side
        client_transport.write(b"pair")
        await client2.wait_for_bytes(4)
        assert bytes(client2.data) == b"pair"
        client_transport.close()
        await client2.closed

    loop.run_until_complete(main())


def _outcome(loop: asyncio.AbstractEventLoop, coro: Any) -> tuple[type, str]:
    try:
        result = loop.run_until_complete(coro)
    except Exception as exc:  # the exception type and message are the outcome
        return type(exc), str(exc)
    raise AssertionError(f"no exception: {result!r}")


def _bad_tls_calls(loop: asyncio.AbstractEventLoop, port: int, sock: socket.socket) -> list[Any]:
    context = ssl.create_default_context()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    return [
        loop.create_connection(Recorder, "127.0.0.1", port, server_hostname="h"),
        loop.create_connection(Recorder, sock=sock, ssl=context),
        loop.create_connection(Recorder, "127.0.0.1", port, ssl_shutdown_timeout=1.0),
        loop.create_connection(
            Recorder, "127.0.0.1", port, ssl=context, server_hostname="", ssl_handshake_timeout=0
        ),
        loop.create_connection(
            Recorder, "127.0.0.1", port, ssl=context, server_hostname="", ssl_shutdown_timeout=-1
        ),
        loop.create_server(Recorder, "127.0.0.1", 0, ssl=False),
        loop.create_server(Recorder, "127.0.0.1", 0, ssl_shutdown_timeout=1.0),
        loop.create_unix_connection(Recorder, "/x", ssl=context),
        loop.create_unix_connection(Recorder, "/x", ssl_shutdown_timeout=1.0),
        loop.create_unix_server(Recorder, "/x", ssl=True),
        loop.create_unix_server(Recorder, "/x", ssl_handshake_timeout=1.0),
        loop.connect_accepted_socket(Recorder, sock, ssl_shutdown_timeout=1.0),
        loop.start_tls(None, None, None),  # type: ignore[arg-type]
        loop.start_tls(None, None, context),  # type: ignore[arg-type]
        loop.start_tls(None, None, server_context),  # type: ignore[arg-type]
    ]


def test_bad_tls_arguments_match_asyncio(loop: asyncio.AbstractEventLoop) -> None:
    """Each bad call fails with the exception type and message of asyncio's loop."""
    if not is_ours(loop):
        pytest.skip("compared against a fresh asyncio loop from the layerloop runs")
    oracle = asyncio.new_event_loop()
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    sock = socket.socket()
    try:
        ours = [_outcome(loop, c) for c in _bad_tls_calls(loop, port, sock)]
        theirs = [_outcome(oracle, c) for c in _bad_tls_calls(oracle, port, sock)]
    finally:
        oracle.close()
        sock.close()
        listener.close()
    assert ours == theirs


def test_ssl_true_uses_a_verifying_default_context(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        # A self-signed certificate the system store does not know: ssl=True verifies.
        own = trustme.CA()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        own.issue_cert("localhost").configure_cert(context)
        errors_to(loop)
        server, port = await _tls_server(loop, Recorder, context)
        with pytest.raises(ssl.SSLCertVerificationError):
            await loop.create_connection(Recorder, "localhost", port, ssl=True)
        server.close()
        await server.wait_closed()

    loop.run_until_complete(main())


# -- renegotiation (TLS 1.2) ---------------------------------------------------------
#
# Python's ssl module cannot start a renegotiation, so the peer is OpenSSL's command line:
# ``s_server``'s ``r`` command sends a HelloRequest, ``s_client``'s ``R`` sends a new
# ClientHello.  With ``-state`` both print every handshake step, which is how the tests
# see what the peer did.

_OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(_OPENSSL is None, reason="the openssl command is not installed")


class _OpenSSLPeer:
    """``openssl s_server``/``s_client`` in a child process; a thread collects its
    output so that the loop under test keeps running while we wait for a line."""

    def __init__(self, *args: str) -> None:
        assert _OPENSSL is not None
        self.process = subprocess.Popen(
            [_OPENSSL, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self.output = bytearray()
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._collect, daemon=True)
        self._reader.start()

    def _collect(self) -> None:
        stdout = self.process.stdout
        assert isinstance(stdout, io.BufferedReader)  # a pipe, read as it fills
        while chunk := stdout.read1(65536):
            with self._lock:
                self.output += chunk

    def text(self) -> str:
        with self._lock:
            return self.output.decode(errors="replace")

    def send(self, line: bytes) -> None:
        stdin = self.process.stdin
        assert stdin is not None
        stdin.write(line)
        stdin.flush()

    async def wait_for(self, pattern: str, timeout: float = 10.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while (found := re.search(pattern, self.text())) is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"openssl never printed {pattern!r}:\n{self.text()}")
            await asyncio.sleep(0.02)
        return found

    def close(self) -> None:
        self.process.kill()
        self.process.wait()
        self._reader.join()
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                pipe.close()


async def _renegotiation_by_server(
    loop: asyncio.AbstractEventLoop, certs: Certs, client_context: ssl.SSLContext
) -> tuple[_OpenSSLPeer, asyncio.Transport, Recorder]:
    """A TLS 1.2 connection to ``s_server`` that then asks the client to renegotiate;
    returns once the server's renegotiation call has returned."""
    with certs.cert.private_key_and_cert_chain_pem.tempfile() as pem:
        peer = _OpenSSLPeer("s_server", "-accept", "127.0.0.1:0", "-cert", pem, "-tls1_2", "-state")
        try:
            port = int((await peer.wait_for(r"ACCEPT 127\.0\.0\.1:(\d+)")).group(1))
            transport, client = await loop.create_connection(
                Recorder, "127.0.0.1", port, ssl=client_context, server_hostname="localhost"
            )
            assert transport.get_extra_info("ssl_object").version() == "TLSv1.2"
            transport.write(b"before\n")
            await peer.wait_for("before\n")
            peer.send(b"r\n")  # SSL_renegotiate + SSL_do_handshake: a HelloRequest
            await peer.wait_for(r"SSL_do_handshake -> ")
        except BaseException:
            peer.close()
            raise
    return peer, transport, client


@needs_openssl
def test_renegotiation_requested_by_the_server_is_followed(
    loop: asyncio.AbstractEventLoop, certs: Certs
) -> None:
    """A TLS 1.2 server's HelloRequest: the client renegotiates inside the connection
    (as asyncio's SSLProtocol does) and data flows both ways afterwards."""

    async def main() -> None:
        errors = errors_to(loop)
        peer, transport, client = await _renegotiation_by_server(loop, certs, certs.client())
        try:
            await peer.wait_for("SSL_do_handshake -> 1")
            # The server read a second ClientHello and a second Finished: the
            # renegotiation completed, with our client's part sent by the TLS layer.
            text = peer.text()
            assert text.count("read client hello") == 2, text
            assert text.count("read finished") == 2, text
            transport.write(b"after\n")
            await peer.wait_for("after\n")
            peer.send(b"from the server\n")
            await client.wait_for_bytes(len(b"from the server\n"))
            assert bytes(client.data) == b"from the server\n"
            assert not transport.is_closing() and client.lost == []
            transport.close()
            await client.closed
            assert client.lost == [None]
            assert errors == []
        finally:
            peer.close()

    loop.run_until_complete(main())


@needs_openssl
def test_renegotiation_refused_by_the_client_context(
    loop: asyncio.AbstractEventLoop, certs: Certs
) -> None:
    """With ``OP_NO_RENEGOTIATION`` the client answers a HelloRequest with a
    ``no_renegotiation`` alert; OpenSSL's server then ends the connection with a fatal
    alert, which the application receives as an ``ssl.SSLError`` in
    ``connection_lost`` (an ``OSError``: nothing goes to the exception handler)."""

    async def main() -> None:
        errors = errors_to(loop)
        context = certs.client()
        context.options |= ssl.OP_NO_RENEGOTIATION
        peer, transport, client = await _renegotiation_by_server(loop, certs, context)
        try:
            await peer.wait_for("alert read:warning:no renegotiation")
            await asyncio.wait_for(client.closed, 10)
            assert client.events == ["made", "lost"]
            (exc,) = client.lost
            assert isinstance(exc, ssl.SSLError)
            assert "HANDSHAKE_FAILURE" in str(exc)
            assert transport.is_closing()
            assert errors == []
        finally:
            peer.close()

    loop.run_until_complete(main())


@needs_openssl
@pytest.mark.skipif(
    ssl.OPENSSL_VERSION_INFO < (3,),
    reason="OpenSSL before 3.0 accepts client-initiated renegotiation by default",
)
def test_client_initiated_renegotiation_is_refused(
    loop: asyncio.AbstractEventLoop, certs: Certs
) -> None:
    """A TLS 1.2 client's renegotiation: OpenSSL 3 servers refuse it (no
    ``OP_ALLOW_CLIENT_RENEGOTIATION``) with a ``no_renegotiation`` alert, the client
    gives up with a fatal alert, that connection is lost with an ``ssl.SSLError``, and
    the server goes on serving."""

    async def main() -> None:
        errors = errors_to(loop)
        server_context = certs.server()
        server_context.maximum_version = ssl.TLSVersion.TLSv1_2
        accepted: list[Recorder] = []

        def factory() -> Recorder:
            accepted.append(Recorder(echo=True))
            return accepted[-1]

        server, port = await _tls_server(loop, factory, server_context)
        with certs.ca.cert_pem.tempfile() as ca_pem:
            peer = _OpenSSLPeer(
                "s_client", "-connect", f"127.0.0.1:{port}", "-CAfile", ca_pem, "-tls1_2", "-state"
            )
            try:
                peer.send(b"ping\n")
                await peer.wait_for("ping\n")  # our echo came back
                peer.send(b"R\n")
                await peer.wait_for("RENEGOTIATING")
                await peer.wait_for("alert read:warning:no renegotiation")
                (first,) = accepted
                await asyncio.wait_for(first.closed, 10)
                (exc,) = first.lost
                assert isinstance(exc, ssl.SSLError)
                assert "HANDSHAKE_FAILURE" in str(exc)
                assert peer.process.wait(10) != 0
            finally:
                peer.close()
        # The listener is unaffected: a new client is served.
        transport, client = await loop.create_connection(
            Recorder, "127.0.0.1", port, ssl=certs.client(), server_hostname="localhost"
        )
        transport.write(b"still serving")
        await client.wait_for_bytes(len(b"still serving"))
        assert bytes(client.data) == b"still serving"
        transport.close()
        await client.closed
        server.close()
        await server.wait_closed()
        assert errors == []

    loop.run_until_complete(main())


# -- the 1 GiB stream ----------------------------------------------------------------


class _HashingEchoClient(asyncio.Protocol):
    """Sends *total* bytes of a deterministic stream, honouring pause_writing, and
    hashes what the echo server returns."""

    def __init__(self, total: int) -> None:
        loop = asyncio.get_running_loop()
        self.total = total
        self.sent = 0
        self.received = 0
        self.sent_digest = hashlib.sha256()
        self.received_digest = hashlib.sha256()
        self.paused = False
        self.done = loop.create_future()
        self.transport: Any = None
        block = hashlib.sha256(b"block").digest() * 8192  # 256 KiB
        self.blocks = [block, block[::-1]]

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self._send()

    def _send(self) -> None:
        while not self.paused and self.sent < self.total:
            block = self.blocks[(self.sent >> 18) & 1][: self.total - self.sent]
            self.sent_digest.update(block)
            self.sent += len(block)
            self.transport.write(block)

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        self._send()

    def data_received(self, data: bytes) -> None:
        self.received += len(data)
        self.received_digest.update(data)
        if self.received >= self.total and not self.done.done():
            self.done.set_result(None)

    def connection_lost(self, exc: BaseException | None) -> None:
        if not self.done.done():
            self.done.set_exception(exc or ConnectionError("lost early"))


class _EchoWithBackpressure(asyncio.Protocol):
    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)

    def pause_writing(self) -> None:
        self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.transport.resume_reading()


def test_one_gib_through_tls_echo(certs: Certs) -> None:
    """1 GiB through a TLS echo server on layerloop (first backend), hash-checked, with
    both sides' flow control engaged."""
    total = 1 << 30
    loop = TransportsLoop(new_backend(available_backends()[0]))

    async def main() -> None:
        server, port = await _tls_server(loop, _EchoWithBackpressure, certs.server())
        transport, client = await loop.create_connection(
            lambda: _HashingEchoClient(total),
            "127.0.0.1",
            port,
            ssl=certs.client(),
            server_hostname="localhost",
        )
        await asyncio.wait_for(client.done, 600)
        assert client.received == client.sent == total
        assert client.received_digest.digest() == client.sent_digest.digest()
        transport.close()
        server.close()
        await server.wait_closed()

    try:
        loop.run_until_complete(main())
    finally:
        loop.close()
