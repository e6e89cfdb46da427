"""The smallest backend that passes the kit: how a third party proves an IOBackend.

It is written against ``layerloop_core.abc`` alone (no layerloop_selector), on the
stdlib ``selectors`` module, with a socket pair for wakeups.  It has no zero-copy path:
``sock_sendfile_native`` declines, so the loop's read+send fallback is exercised too.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import selectors
import socket
from typing import Any

from layerloop_core.abc import Address, BackendKind, Enqueue


def _set_result(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


class MinimalBackend:
    name = "minimal"
    kind: BackendKind = "readiness"

    def __init__(self) -> None:
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ)
        self._readers: dict[int, asyncio.Handle] = {}
        self._writers: dict[int, asyncio.Handle] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._enqueue: Enqueue | None = None
        self._closed = False

    def attach(self, loop: asyncio.AbstractEventLoop, enqueue: Enqueue) -> None:
        self._loop, self._enqueue = loop, enqueue

    def poll(self, timeout: float | None) -> None:
        if timeout is not None:
            # epoll counts milliseconds: round up, or a 0.3 ms timer spins the loop.
            timeout = math.ceil(max(timeout, 0.0) * 1e3) * 1e-3
        try:
            events = self._selector.select(timeout)
        except InterruptedError:
            return
        enqueue = self._enqueue
        assert enqueue is not None
        for key, mask in events:
            if key.fileobj is self._wake_r:
                try:
                    while self._wake_r.recv(4096):
                        pass
                except BlockingIOError:
                    pass
                continue
            if mask & selectors.EVENT_READ and key.fd in self._readers:
                enqueue(self._readers[key.fd])
            if mask & selectors.EVENT_WRITE and key.fd in self._writers:
                enqueue(self._writers[key.fd])

    def wakeup(self) -> None:
        # A full buffer means a wakeup is pending anyway; a closed one, that we are done.
        with contextlib.suppress(OSError):
            self._wake_w.send(b"\0")

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for handle in (*self._readers.values(), *self._writers.values()):
            handle.cancel()
        self._readers.clear()
        self._writers.clear()
        self._selector.close()
        self._wake_r.close()
        self._wake_w.close()

    # -- watches ---------------------------------------------------------------------

    def _update(self, fd: int) -> None:
        mask = (selectors.EVENT_READ if fd in self._readers else 0) | (
            selectors.EVENT_WRITE if fd in self._writers else 0
        )
        registered = self._selector.get_map().get(fd) is not None
        if not mask:
            if registered:
                self._selector.unregister(fd)
        elif registered:
            self._selector.modify(fd, mask)
        else:
            self._selector.register(fd, mask)

    def _add(self, table: dict[int, asyncio.Handle], fd: int, handle: asyncio.Handle) -> None:
        old = table.get(fd)
        table[fd] = handle
        if old is not None:
            old.cancel()
        self._update(fd)

    def _remove(self, table: dict[int, asyncio.Handle], fd: int) -> bool:
        handle = table.pop(fd, None)
        if handle is None:
            return False
        handle.cancel()
        self._update(fd)
        return True

    def add_reader(self, fd: int, handle: asyncio.Handle) -> None:
        self._add(self._readers, fd, handle)

    def remove_reader(self, fd: int) -> bool:
        return self._remove(self._readers, fd)

    def add_writer(self, fd: int, handle: asyncio.Handle) -> None:
        self._add(self._writers, fd, handle)

    def remove_writer(self, fd: int) -> bool:
        return self._remove(self._writers, fd)

    # -- socket operations -------------------------------------------------------------

    async def _wait(self, sock: socket.socket, write: bool) -> None:
        loop = self._loop
        assert loop is not None
        fut: asyncio.Future[None] = loop.create_future()
        handle = asyncio.Handle(_set_result, (fut,), loop)
        fd = sock.fileno()
        if write:
            self.add_writer(fd, handle)
        else:
            self.add_reader(fd, handle)
        try:
            await fut
        finally:
            if write:
                self.remove_writer(fd)
            else:
                self.remove_reader(fd)

    async def sock_recv(self, sock: socket.socket, nbytes: int) -> bytes:
        while True:
            try:
                return sock.recv(nbytes)
            except (BlockingIOError, InterruptedError):
                await self._wait(sock, False)

    async def sock_recv_into(self, sock: socket.socket, buf: Any) -> int:
        while True:
            try:
                return sock.recv_into(buf)
            except (BlockingIOError, InterruptedError):
                await self._wait(sock, False)

    async def sock_recvfrom(self, sock: socket.socket, bufsize: int) -> tuple[bytes, Address]:
        while True:
            try:
                return sock.recvfrom(bufsize)
            except (BlockingIOError, InterruptedError):
                await self._wait(sock, False)

    async def sock_recvfrom_into(
        self, sock: socket.socket, buf: Any, nbytes: int
    ) -> tuple[int, Address]:
        while True:
            try:
                return sock.recvfrom_into(buf, nbytes)
            except (BlockingIOError, InterruptedError):
                await self._wait(sock, False)

    async def sock_sendall(self, sock: socket.socket, data: Any) -> None:
        view = memoryview(data).cast("B")
        while view:
            try:
                view = view[sock.send(view) :]
            except (BlockingIOError, InterruptedError):
                await self._wait(sock, True)

    async def sock_sendto(self, sock: socket.socket, data: Any, address: Address) -> int:
        while True:
            try:
                return sock.sendto(data, address)
            except (BlockingIOError, InterruptedError):
                await self._wait(sock, True)

    async def sock_connect(self, sock: socket.socket, address: Address) -> None:
        try:
            sock.connect(address)
            return
        except (BlockingIOError, InterruptedError):
            pass
        await self._wait(sock, True)
        err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            raise OSError(err, f"Connect call failed {address}")

    async def sock_accept(self, sock: socket.socket) -> tuple[socket.socket, Address]:
        while True:
            try:
                conn, address = sock.accept()
            except (BlockingIOError, InterruptedError):
                await self._wait(sock, False)
            else:
                conn.setblocking(False)
                return conn, address

    async def sock_sendfile_native(
        self, sock: socket.socket, file: Any, offset: int, count: int | None
    ) -> int:
        raise asyncio.SendfileNotAvailableError("the minimal backend has no zero-copy path")
