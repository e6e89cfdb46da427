"""Servers, Unix sockets and argument checks, on layerloop (each backend) and asyncio."""

from __future__ import annotations

import asyncio
import errno
import os
import pathlib
import socket
import sys
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest

import layerloop_transports
from transports_helpers import Recorder, is_ours, open_fds

HAS_CLOSE_CLIENTS = sys.version_info >= (3, 13)  # asyncio's Server gained them in 3.13
FIXED_WAIT_CLOSED = sys.version_info >= (3, 12, 1)  # see Server.wait_closed in CPython


@pytest.fixture
def sock_dir() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="llt") as path:
        yield path


def test_server_several_clients(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        accepted: list[Recorder] = []

        def factory() -> Recorder:
            accepted.append(Recorder(echo=True))
            return accepted[-1]

        server = await loop.create_server(factory, "127.0.0.1", 0)
        assert server.is_serving()
        assert server.get_loop() is loop
        (listening,) = server.sockets
        port = listening.getsockname()[1]
        assert port != 0
        clients = [await loop.create_connection(Recorder, "127.0.0.1", port) for _ in range(10)]
        for i, (transport, _) in enumerate(clients):
            transport.write(b"client %d" % i)
        for i, (_, protocol) in enumerate(clients):
            await protocol.wait_for_bytes(len(b"client %d" % i))
            assert protocol.data == b"client %d" % i
        assert len(accepted) == 10
        peers = {p.transport.get_extra_info("peername") for p in accepted}
        assert peers == {t.get_extra_info("sockname") for t, _ in clients}
        for transport, _ in clients:
            transport.close()
        server.close()
        assert not server.is_serving()
        assert server.sockets == ()
        await server.wait_closed()
        await asyncio.gather(*(p.closed for p in accepted))
        assert all(p.lost == [None] for p in accepted)

    loop.run_until_complete(main())


def test_server_on_several_hosts_and_all_interfaces(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        server = await loop.create_server(Recorder, ["127.0.0.1", "127.0.0.1"], 0)
        assert len(server.sockets) == 1  # the same address is bound once
        server.close()
        server = await loop.create_server(Recorder, "", 0, family=socket.AF_INET)
        assert [s.getsockname()[0] for s in server.sockets] == ["0.0.0.0"]
        assert server.sockets[0].getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR)
        server.close()
        server = await loop.create_server(Recorder, None, 0, family=socket.AF_INET, reuse_port=True)
        assert server.sockets[0].getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT)
        server.close()

    loop.run_until_complete(main())


def test_keep_alive(loop: asyncio.AbstractEventLoop) -> None:
    if not is_ours(loop) and sys.version_info < (3, 13):
        pytest.skip("asyncio's create_server has keep_alive from 3.13")

    async def main() -> None:
        server = await loop.create_server(Recorder, "127.0.0.1", 0, keep_alive=True)
        assert server.sockets[0].getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE)
        server.close()

    loop.run_until_complete(main())


