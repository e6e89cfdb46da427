"""Fakes for layerloop-policy's tests."""

from __future__ import annotations

import asyncio
import contextlib
import selectors
import socket
from typing import Any

from layerloop_core.abc import Address, BackendKind, Enqueue


class SleepBackend:
    """The smallest IOBackend a scheduler can run on: it sleeps and wakes up, no I/O.

    layerloop-policy depends on layerloop-core only, so its tests cannot use a real
    backend; nothing here needs one beyond waiting for timers and wakeups.
    """

    name = "sleep"
    kind: BackendKind = "readiness"

    def __init__(self) -> None:
        self.selector = selectors.DefaultSelector()
        self.rsock, self.wsock = socket.socketpair()
        self.rsock.setblocking(False)
        self.wsock.setblocking(False)
        self.selector.register(self.rsock, selectors.EVENT_READ)
        self.closed = False

    def attach(self, loop: asyncio.AbstractEventLoop, enqueue: Enqueue) -> None:
        self.loop = loop

    def poll(self, timeout: float | None) -> None:
        if self.selector.select(timeout):
            try:
                while self.rsock.recv(4096):
                    pass
            except BlockingIOError:
                pass

    def wakeup(self) -> None:
        with contextlib.suppress(OSError):  # full: a wakeup is already pending
            self.wsock.send(b"\0")

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.selector.close()
            self.rsock.close()
            self.wsock.close()

    def add_reader(self, fd: int, handle: asyncio.Handle) -> None:
        raise NotImplementedError

    def remove_reader(self, fd: int) -> bool:
        raise NotImplementedError

    def add_writer(self, fd: int, handle: asyncio.Handle) -> None:
        raise NotImplementedError

    def remove_writer(self, fd: int) -> bool:
        raise NotImplementedError

    async def sock_recv(self, sock: socket.socket, nbytes: int) -> bytes:
        raise NotImplementedError

    async def sock_recv_into(self, sock: socket.socket, buf: Any) -> int:
        raise NotImplementedError

    async def sock_recvfrom(self, sock: socket.socket, bufsize: int) -> tuple[bytes, Address]:
        raise NotImplementedError

    async def sock_recvfrom_into(
        self, sock: socket.socket, buf: Any, nbytes: int
    ) -> tuple[int, Address]:
        raise NotImplementedError

    async def sock_sendall(self, sock: socket.socket, data: Any) -> None:
        raise NotImplementedError

    async def sock_sendto(self, sock: socket.socket, data: Any, address: Address) -> int:
        raise NotImplementedError

    async def sock_connect(self, sock: socket.socket, address: Address) -> None:
        raise NotImplementedError

    async def sock_accept(self, sock: socket.socket) -> tuple[socket.socket, Address]:
        raise NotImplementedError

    async def sock_sendfile_native(
        self, sock: socket.socket, file: Any, offset: int, count: int | None
    ) -> int:
        raise NotImplementedError
