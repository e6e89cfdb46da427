"""A small IOBackend over the stdlib :mod:`selectors` module, for core's own tests.

Core's tests must not depend on layerloop-selector, so this is a deliberately simple
readiness backend: a ``selectors.DefaultSelector``, a socket pair for wakeups, and the
sock_* operations written as "try, else wait for readiness".  It also records what the
loop asked of it (poll timeouts, wakeup calls) so tests can check the scheduler's side
of the contract.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import selectors
import socket
import threading
from collections.abc import Callable
from typing import Any

from layerloop_core import EventLoop, Handle
from layerloop_core.abc import Address, BackendKind, Enqueue


class FakeBackend:
    name: str = "fake"
    kind: BackendKind = "readiness"

    def __init__(self) -> None:
        self.selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self.selector.register(self._wake_r, selectors.EVENT_READ, None)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.enqueue: Enqueue | None = None
        self.readers: dict[int, asyncio.Handle] = {}
        self.writers: dict[int, asyncio.Handle] = {}
        self.polls: list[float | None] = []
        self.record_polls = False
        self.wakeups = 0
        self.wakeup_lock = threading.Lock()
        self.closed = False
        self.native_sendfile = False
        self.sendfile_calls: list[tuple[int, int | None]] = []

    # -- lifecycle ----------------------------------------------------------------------

    def attach(self, loop: asyncio.AbstractEventLoop, enqueue: Enqueue) -> None:
        assert self.loop is None, "attached twice"
        self.loop = loop
        self.enqueue = enqueue

    def poll(self, timeout: float | None) -> None:
        if self.record_polls:
            self.polls.append(timeout)
        assert self.enqueue is not None
        enqueue = self.enqueue
        for key, events in self.selector.select(timeout):
            if key.fileobj is self._wake_r:
                try:
                    while self._wake_r.recv(4096):
                        pass
                except BlockingIOError:
                    pass
                continue
            fd = key.fd
            if events & selectors.EVENT_READ and fd in self.readers:
                handle = self.readers[fd]
                if handle.cancelled():
                    self._drop(fd, self.readers, selectors.EVENT_READ)
                else:
                    enqueue(handle)
            if events & selectors.EVENT_WRITE and fd in self.writers:
                handle = self.writers[fd]
                if handle.cancelled():
                    self._drop(fd, self.writers, selectors.EVENT_WRITE)
                else:
                    enqueue(handle)

    def wakeup(self) -> None:
        with self.wakeup_lock:
            self.wakeups += 1
        with contextlib.suppress(BlockingIOError, OSError):
            self._wake_w.send(b"\0")

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.selector.close()
        self._wake_r.close()
        self._wake_w.close()

    # -- watches ------------------------------------------------------------------------

    def _mask(self, fd: int) -> int:
        mask = 0
        if fd in self.readers:
            mask |= selectors.EVENT_READ
        if fd in self.writers:
            mask |= selectors.EVENT_WRITE
        return mask

    def _update(self, fd: int, old: int) -> None:
        new = self._mask(fd)
        if old and new:
            self.selector.modify(fd, new)
        elif new:
            self.selector.register(fd, new)
        elif old:
            with contextlib.suppress(KeyError, ValueError, OSError):
                self.selector.unregister(fd)

    def _drop(self, fd: int, table: dict[int, asyncio.Handle], event: int) -> bool:
        old = self._mask(fd)
        handle = table.pop(fd, None)
        if handle is None:
            return False
        handle.cancel()
        self._update(fd, old)
        return True

    def add_reader(self, fd: int, handle: asyncio.Handle) -> None:
        old = self._mask(fd)
        previous = self.readers.get(fd)
        self.readers[fd] = handle
        if previous is not None:
            previous.cancel()
        self._update(fd, old)

    def remove_reader(self, fd: int) -> bool:
        return self._drop(fd, self.readers, selectors.EVENT_READ)

    def add_writer(self, fd: int, handle: asyncio.Handle) -> None:
        old = self._mask(fd)
        previous = self.writers.get(fd)
        self.writers[fd] = handle
        if previous is not None:
            previous.cancel()
        self._update(fd, old)

    def remove_writer(self, fd: int) -> bool:
        return self._drop(fd, self.writers, selectors.EVENT_WRITE)

    # -- socket operations (try, else wait for readiness) --------------------------------

    async def _wait(self, fd: int, write: bool) -> None:
        assert self.loop is not None
        fut = self.loop.create_future()

        def ready() -> None:
            if not fut.done():
                fut.set_result(None)

        handle = Handle(ready, (), self.loop)
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
                await self._wait(sock.fileno(), False)

    async def sock_recv_into(self, sock: socket.socket, buf: Any) -> int:
        while True:
            try:
                return sock.recv_into(buf)
            except (BlockingIOError, InterruptedError):
                await self._wait(sock.fileno(), False)

    async def sock_recvfrom(self, sock: socket.socket, bufsize: int) -> tuple[bytes, Address]:
        while True:
            try:
                return sock.recvfrom(bufsize)
            except (BlockingIOError, InterruptedError):
                await self._wait(sock.fileno(), False)

    async def sock_recvfrom_into(
        self, sock: socket.socket, buf: Any, nbytes: int
    ) -> tuple[int, Address]:
        while True:
            try:
                return sock.recvfrom_into(buf, nbytes)
            except (BlockingIOError, InterruptedError):
                await self._wait(sock.fileno(), False)

    async def sock_sendall(self, sock: socket.socket, data: Any) -> None:
        view = memoryview(data).cast("B")
        while view:
            try:
                view = view[sock.send(view) :]
            except (BlockingIOError, InterruptedError):
                await self._wait(sock.fileno(), True)

    async def sock_sendto(self, sock: socket.socket, data: Any, address: Address) -> int:
        while True:
            try:
                return sock.sendto(data, address)
            except (BlockingIOError, InterruptedError):
                await self._wait(sock.fileno(), True)

    async def sock_connect(self, sock: socket.socket, address: Address) -> None:
        self.connected_to = address
        try:
            sock.connect(address)
            return
        except (BlockingIOError, InterruptedError):
            pass
        await self._wait(sock.fileno(), True)
        err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            raise OSError(err, f"Connect call failed {address}")

    async def sock_accept(self, sock: socket.socket) -> tuple[socket.socket, Address]:
        while True:
            try:
                conn, addr = sock.accept()
                conn.setblocking(False)
                return conn, addr
            except (BlockingIOError, InterruptedError):
                await self._wait(sock.fileno(), False)

    async def sock_sendfile_native(
        self, sock: socket.socket, file: Any, offset: int, count: int | None
    ) -> int:
        self.sendfile_calls.append((offset, count))
        if not self.native_sendfile:
            raise asyncio.SendfileNotAvailableError("fake backend: no native sendfile")
        size = os.fstat(file.fileno()).st_size
        end = size if count is None else min(size, offset + count)
        file.seek(offset)
        data = file.read(end - offset)
        await self.sock_sendall(sock, data)
        file.seek(offset + len(data))
        return len(data)


class ForkAwareFakeBackend(FakeBackend):
    """FakeBackend with the optional ``after_fork_in_child`` hook of the IOBackend spec."""

    def after_fork_in_child(self) -> None:
        # The epoll instance (with its interest list) and the wakeup sockets are shared
        # with the parent: close this process's copies of the fds and nothing else.
        # Unregistering would remove the parent's watches too (EPOLL_CTL_DEL acts on the
        # shared instance), and draining the wakeup socket would eat the parent's wakeup.
        self.closed = True
        self.readers.clear()
        self.writers.clear()
        self.selector.close()  # closes the epoll fd; no epoll_ctl
        self._wake_r.close()
        self._wake_w.close()


LoopFactory = Callable[[], asyncio.AbstractEventLoop]


def new_layerloop() -> EventLoop:
    """Our loop on the fake backend."""
    return EventLoop(FakeBackend())
