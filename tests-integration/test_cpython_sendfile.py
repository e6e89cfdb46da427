"""CPython's ``test_sendfile.SockSendfileMixin`` (the ``loop.sock_sendfile`` tests) on
layerloop, once per selector backend.

``SockSendfileMixin.prepare_socksendfile`` receives with ``loop.create_server`` and a
protocol, which needs the transports of a later issue.  It is rebound to the same
receiver built from ``sock_accept``/``sock_recv`` on our loop: a listening socket on the
same port, the receive buffer reduced the same way, and an object with the ``data``
attribute and ``wait_closed()`` coroutine the tests read.  The tests and their
assertions are CPython's, unchanged.  ``SendfileMixin`` (``loop.sendfile`` on a
transport) is not bound: it needs transports.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from test.support import socket_helper

import _harness


class _SockReceiver:
    """What the tests read from ``MyProto``: the bytes received until EOF."""

    def __init__(self, loop: asyncio.AbstractEventLoop, listener: socket.socket) -> None:
        self.data = bytearray()
        self.transport = None  # the mixin's cleanup closes a transport if one exists
        self._task = loop.create_task(self._serve(loop, listener))

    async def _serve(self, loop: asyncio.AbstractEventLoop, listener: socket.socket) -> None:
        conn, _ = await loop.sock_accept(listener)
        with conn:
            while chunk := await loop.sock_recv(conn, 65536):
                self.data.extend(chunk)

    async def wait_closed(self) -> None:
        await self._task


def _prepare_socksendfile(self: Any) -> tuple[socket.socket, _SockReceiver]:
    port = socket_helper.find_unused_port()
    srv_sock = self.make_socket(cleanup=False)
    srv_sock.bind((socket_helper.HOST, port))
    srv_sock.listen(1)
    self.reduce_receive_buffer_size(srv_sock)  # inherited by the accepted socket
    receiver = _SockReceiver(self.loop, srv_sock)

    sock = self.make_socket()
    self.run_loop(self.loop.sock_connect(sock, ("127.0.0.1", port)))
    self.reduce_send_buffer_size(sock)

    def cleanup() -> None:
        if not receiver._task.done():
            receiver._task.cancel()
            self.run_loop(asyncio.wait([receiver._task]))
        srv_sock.close()

    self.addCleanup(cleanup)
    return sock, receiver


_harness.bind_mixin(
    globals(),
    "test_sendfile",
    "SockSendfileMixin",
    prefix="SockSendfileTests",
    attrs={"prepare_socksendfile": _prepare_socksendfile},
)
