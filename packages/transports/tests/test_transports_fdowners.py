"""add_reader/add_writer/remove_reader/remove_writer refuse an fd a live transport
drives, with CPython's message; on layerloop (each backend) and on asyncio."""

from __future__ import annotations

import asyncio
import os
import socket
from typing import Any

import pytest

from transports_helpers import Recorder, is_ours


def _nothing() -> None:
    pass


def _refusals(loop: asyncio.AbstractEventLoop, fd: Any, transport: Any) -> None:
    expected = f"File descriptor {fd!r} is used by transport {transport!r}"
    for method, args in (
        (loop.add_reader, (fd, _nothing)),
        (loop.add_writer, (fd, _nothing)),
        (loop.remove_reader, (fd,)),
        (loop.remove_writer, (fd,)),
    ):
        with pytest.raises(RuntimeError) as caught:
            method(*args)
        assert str(caught.value) == expected


def test_stream_transport_fd_is_refused(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        server = await loop.create_server(Recorder, "127.0.0.1", 0)
        transport, client = await loop.create_connection(
            Recorder, *server.sockets[0].getsockname()[:2]
        )
        sock = transport.get_extra_info("socket")
        fd = sock.fileno()
        _refusals(loop, fd, transport)
        _refusals(loop, sock, transport)  # an object with fileno() too
        # Other fds are not affected.
        a, b = socket.socketpair()
        with a, b:
            loop.add_reader(a, _nothing)
            assert loop.remove_reader(a) is True
        # A closing transport no longer owns its fd.
        transport.close()
        assert loop.remove_reader(fd) is False
        await client.closed
        server.close()
        await server.wait_closed()

    loop.run_until_complete(main())


def test_datagram_transport_fd_is_refused(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        transport, _ = await loop.create_datagram_endpoint(
            asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0)
        )
        fd = transport.get_extra_info("socket").fileno()
        _refusals(loop, fd, transport)
        transport.abort()
        await asyncio.sleep(0)
        assert loop.remove_writer(fd) is False

    loop.run_until_complete(main())


def test_invalid_file_object(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        # With a transport open the check runs first: CPython's ValueError.
        transport, _ = await loop.create_datagram_endpoint(
            asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0)
        )
        with pytest.raises(ValueError, match="Invalid file object"):
            loop.add_reader("not a file", _nothing)
        transport.close()

    loop.run_until_complete(main())


# -- sock_* on a transport's socket --------------------------------------------------------


async def _refused_on_await(call: Any, fd: int, transport: Any) -> None:
    """*call()* makes the operation's coroutine without raising; awaiting it raises
    CPython's RuntimeError (CPython raises inside the coroutine too)."""
    coro = call()
    with pytest.raises(RuntimeError) as caught:
        await asyncio.wait_for(coro, 5)  # a missing guard would wait (or steal data)
    assert str(caught.value) == f"File descriptor {fd!r} is used by transport {transport!r}"


def test_sock_operations_on_a_stream_transport_socket(loop: asyncio.AbstractEventLoop) -> None:
    # Nothing is pending on the socket (the transport reads everything), so CPython's
    # operations have to wait, which is where CPython checks: both loops refuse.
    async def main() -> None:
        server = await loop.create_server(Recorder, "127.0.0.1", 0)
        # The socket object itself (asyncio's get_extra_info("socket") is a wrapper
        # without recv/send).
        sock = socket.create_connection(server.sockets[0].getsockname()[:2])
        sock.setblocking(False)
        transport, client = await loop.create_connection(Recorder, sock=sock)
        fd = sock.fileno()
        await _refused_on_await(lambda: loop.sock_recv(sock, 10), fd, transport)
        await _refused_on_await(lambda: loop.sock_recv_into(sock, bytearray(10)), fd, transport)
        # More than the socket buffers hold: CPython sends a part, then has to wait.
        big = bytes(64 * 1024 * 1024)
        await _refused_on_await(lambda: loop.sock_sendall(sock, big), fd, transport)
        # Another socket of the same loop is not affected.
        a, b = socket.socketpair()
        with a, b:
            a.setblocking(False)
            b.setblocking(False)
            await loop.sock_sendall(a, b"free")
            assert await loop.sock_recv(b, 10) == b"free"
        transport.abort()
        await client.closed
        server.close()
        await server.wait_closed()

    loop.run_until_complete(main())


def test_sock_operations_on_a_datagram_transport_socket(
    loop: asyncio.AbstractEventLoop,
) -> None:
    async def main() -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        sock.setblocking(False)
        transport, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, sock=sock)
        fd = sock.fileno()
        await _refused_on_await(lambda: loop.sock_recvfrom(sock, 10), fd, transport)
        await _refused_on_await(lambda: loop.sock_recvfrom_into(sock, bytearray(10)), fd, transport)
        # A send the kernel takes at once: CPython never reaches its check (it checks
        # only before waiting) and sends; layerloop checks first and refuses.
        address = sock.getsockname()
        if is_ours(loop):
            await _refused_on_await(lambda: loop.sock_sendto(sock, b"x", address), fd, transport)
        else:
            assert await loop.sock_sendto(sock, b"x", address) == 1
        transport.close()
        await asyncio.sleep(0)

    loop.run_until_complete(main())


