"""add_reader/add_writer/remove_reader/remove_writer refuse an fd a live transport
drives, with CPython's message; on layerloop (each backend) and on asyncio."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

from transports_helpers import Recorder


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
