"""add_reader/add_writer and the sock_* methods: validation, delegation, resolution."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import ssl
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest

from core_fakes import FakeBackend
from layerloop_core import EventLoop, ExecutorResolver, fileobj_to_fd


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    yield a, b
    a.close()
    b.close()


def test_fileobj_to_fd() -> None:
    assert fileobj_to_fd(5) == 5
    with socket.socket() as s:
        assert fileobj_to_fd(s) == s.fileno()
    with pytest.raises(ValueError, match=r"^Invalid file object: 'x'$"):
        fileobj_to_fd("x")
    with pytest.raises(ValueError, match=r"^Invalid file descriptor: -1$"):
        fileobj_to_fd(-1)


def test_add_reader_invalid(loop: asyncio.AbstractEventLoop) -> None:
    with pytest.raises(ValueError, match="Invalid file object"):
        loop.add_reader("x", print)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="Invalid file descriptor: -1"):
        loop.add_writer(-1, print)


def test_add_reader_fires_and_remove(
    loop: asyncio.AbstractEventLoop, pair: tuple[socket.socket, socket.socket]
) -> None:
    a, b = pair
    got: list[bytes] = []

    def on_readable(sock: socket.socket) -> None:
        got.append(sock.recv(100))
        loop.stop()

    assert loop.add_reader(b, on_readable, b) is None
    a.send(b"ping")
    loop.run_forever()
    assert got == [b"ping"]
    assert loop.remove_reader(b) is True
    assert loop.remove_reader(b) is False


def test_add_writer_fires(
    loop: asyncio.AbstractEventLoop, pair: tuple[socket.socket, socket.socket]
) -> None:
    a, _ = pair
    calls: list[int] = []

    def on_writable() -> None:
        calls.append(1)
        loop.remove_writer(a.fileno())
        loop.stop()

    loop.add_writer(a.fileno(), on_writable)
    loop.run_forever()
    assert calls == [1]
    assert loop.remove_writer(a.fileno()) is False


def test_add_reader_delegates_handle(
    ours: EventLoop, pair: tuple[socket.socket, socket.socket]
) -> None:
    backend = ours.backend
    assert isinstance(backend, FakeBackend)
    b = pair[1]
    ours.add_reader(b, print, "x")
    handle = backend.readers[b.fileno()]
    assert isinstance(handle, asyncio.Handle)
    assert handle._args == ("x",)
    ours.add_reader(b, print, "y")
    assert handle.cancelled()
    ours.close()
    assert ours.remove_reader(b) is False


def test_sock_roundtrip(
    loop: asyncio.AbstractEventLoop, pair: tuple[socket.socket, socket.socket]
) -> None:
    a, b = pair

    async def main() -> tuple[bytes, int, bytes]:
        await loop.sock_sendall(a, b"hello")
        first = await loop.sock_recv(b, 5)
        await loop.sock_sendall(a, b"world")
        buf = bytearray(10)
        n = await loop.sock_recv_into(b, buf)
        return first, n, bytes(buf[:n])

    assert loop.run_until_complete(main()) == (b"hello", 5, b"world")


def test_sock_datagram(loop: asyncio.AbstractEventLoop) -> None:
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx,
    ):
        rx.bind(("127.0.0.1", 0))
        rx.setblocking(False)
        tx.setblocking(False)

        async def main() -> tuple[Any, ...]:
            sent = await loop.sock_sendto(tx, b"dgram", rx.getsockname())
            data, addr = await loop.sock_recvfrom(rx, 100)
            await loop.sock_sendto(tx, b"again", rx.getsockname())
            buf = bytearray(100)
            n, addr2 = await loop.sock_recvfrom_into(rx, buf)
            return sent, data, addr[1] == tx.getsockname()[1], bytes(buf[:n]), addr2 == addr

        assert loop.run_until_complete(main()) == (5, b"dgram", True, b"again", True)


def test_sock_accept_and_connect(loop: asyncio.AbstractEventLoop) -> None:
    with socket.socket() as listener, socket.socket() as client:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.setblocking(False)
        client.setblocking(False)

        async def main() -> bool:
            accept = asyncio.ensure_future(loop.sock_accept(listener))
            await loop.sock_connect(client, listener.getsockname())
            conn, addr = await accept
            with conn:
                assert conn.gettimeout() == 0
                return bool(addr == client.getsockname())

        assert loop.run_until_complete(main())


def test_sock_connect_resolves_names(ours: EventLoop) -> None:
    backend = ours.backend
    assert isinstance(backend, FakeBackend)
    queries: list[tuple[Any, ...]] = []

    class Resolver(ExecutorResolver):
        async def getaddrinfo(self, host: Any, port: Any, **kw: Any) -> Any:
            queries.append((host, port, kw))
            return await super().getaddrinfo(host, port, **kw)

    loop = EventLoop(FakeBackend(), resolver=Resolver())
    try:
        with socket.socket() as listener, socket.socket() as client:
            listener.bind(("127.0.0.1", 0))
            listener.listen()
            client.setblocking(False)
            port = listener.getsockname()[1]
            loop.run_until_complete(loop.sock_connect(client, ("localhost", str(port))))
            assert queries == [
                (
                    "localhost",
                    str(port),
                    {"family": socket.AF_INET, "type": socket.SOCK_STREAM, "proto": 0, "flags": 0},
                )
            ]
            assert getattr(loop.backend, "connected_to") == ("127.0.0.1", port)  # noqa: B009
    finally:
        loop.close()


def test_sock_connect_numeric_skips_resolver() -> None:
    class Resolver(ExecutorResolver):
        async def getaddrinfo(self, host: Any, port: Any, **kw: Any) -> Any:
            raise AssertionError("numeric addresses must not be resolved")

    loop = EventLoop(FakeBackend(), resolver=Resolver())
    try:
        with socket.socket() as listener, socket.socket() as client:
            listener.bind(("127.0.0.1", 0))
            listener.listen()
            client.setblocking(False)
            host, port = listener.getsockname()
            loop.run_until_complete(loop.sock_connect(client, (host, str(port))))
            assert getattr(loop.backend, "connected_to") == ("127.0.0.1", port)  # noqa: B009
    finally:
        loop.close()


def test_sock_connect_ipv6_numeric() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    loop = EventLoop(FakeBackend())
    try:
        with socket.socket(socket.AF_INET6) as listener, socket.socket(socket.AF_INET6) as client:
            try:
                listener.bind(("::1", 0))
            except OSError:
                pytest.skip("no IPv6 loopback")
            listener.listen()
            client.setblocking(False)
            port = listener.getsockname()[1]
            loop.run_until_complete(loop.sock_connect(client, ("::1", port)))
            assert getattr(loop.backend, "connected_to") == ("::1", port, 0, 0)  # noqa: B009
    finally:
        loop.close()


def test_sock_connect_unix_not_resolved(ours: EventLoop, tmp_path: Any) -> None:
    path = str(tmp_path / "sock")
    with socket.socket(socket.AF_UNIX) as listener, socket.socket(socket.AF_UNIX) as client:
        listener.bind(path)
        listener.listen()
        client.setblocking(False)
        ours.run_until_complete(ours.sock_connect(client, path))
        assert getattr(ours.backend, "connected_to") == path  # noqa: B009


def test_ssl_socket_rejected(loop: asyncio.AbstractEventLoop) -> None:
    ctx = ssl.create_default_context()
    with socket.socket() as raw:
        sslsock = ctx.wrap_socket(raw, do_handshake_on_connect=False, server_hostname="x")
        with sslsock:
            for coro in (
                loop.sock_recv(sslsock, 1),
                loop.sock_recv_into(sslsock, bytearray(1)),
                loop.sock_recvfrom(sslsock, 1),
                loop.sock_recvfrom_into(sslsock, bytearray(1)),
                loop.sock_sendall(sslsock, b"x"),
                loop.sock_sendto(sslsock, b"x", ("127.0.0.1", 1)),
                loop.sock_connect(sslsock, ("127.0.0.1", 1)),
                loop.sock_accept(sslsock),
                loop.sock_sendfile(sslsock, open(os.devnull, "rb")),  # noqa: SIM115
            ):
                with pytest.raises(TypeError, match=r"^Socket cannot be of type SSLSocket$"):
                    loop.run_until_complete(coro)


def test_blocking_socket_rejected_in_debug(loop: asyncio.AbstractEventLoop) -> None:
    loop.set_debug(True)
    a, b = socket.socketpair()
    with a, b:
        for coro in (
            loop.sock_recv(a, 1),
            loop.sock_recv_into(a, bytearray(1)),
            loop.sock_sendall(a, b"x"),
            loop.sock_accept(a),
            loop.sock_connect(a, "x"),
        ):
            with pytest.raises(ValueError, match=r"^the socket must be non-blocking$"):
                loop.run_until_complete(coro)


# -- sock_sendfile ---------------------------------------------------------------------


@pytest.fixture
def datafile() -> Iterator[Any]:
    with tempfile.TemporaryFile() as f:
        f.write(bytes(range(256)) * 1000)
        f.seek(0)
        yield f


def _drain(loop: asyncio.AbstractEventLoop, sock: socket.socket, sent: int) -> bytes:
    async def read_all() -> bytes:
        chunks = []
        total = 0
        while total < sent:
            chunk = await loop.sock_recv(sock, 65536)
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        return b"".join(chunks)

    return loop.run_until_complete(read_all())


@pytest.mark.parametrize(("offset", "count"), [(0, None), (1000, None), (10, 5000), (0, 256000)])
def test_sock_sendfile_fallback(
    ours: EventLoop,
    pair: tuple[socket.socket, socket.socket],
    datafile: Any,
    offset: int,
    count: int | None,
) -> None:
    a, b = pair
    whole = bytes(range(256)) * 1000
    expected = whole[offset : None if count is None else offset + count]

    async def send() -> int:
        return await ours.sock_sendfile(a, datafile, offset, count)

    task = ours.create_task(send())
    received = _drain(ours, b, len(expected))
    assert ours.run_until_complete(task) == len(expected)
    assert received == expected
    assert datafile.tell() == offset + len(expected)
    backend = ours.backend
    assert isinstance(backend, FakeBackend)
    assert backend.sendfile_calls == [(offset, count)]


def test_sock_sendfile_native(
    ours: EventLoop, pair: tuple[socket.socket, socket.socket], datafile: Any
) -> None:
    backend = ours.backend
    assert isinstance(backend, FakeBackend)
    backend.native_sendfile = True
    a, b = pair
    task = ours.create_task(ours.sock_sendfile(a, datafile, 5, 100, fallback=False))
    assert _drain(ours, b, 100) == (bytes(range(256)) * 1000)[5:105]
    assert ours.run_until_complete(task) == 100


def test_sock_sendfile_no_fallback(
    ours: EventLoop, pair: tuple[socket.socket, socket.socket], datafile: Any
) -> None:
    a, _ = pair
    with pytest.raises(asyncio.SendfileNotAvailableError):
        ours.run_until_complete(ours.sock_sendfile(a, datafile, fallback=False))


def test_sock_sendfile_fallback_asyncio_oracle(
    loop: asyncio.AbstractEventLoop, pair: tuple[socket.socket, socket.socket], datafile: Any
) -> None:
    a, b = pair
    task = loop.create_task(loop.sock_sendfile(a, datafile, 100, 1000))
    assert _drain(loop, b, 1000) == (bytes(range(256)) * 1000)[100:1100]
    assert loop.run_until_complete(task) == 1000
    assert datafile.tell() == 1100


def test_sock_sendfile_param_errors(
    loop: asyncio.AbstractEventLoop, pair: tuple[socket.socket, socket.socket], datafile: Any
) -> None:
    a, _ = pair

    def check(exc: type[Exception], message: str, *args: Any, sock: Any = a) -> None:
        with pytest.raises(exc) as info:
            loop.run_until_complete(loop.sock_sendfile(sock, *args))
        assert str(info.value) == message

    with open(__file__) as text_file:
        check(ValueError, "file should be opened in binary mode", text_file)
    check(TypeError, "count must be a positive integer (got '1')", datafile, 0, "1")
    check(ValueError, "count must be a positive integer (got 0)", datafile, 0, 0)
    check(TypeError, "offset must be a non-negative integer (got '1')", datafile, "1")
    check(ValueError, "offset must be a non-negative integer (got -1)", datafile, -1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.setblocking(False)
        check(ValueError, "only SOCK_STREAM type sockets are supported", datafile, sock=udp)


# -- resolver ------------------------------------------------------------------------------


def test_getaddrinfo_matches_socket(loop: asyncio.AbstractEventLoop) -> None:
    queries: list[tuple[str | None, int | str]] = [
        ("localhost", 80),
        ("127.0.0.1", "443"),
        (None, 0),
    ]
    for host, port in queries:
        got = loop.run_until_complete(loop.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        assert got == socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)


def test_getaddrinfo_error(loop: asyncio.AbstractEventLoop) -> None:
    with pytest.raises(socket.gaierror) as info:
        loop.run_until_complete(loop.getaddrinfo("127.0.0.1", "no-such-service-xyz"))
    with pytest.raises(socket.gaierror) as expected:
        socket.getaddrinfo("127.0.0.1", "no-such-service-xyz")
    assert info.value.errno == expected.value.errno


def test_getnameinfo(loop: asyncio.AbstractEventLoop) -> None:
    got = loop.run_until_complete(
        loop.getnameinfo(("127.0.0.1", 80), socket.NI_NUMERICHOST | socket.NI_NUMERICSERV)
    )
    assert got == ("127.0.0.1", "80")


def test_getaddrinfo_debug_logging(ours: EventLoop, caplog: pytest.LogCaptureFixture) -> None:
    ours.set_debug(True)
    caplog.set_level(logging.DEBUG, logger="asyncio")
    ours.run_until_complete(ours.getaddrinfo("127.0.0.1", 80, type=socket.SOCK_STREAM))
    messages = [r.getMessage() for r in caplog.records]
    assert "Get address info 127.0.0.1:80, type=<SocketKind.SOCK_STREAM: 1>" in messages
    assert any(m.startswith("Getting address info 127.0.0.1:80, type=") for m in messages)


def test_default_resolver(ours: EventLoop) -> None:
    assert isinstance(ours.resolver, ExecutorResolver)
    other = ExecutorResolver()
    other.attach(ours)
    with contextlib.closing(EventLoop(FakeBackend())) as second, pytest.raises(RuntimeError):
        other.attach(second)


# -- methods provided by higher layers -----------------------------------------------------


@pytest.mark.parametrize(
    ("method", "package"),
    [
        ("create_connection", "layerloop-transports"),
        ("create_server", "layerloop-transports"),
        ("create_unix_connection", "layerloop-transports"),
        ("create_unix_server", "layerloop-transports"),
        ("create_datagram_endpoint", "layerloop-transports"),
        ("connect_accepted_socket", "layerloop-transports"),
        ("connect_read_pipe", "layerloop-transports"),
        ("connect_write_pipe", "layerloop-transports"),
        ("start_tls", "layerloop-transports"),
        ("sendfile", "layerloop-transports"),
        ("subprocess_exec", "layerloop-subprocess"),
        ("subprocess_shell", "layerloop-subprocess"),
    ],
)
def test_later_layers_not_implemented(ours: EventLoop, method: str, package: str) -> None:
    with pytest.raises(NotImplementedError, match=f"loop.{method}\\(\\) is provided by {package}"):
        ours.run_until_complete(getattr(ours, method)(None))