def test_start_serving_later(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        server = await loop.create_server(Recorder, "127.0.0.1", 0, start_serving=False)
        assert not server.is_serving()
        port = server.sockets[0].getsockname()[1]
        # Not listening yet: the connection is refused.
        with pytest.raises(ConnectionRefusedError):
            await loop.create_connection(Recorder, "127.0.0.1", port)
        await server.start_serving()
        assert server.is_serving()
        transport, _protocol = await loop.create_connection(Recorder, "127.0.0.1", port)
        transport.close()
        server.close()
        await server.wait_closed()

    loop.run_until_complete(main())


@pytest.mark.parametrize("how", ["close_clients", "abort_clients"])
def test_close_and_abort_clients(loop: asyncio.AbstractEventLoop, how: str) -> None:
    if not is_ours(loop) and not HAS_CLOSE_CLIENTS:
        pytest.skip("asyncio's Server has close_clients/abort_clients from 3.13")

    async def main() -> None:
        accepted: list[Recorder] = []

        def factory() -> Recorder:
            accepted.append(Recorder())
            return accepted[-1]

        server = await loop.create_server(factory, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        client_socks = []
        for _ in range(3):
            raw = socket.socket()
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            raw.setblocking(False)
            await loop.sock_connect(raw, ("127.0.0.1", port))
            client_socks.append(raw)
        while len(accepted) < 3:
            await asyncio.sleep(0.001)
        for protocol in accepted:
            await protocol.made
            sock = protocol.transport.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
            protocol.transport.write(b"w" * 1_000_000)
            assert protocol.transport.get_write_buffer_size() > 0  # queued: nobody reads
        server.close()
        getattr(server, how)()
        received = []
        for raw in client_socks:
            got = bytearray()
            try:
                while chunk := await loop.sock_recv(raw, 65536):
                    got += chunk
            except ConnectionResetError:
                pass
            received.append(len(got))
            raw.close()
        await server.wait_closed()
        assert [p.lost for p in accepted] == [[None]] * 3
        if how == "close_clients":
            assert received == [1_000_000] * 3  # flushed before closing
        else:
            assert max(received) < 1_000_000, received  # discarded

    loop.run_until_complete(main())


def test_serve_forever_cancelled_keeps_clients(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        accepted: list[Recorder] = []

        def factory() -> Recorder:
            accepted.append(Recorder(echo=True))
            return accepted[-1]

        server = await loop.create_server(factory, "127.0.0.1", 0, start_serving=False)
        port = server.sockets[0].getsockname()[1]
        serving = asyncio.ensure_future(server.serve_forever())
        await asyncio.sleep(0)
        assert server.is_serving()
        with pytest.raises(RuntimeError, match="already being awaited"):
            await server.serve_forever()
        transport, protocol = await loop.create_connection(Recorder, "127.0.0.1", port)
        await accepted[0].made
        serving.cancel()
        await asyncio.sleep(0.01)
        assert not server.is_serving()
        if is_ours(loop) or FIXED_WAIT_CLOSED:
            # The server closed; wait_closed (inside serve_forever) waits for the client.
            assert not serving.done()
        transport.write(b"still echoed")
        await protocol.wait_for_bytes(12)
        assert protocol.data == b"still echoed"
        transport.close()
        with pytest.raises(asyncio.CancelledError):
            await serving
        await accepted[0].closed
        assert accepted[0].lost == [None]
        with pytest.raises(RuntimeError, match="is closed"):
            await server.serve_forever()

    loop.run_until_complete(main())


def test_wait_closed_waits_for_clients(loop: asyncio.AbstractEventLoop) -> None:
    if not is_ours(loop) and not FIXED_WAIT_CLOSED:
        pytest.skip("asyncio < 3.12.1 returns from wait_closed with clients still connected")

    async def main() -> None:
        server = await loop.create_server(Recorder, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        transport, _protocol = await loop.create_connection(Recorder, "127.0.0.1", port)
        await asyncio.sleep(0.01)
        waiter = asyncio.ensure_future(server.wait_closed())
        await asyncio.sleep(0.01)
        assert not waiter.done()  # the server is still open
        server.close()
        await asyncio.sleep(0.01)
        assert not waiter.done()  # closed, but one client is still connected
        transport.close()
        await asyncio.wait_for(waiter, 5)
        await server.wait_closed()  # and from now on at once

    loop.run_until_complete(main())


# Accept failing with EMFILE (reported once, a back-off, then served again) is
# test_reliability_emfile.py: it runs out of descriptors for real in a child process with a
# lowered RLIMIT_NOFILE, so it holds on a completion backend too, where the kernel
# accepts and no Python-level accept() could be faked.


def test_server_close_leaks_no_fd(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        server = await loop.create_server(Recorder, "127.0.0.1", 0)
        server.close()
        await server.wait_closed()
        before = open_fds()
        for start in (True, False):
            server = await loop.create_server(Recorder, "127.0.0.1", 0, start_serving=start)
            server.close()
            await server.wait_closed()
        await asyncio.sleep(0)
        assert open_fds() == before

    loop.run_until_complete(main())


@pytest.mark.parametrize("kind", ["str", "bytes", "path"])
def test_unix_echo(loop: asyncio.AbstractEventLoop, sock_dir: str, kind: str) -> None:
    name = os.path.join(sock_dir, "s.sock")
    path: Any = {"str": name, "bytes": os.fsencode(name), "path": pathlib.Path(name)}[kind]

    async def main() -> None:
        server = await loop.create_unix_server(lambda: Recorder(echo=True), path)
        assert os.path.exists(name)
        transport, protocol = await loop.create_unix_connection(Recorder, path)
        transport.write(b"over unix")
        await protocol.wait_for_bytes(9)
        assert protocol.data == b"over unix"
        assert transport.get_extra_info("socket").family == socket.AF_UNIX
        transport.close()
        await protocol.closed
        server.close()
        await server.wait_closed()
        # Removed on close from 3.13 on (cleanup_socket=True by default).
        assert os.path.exists(name) is (sys.version_info < (3, 13))

    loop.run_until_complete(main())


def test_unix_cleanup_socket_false_and_stale_file(
    loop: asyncio.AbstractEventLoop, sock_dir: str
) -> None:
    if not is_ours(loop) and sys.version_info < (3, 13):
        pytest.skip("asyncio has cleanup_socket from 3.13")
    name = os.path.join(sock_dir, "s.sock")

    async def main() -> None:
        server = await loop.create_unix_server(Recorder, name, cleanup_socket=False)
        server.close()
        await server.wait_closed()
        assert os.path.exists(name)
        # A stale socket file is replaced by the next server.
        server = await loop.create_unix_server(
            lambda: Recorder(echo=True), name, cleanup_socket=True
        )
        transport, protocol = await loop.create_unix_connection(Recorder, name)
        transport.write(b"accepted?")
        await protocol.wait_for_bytes(9)  # the server side exists
        transport.close()
        await protocol.closed
        server.close()
        await server.wait_closed()
        assert not os.path.exists(name)

    loop.run_until_complete(main())


def test_unix_abstract_and_errors(loop: asyncio.AbstractEventLoop, sock_dir: str) -> None:
    async def main() -> None:
        abstract = f"\0layerloop-test-{os.getpid()}-{id(loop)}"
        server = await loop.create_unix_server(lambda: Recorder(echo=True), abstract)
        transport, protocol = await loop.create_unix_connection(Recorder, abstract)
        transport.write(b"abstract")
        await protocol.wait_for_bytes(8)
        transport.close()
        server.close()
        await server.wait_closed()
        with pytest.raises(FileNotFoundError):
            await loop.create_unix_connection(Recorder, os.path.join(sock_dir, "missing"))
        # A bound socket that is not a stale file: EADDRINUSE with the path in the message.
        holder = socket.socket(socket.AF_UNIX)
        holder.bind(abstract)
        with pytest.raises(OSError, match="is already in use") as info:
            await loop.create_unix_server(Recorder, abstract)
        assert info.value.errno == errno.EADDRINUSE
        holder.close()

    loop.run_until_complete(main())


def test_connect_accepted_socket(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        a, b = socket.socketpair()
        b.setblocking(False)
        transport, protocol = await loop.connect_accepted_socket(lambda: Recorder(echo=True), a)
        await loop.sock_sendall(b, b"hello")
        got = await loop.sock_recv(b, 100)
        assert got == b"hello"
        transport.close()
        await protocol.closed
        assert a.fileno() == -1
        b.close()

    loop.run_until_complete(main())


def _outcome(loop: asyncio.AbstractEventLoop, coro: Any) -> tuple[type, str]:
    try:
        result = loop.run_until_complete(coro)
    except Exception as exc:  # the exception type and message are the outcome
        return type(exc), str(exc)
    raise AssertionError(f"no exception: {result!r}")


def _bad_calls(
    loop: asyncio.AbstractEventLoop, stream: socket.socket, dgram: socket.socket
) -> list[Any]:
    return [
        loop.create_connection(Recorder),
        loop.create_connection(Recorder, "127.0.0.1", 1, sock=stream),
        loop.create_connection(Recorder, sock=dgram),
        loop.create_connection(Recorder, "127.0.0.1", 1, server_hostname="x"),
        loop.create_connection(Recorder, "127.0.0.1", 1, ssl_handshake_timeout=1.0),
        loop.create_connection(Recorder, port=1, ssl=True),
        loop.create_server(Recorder),
        loop.create_server(Recorder, "127.0.0.1", 0, ssl=True),
        loop.create_server(Recorder, "127.0.0.1", 0, sock=stream),
        loop.create_server(Recorder, sock=dgram),
        loop.create_server(Recorder, "127.0.0.1", 0, ssl_handshake_timeout=1.0),
        loop.create_connection(Recorder, "no-such-host.invalid", 80),
        loop.connect_accepted_socket(Recorder, dgram),
        loop.connect_accepted_socket(Recorder, stream, ssl_handshake_timeout=1.0),
        loop.create_unix_connection(Recorder),
        loop.create_unix_connection(Recorder, "/x", sock=stream),
        loop.create_unix_connection(Recorder, sock=stream),
        loop.create_unix_connection(Recorder, "/x", server_hostname="h"),
        loop.create_unix_connection(Recorder, "/x", ssl=True),
        loop.create_unix_server(Recorder),
        loop.create_unix_server(Recorder, ssl=True),
        loop.create_unix_server(Recorder, "/x", sock=stream),
        loop.create_unix_server(Recorder, sock=stream),
    ]


def test_bad_arguments_match_asyncio(loop: asyncio.AbstractEventLoop) -> None:
    """Each bad call fails with the exception type and message of asyncio's loop."""
    if not is_ours(loop):
        pytest.skip("compared against a fresh asyncio loop from the layerloop runs")
    oracle = asyncio.new_event_loop()
    stream = socket.socket()
    dgram = socket.socket(type=socket.SOCK_DGRAM)
    try:
        ours = [_outcome(loop, c) for c in _bad_calls(loop, stream, dgram)]
        theirs = [_outcome(oracle, c) for c in _bad_calls(oracle, stream, dgram)]
    finally:
        oracle.close()
        stream.close()
        dgram.close()
    assert len(ours) == len(theirs)
    for mine, expected in zip(ours, theirs, strict=True):
        assert mine[0] is expected[0], (mine, expected)
        if not issubclass(expected[0], socket.gaierror):
            # Our reprs of sockets match theirs; gaierror texts come from the resolver.
            assert mine[1] == expected[1]


def test_server_class_is_public(loop: asyncio.AbstractEventLoop) -> None:
    if not is_ours(loop):
        pytest.skip("checks layerloop's Server class")

    async def main() -> None:
        server = await loop.create_server(Recorder, "127.0.0.1", 0)
        assert isinstance(server, layerloop_transports.Server)
        assert isinstance(server, asyncio.AbstractServer)
        async with server:
            assert server.is_serving()
        assert not server.is_serving()

    loop.run_until_complete(main())


def test_server_is_an_asyncio_server_that_runs_none_of_its_code() -> None:
    # Subclassing asyncio.Server is only for typeshed and isinstance; every method
    # asyncio.Server defines must be ours, or asyncio's private machinery would run.
    Server = layerloop_transports.Server

    assert issubclass(Server, asyncio.Server)
    inherited = [
        name
        for name, value in vars(asyncio.Server).items()
        if callable(value) or isinstance(value, property)
        if name not in vars(Server) and name not in ("__init_subclass__", "__subclasshook__")
    ]
    assert inherited == []