def test_sock_operation_on_a_socket_that_is_not_one(loop: asyncio.AbstractEventLoop) -> None:
    # With a transport open the guard looks the argument up; something without
    # fileno() is left to the operation, which fails as the loop's own does.
    async def main() -> type[BaseException]:
        transport, _ = await loop.create_datagram_endpoint(
            asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0)
        )
        try:
            await loop.sock_recv(object(), 1)  # type: ignore[arg-type]
        except Exception as exc:  # the type is what is compared
            return type(exc)
        finally:
            transport.close()
            await asyncio.sleep(0)
        raise AssertionError("sock_recv(object()) did not fail")

    assert loop.run_until_complete(main()) is AttributeError


# -- pipe transports ------------------------------------------------------------------------


def test_pipe_transport_fds(loop: asyncio.AbstractEventLoop) -> None:
    # layerloop's pipe transports claim their fds as socket transports do.  CPython's do
    # not register theirs: asyncio accepts the watch, which takes the fd's events away
    # from the transport (the divergence is deliberate: packages/transports/README.md).
    async def main() -> None:
        rfd, wfd = os.pipe()
        reader, reading = await loop.connect_read_pipe(Recorder, os.fdopen(rfd, "rb", 0))
        writer, writing = await loop.connect_write_pipe(Recorder, os.fdopen(wfd, "wb", 0))
        for fd, transport in ((rfd, reader), (wfd, writer)):
            if is_ours(loop):
                _refusals(loop, fd, transport)
            else:
                loop.add_reader(fd, _nothing)
                assert loop.remove_reader(fd) is True
        a, b = socket.socketpair()
        sock_transport, _ = await loop.connect_read_pipe(Recorder, a)
        if is_ours(loop):
            await _refused_on_await(lambda: loop.sock_recv(a, 1), a.fileno(), sock_transport)
        writer.write(b"through")
        await asyncio.sleep(0.05)
        # Refused, the watches left our transports working; on asyncio the watch
        # replaced the read transport's own (and remove_reader removed it), so it reads
        # nothing any more: the breakage the refusal prevents.
        assert reading.data == (b"through" if is_ours(loop) else b"")
        # Once the backend has closed the fd the claim is gone: the same fd number,
        # reused, can be watched.
        reader.close()
        await reading.closed
        r2, w2 = os.pipe()
        if rfd not in (r2, w2):  # else the kernel gave the number back already
            os.dup2(r2, rfd)
        try:
            loop.add_reader(rfd, _nothing)
            assert loop.remove_reader(rfd) is True
        finally:
            for fd in {r2, w2, rfd}:
                os.close(fd)
        writer.close()
        await writing.closed
        sock_transport.close()
        b.close()
        await asyncio.sleep(0.01)

    loop.run_until_complete(main())
