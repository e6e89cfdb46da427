"""What every readiness backend shares: the watch registry, the wakeup channel and the
``sock_*`` operations done the readiness way.

A readiness backend learns from the kernel *that* a file descriptor can be read or
written, and then does the I/O itself.  The mechanism-specific part of each backend
(:mod:`._epoll`, :mod:`._poll`, :mod:`._select`, :mod:`._kqueue`) is small: keep the
kernel's interest set equal to the registry (:meth:`ReadinessBackend._watch`), wait with a
timeout (:meth:`~ReadinessBackend.poll`) and hand each ready descriptor to the registry.

The registry
------------
Two dicts, ``_readers`` and ``_writers``, map an fd to its *watch*.  A watch is either

* an :class:`asyncio.Handle` given to :meth:`~ReadinessBackend.add_reader` /
  :meth:`~ReadinessBackend.add_writer`: when the fd is ready the handle is passed to the
  loop's ``enqueue`` (it runs from the ready queue, never from inside ``poll``); or
* an :class:`asyncio.Future` of one of our own ``sock_*`` coroutines: when the fd is ready
  the future's result is set (``set_result`` only *schedules* the future's callbacks on
  the ready queue, so no user code runs inside ``poll`` either).

Invariant: for every fd, the kernel interest set holds exactly the directions that have
an entry in the registry (``_watch`` is called on every transition between "no watch" and
"a watch" for a direction).  The only exception is an fd closed behind our back, which the
kernel may forget before we do (see each backend's essay); removals tolerate that.

Waking the task, not doing its I/O
----------------------------------
CPython's selector loop performs a waiting ``sock_recv``'s ``recv`` inside the I/O
callback and stores the bytes in the future.  If the awaiting task is cancelled after that
callback ran but before the task resumed, the bytes are gone.  Here the watch only wakes
the task, and the task does the ``recv`` when it runs.  A cancelled ``sock_recv``,
``sock_recvfrom`` or ``sock_accept`` therefore never consumed anything: the data (or the
connection) stays in the kernel for the next call.  It also saves an iteration: the
task's wakeup is queued by ``poll`` itself instead of by a callback that runs one batch
later.

A ``sock_*`` operation always tries the system call first and registers a watch only when
it would block (``BlockingIOError``) or was interrupted (``InterruptedError``); the watch
is removed when the operation ends, however it ends.  While an operation waits several
times on the same fd (``sock_sendall`` of a large buffer), the kernel registration is kept
and only the future in the registry is swapped.

Concurrent operations on one fd behave as in CPython's loop: the last registration wins,
the watch it replaces is cancelled (a replaced ``sock_*`` operation waits until it is
cancelled), and an operation that ends removes the watch only while it is still its own.
"""

from __future__ import annotations

import asyncio
import errno
import io
import os
import socket
import stat
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final, TypeAlias, TypeVar, TypeVarTuple

from layerloop_core.abc import Address, BackendKind, DatagramOwner, Enqueue, FileLike, StreamOwner

from ._streams import (
    InternalHandle,
    ReadinessConnect,
    ReadinessDatagram,
    ReadinessListener,
    ReadinessStream,
)

__all__ = ["MAX_TIMEOUT", "READ", "WRITE", "ReadinessBackend", "UnavailableBackend"]

#: Direction bits of an fd's interest set, as ``_watch`` receives them.
READ: Final = 1
WRITE: Final = 2

#: The longest a single ``poll`` sleeps (one day, as CPython's loop).  Every kernel
#: interface has an upper bound (``epoll_wait`` takes an ``int`` of milliseconds); waking
#: once a day with nothing to do is harmless because the scheduler recomputes its timers.
MAX_TIMEOUT: Final = 86400.0

#: Errors that mean "try again when the fd is ready".  EINTR only surfaces from a
#: non-blocking call when a signal handler asked for it, and means the same thing.
_RETRY: Final = (BlockingIOError, InterruptedError)

_Handle = asyncio.Handle
_T = TypeVar("_T")
_Ts = TypeVarTuple("_Ts")

Watch: TypeAlias = "asyncio.Handle | asyncio.Future[None]"


class ReadinessBackend:
    """The shared part of the readiness backends (epoll, poll, select, kqueue).

    Implements :class:`layerloop_core.abc.IOBackend` except for the two methods each
    mechanism provides: :meth:`poll` and :meth:`_watch` (plus :meth:`_close_kernel`).
    """

    __slots__ = (
        "__weakref__",
        "_closed",
        "_create_future",
        "_enqueue",
        "_loop",
        "_readers",
        "_wake_fd",
        "_wake_pending",
        "_wake_socks",
        "_writers",
    )

    #: Shown by ``python -m layerloop info`` and in ``repr(loop)``.
    name: str = "readiness"
    kind: BackendKind = "readiness"
    #: Streams on sockets read into new ``bytes`` objects for a
    #: :class:`~layerloop_core.abc.BytesStreamOwner` that wants them.
    reads_bytes: bool = True

    def __init__(self) -> None:
        self._readers: dict[int, Watch] = {}
        self._writers: dict[int, Watch] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._enqueue: Enqueue = _not_attached
        self._create_future: Callable[[], asyncio.Future[Any]] = _not_attached_future
        self._closed = False
        self._wake_pending = False
        self._wake_socks: tuple[socket.socket, socket.socket] | None = None
        self._wake_fd = -1
        self._open_wakeup()

    def __repr__(self) -> str:
        state = (
            "closed"
            if self._closed
            else f"readers={len(self._readers)} writers={len(self._writers)}"
        )
        return f"<{type(self).__name__} {state}>"

    # -- lifecycle ---------------------------------------------------------------------

    def attach(self, loop: asyncio.AbstractEventLoop, enqueue: Enqueue) -> None:
        """Bind to *loop*; *enqueue* appends a handle to its ready queue."""
        if self._loop is not None:
            raise RuntimeError(f"{self!r} is already attached to {self._loop!r}")
        if self._closed:
            raise RuntimeError(f"{self!r} is closed")
        self._loop = loop
        self._enqueue = enqueue
        self._create_future = loop.create_future

    def close(self) -> None:
        """Drop every watch, close the kernel object and the wakeup channel.  Idempotent."""
        if self._closed:
            return
        self._closed = True
        # A wakeup from now on is a no-op: the flag stays set forever.
        self._wake_pending = True
        watches = [*self._readers.values(), *self._writers.values()]
        self._readers.clear()
        self._writers.clear()
        for watch in watches:
            # Futures of sock_* operations are left pending: the loop is closing and
            # can no longer run their callbacks.
            _cancel_foreign(watch)
        try:
            self._close_kernel()
        finally:
            self._close_wakeup()

    def _close_kernel(self) -> None:
        """Close the mechanism's kernel object (the epoll or kqueue fd, ...)."""

    # -- the per-mechanism part --------------------------------------------------------

    def poll(self, timeout: float | None) -> None:
        """Wait for at most *timeout* seconds (``None``: until an event) and dispatch."""
        raise NotImplementedError

    def _watch(self, fd: int, old: int, new: int) -> None:
        """Change the kernel interest of *fd* from directions *old* to *new* (bit sets of
        :data:`READ`/:data:`WRITE`, never equal).

        When *new* adds a direction, errors propagate (the caller rolls its registry back);
        when it only removes directions, an fd the kernel already forgot (closed while
        watched) is not an error.
        """
        raise NotImplementedError

    # -- the wakeup channel ------------------------------------------------------------
    #
    # Linux: one eventfd, a 64-bit counter: writes add, one read returns and resets it, so
    # any number of wakeups costs one read.  Elsewhere: a non-blocking socket pair (the
    # only pollable channel Windows' select accepts), drained until EAGAIN.
    #
    # _wake_pending coalesces wakeups: set by the first wakeup() after a drain, cleared
    # by poll *after* draining.  A wakeup() racing with the drain may see the flag still
    # set and skip its write: that is safe because the poll it wanted to end is already
    # returning, and whatever the caller published before calling wakeup() is seen by the
    # loop after poll returns.  Clearing before draining would not be safe: the drain
    # could eat the racing write and leave the flag set with nothing to read.
    #
    # Hence: while the flag is clear the channel is empty (only the wakeup() that set the
    # flag writes, and poll clears it only after draining what that write put in).  A
    # poll with a zero timeout, an empty registry and the flag clear therefore has
    # nothing to learn from the kernel and returns without a system call: the common
    # case of a loop running only callbacks and tasks.

    def _open_wakeup(self) -> None:
        if sys.platform == "linux":
            try:
                self._wake_fd = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
                return
            except (AttributeError, OSError):  # pragma: no cover - very old kernels
                pass
        rsock, wsock = socket.socketpair()
        rsock.setblocking(False)
        wsock.setblocking(False)
        self._wake_socks = (rsock, wsock)
        self._wake_fd = rsock.fileno()

    def _close_wakeup(self) -> None:
        fd = self._wake_fd
        self._wake_fd = -1
        socks = self._wake_socks
        if socks is not None:
            socks[0].close()
            socks[1].close()
        elif fd >= 0:
            os.close(fd)

    def wakeup(self) -> None:
        """Make the current or the next :meth:`poll` return promptly.  Thread-safe."""
        if self._wake_pending:
            return
        self._wake_pending = True
        socks = self._wake_socks
        try:
            if socks is not None:
                socks[1].send(b"\0")
            elif sys.platform == "linux":
                os.eventfd_write(self._wake_fd, 1)
        except BlockingIOError:
            pass  # the channel is full, so a wakeup is already pending
        except OSError:
            # Closed (nothing left to wake) or an unexpected failure: without a byte in
            # the channel the flag must not claim one.
            if not self._closed:
                self._wake_pending = False

    def _drain_wakeup(self) -> None:
        socks = self._wake_socks
        try:
            if socks is None:
                os.read(self._wake_fd, 8)
            else:
                recv = socks[0].recv
                while len(recv(4096)) == 4096:
                    pass
        except _RETRY:
            pass
        if not self._closed:
            self._wake_pending = False

    # -- the registry ------------------------------------------------------------------

    def add_reader(self, fd: int, handle: asyncio.Handle) -> None:
        """Enqueue *handle* whenever *fd* is readable, until :meth:`remove_reader`."""
        self._set_reader(fd, handle)

    def add_writer(self, fd: int, handle: asyncio.Handle) -> None:
        """Enqueue *handle* whenever *fd* is writable, until :meth:`remove_writer`."""
        self._set_writer(fd, handle)

    def remove_reader(self, fd: int) -> bool:
        """Stop watching *fd* for reading; ``False`` if it was not watched."""
        watch = self._readers.get(fd)
        if watch is None:
            return False
        self._unset_reader(fd)
        _cancel_foreign(watch)
        return True

    def remove_writer(self, fd: int) -> bool:
        """Stop watching *fd* for writing; ``False`` if it was not watched."""
        watch = self._writers.get(fd)
        if watch is None:
            return False
        self._unset_writer(fd)
        _cancel_foreign(watch)
        return True

    def _set_reader(self, fd: int, watch: Watch) -> None:
        readers = self._readers
        old = readers.get(fd)
        readers[fd] = watch
        if old is None:
            other = WRITE if fd in self._writers else 0
            try:
                self._watch(fd, other, other | READ)
            except BaseException:
                del readers[fd]
                raise
        elif old is not watch:
            _cancel_foreign(old)

    def _set_writer(self, fd: int, watch: Watch) -> None:
        writers = self._writers
        old = writers.get(fd)
        writers[fd] = watch
        if old is None:
            other = READ if fd in self._readers else 0
            try:
                self._watch(fd, other, other | WRITE)
            except BaseException:
                del writers[fd]
                raise
        elif old is not watch:
            _cancel_foreign(old)

    def _unset_reader(self, fd: int) -> None:
        del self._readers[fd]
        if fd in self._writers:
            self._watch(fd, READ | WRITE, WRITE)
        else:
            self._watch(fd, READ, 0)

    def _unset_writer(self, fd: int) -> None:
        del self._writers[fd]
        if fd in self._readers:
            self._watch(fd, READ | WRITE, READ)
        else:
            self._watch(fd, WRITE, 0)

    def _drop_reader(self, fd: int, watch: Watch) -> None:
        """Remove *watch* (a stream's own handle) without cancelling it, and only while
        the registry still holds it: the handle is reused when reading resumes, and a
        closed backend has already forgotten every watch."""
        if self._readers.get(fd) is watch:
            self._unset_reader(fd)

    def _drop_writer(self, fd: int, watch: Watch) -> None:
        """As :meth:`_drop_reader`, for writability."""
        if self._writers.get(fd) is watch:
            self._unset_writer(fd)

    # -- streams, listeners, connects, datagrams: StreamBackend ---------------------------
    #
    # Done in ._streams; see its docstring for the invariants.

    def open_stream(self, fileobj: FileLike, owner: StreamOwner) -> ReadinessStream:
        """Take over the connected socket, pipe end or character device *fileobj*."""
        return ReadinessStream(self, fileobj, owner)

    def listen(
        self,
        sock: socket.socket,
        on_accept: Callable[[socket.socket | None, Address, OSError | None], None],
        *,
        backlog: int = 100,
    ) -> ReadinessListener:
        """Accept connections on the listening *sock*, at most *backlog* per wakeup."""
        return ReadinessListener(self, sock, on_accept, backlog)

    def connect(
        self, sock: socket.socket, address: Address, done: Callable[[BaseException | None], None]
    ) -> ReadinessConnect:
        """Connect *sock* to the resolved *address*; *done* reports the outcome."""
        op = ReadinessConnect(self, sock, address, done)
        op._start()
        return op

    def open_datagram(self, sock: socket.socket, owner: DatagramOwner) -> ReadinessDatagram:
        """Take over the bound, non-blocking datagram *sock*."""
        return ReadinessDatagram(self, sock, owner)

    # -- dispatch ----------------------------------------------------------------------

    def _dispatch_masks(self, events: list[tuple[int, int]], rbits: int, wbits: int) -> None:
        """Dispatch ``(fd, mask)`` pairs as epoll and poll report them: a mask that
        intersects *rbits* makes the reader ready, one that intersects *wbits* the writer
        (error and hang-up bits are in both: they make every waiter look).

        Per event on the hot path (a stream's own handle ready in one direction): one
        registry lookup, one class test, one enqueue.  The wakeup channel is never in
        the registry, so it is looked for only among fds without a reader."""
        readers = self._readers
        writers = self._writers
        enqueue = self._enqueue
        wake = self._wake_fd
        for fd, mask in events:
            reader = readers.get(fd)
            if reader is not None:
                if mask & rbits:
                    if reader.__class__ is InternalHandle:
                        enqueue(reader)
                    elif isinstance(reader, _Handle):
                        if reader.cancelled():
                            self._unset_reader(fd)
                        else:
                            enqueue(reader)
                    elif not reader.done():
                        reader.set_result(None)
                if not mask & wbits:
                    continue
            elif fd == wake:
                self._drain_wakeup()
                continue
            writer = writers.get(fd)
            if writer is None:
                if reader is None:
                    self._stray(fd)
            elif mask & wbits:
                if writer.__class__ is InternalHandle:
                    enqueue(writer)
                elif isinstance(writer, _Handle):
                    if writer.cancelled():
                        self._unset_writer(fd)
                    else:
                        enqueue(writer)
                elif not writer.done():
                    writer.set_result(None)

    def _fire(self, fd: int, table: dict[int, Watch]) -> None:
        """One ready direction of one fd, for backends that report them separately."""
        watch = table.get(fd)
        if watch is None:
            if fd not in self._readers and fd not in self._writers:
                self._stray(fd)
        elif isinstance(watch, _Handle):
            if not watch.cancelled():
                self._enqueue(watch)
            elif table is self._readers:
                self._unset_reader(fd)
            else:
                self._unset_writer(fd)
        elif not watch.done():
            watch.set_result(None)

    def _stray(self, fd: int) -> None:
        """The kernel reported an fd nobody watches: a kernel registration outlived its
        watch (see the epoll essay).  Only epoll can get into that state."""

    # -- socket operations -------------------------------------------------------------
    #
    # Shape of every operation: try the call; if it would block, register a watch whose
    # future the poll completes, await it, try again.  The ``finally`` removes the watch
    # when the operation ends by returning, raising or being cancelled, but only while the
    # registry still holds our future (another registration may have replaced it).

    async def sock_recv(self, sock: socket.socket, nbytes: int) -> bytes:
        """Receive up to *nbytes*; ``b""`` at end of stream."""
        try:
            return sock.recv(nbytes)
        except _RETRY:
            pass
        return await self._when_readable(sock, _recv, nbytes)

    async def sock_recv_into(self, sock: socket.socket, buf: Any) -> int:
        """Receive into *buf*; return the number of bytes received."""
        try:
            return sock.recv_into(buf)
        except _RETRY:
            pass
        return await self._when_readable(sock, _recv_into, buf)

    async def sock_recvfrom(self, sock: socket.socket, bufsize: int) -> tuple[bytes, Address]:
        """Receive one datagram of at most *bufsize* bytes and its sender's address."""
        try:
            return sock.recvfrom(bufsize)
        except _RETRY:
            pass
        return await self._when_readable(sock, _recvfrom, bufsize)

    async def sock_recvfrom_into(
        self, sock: socket.socket, buf: Any, nbytes: int
    ) -> tuple[int, Address]:
        """Receive one datagram into *buf* (at most *nbytes*; 0 means ``len(buf)``)."""
        if not nbytes:
            nbytes = len(buf)
        try:
            return sock.recvfrom_into(buf, nbytes)
        except _RETRY:
            pass
        return await self._when_readable(sock, _recvfrom_into, buf, nbytes)

    async def sock_accept(self, sock: socket.socket) -> tuple[socket.socket, Address]:
        """Accept one connection; the new socket is non-blocking."""
        try:
            conn, address = sock.accept()
        except _RETRY:
            conn, address = await self._when_readable(sock, _accept)
        conn.setblocking(False)
        return conn, address

    async def sock_sendall(self, sock: socket.socket, data: Any) -> None:
        """Send every byte of *data*, continuing each partial send where it stopped."""
        try:
            sent = sock.send(data)
        except _RETRY:
            sent = 0
        cls = data.__class__
        if cls is bytes or cls is bytearray:
            total = len(data)
            if sent == total:
                return
            view = memoryview(data)
        else:
            # Count bytes, not items: an array('i') or a shaped memoryview has fewer
            # items than bytes, and sends are counted in bytes.
            view = memoryview(data).cast("B")
            total = len(view)
            if sent == total:
                return
        fd = sock.fileno()
        writers = self._writers
        fut: asyncio.Future[None] = self._create_future()
        self._set_writer(fd, fut)
        try:
            while True:
                await fut
                try:  # noqa: SIM105 - hot path
                    sent += sock.send(view[sent:])
                except _RETRY:
                    pass
                if sent >= total:
                    return
                fut = self._rearm(fd, fut, writers)
        finally:
            if writers.get(fd) is fut:
                self._unset_writer(fd)

    async def sock_sendto(self, sock: socket.socket, data: Any, address: Address) -> int:
        """Send one datagram to *address*; return the number of bytes sent."""
        try:
            return sock.sendto(data, address)
        except _RETRY:
            pass
        return await self._when_writable(sock, _sendto, data, address)

    async def sock_connect(self, sock: socket.socket, address: Address) -> None:
        """Connect *sock* to the resolved *address*."""
        try:
            sock.connect(address)
            return
        except _RETRY:
            # EINPROGRESS (BlockingIOError) or EINTR: the connection proceeds in the
            # kernel and the socket becomes writable when it is established or failed.
            pass
        fd = sock.fileno()
        writers = self._writers
        fut: asyncio.Future[None] = self._create_future()
        self._set_writer(fd, fut)
        try:
            await fut
        finally:
            if writers.get(fd) is fut:
                self._unset_writer(fd)
        err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            # OSError picks the subclass from the errno (ConnectionRefusedError, ...).
            raise OSError(err, f"Connect call failed {address}")

    async def sock_sendfile_native(
        self, sock: socket.socket, file: Any, offset: int, count: int | None
    ) -> int:
        """Send *count* bytes (``None``: to end of file) of *file* from *offset* with
        ``os.sendfile``; see :meth:`layerloop_core.abc.IOBackend.sock_sendfile_native`."""
        if sys.platform == "win32":
            raise asyncio.SendfileNotAvailableError("os.sendfile() is not available")
        else:
            if not hasattr(os, "sendfile"):
                raise asyncio.SendfileNotAvailableError("os.sendfile() is not available")
            try:
                fileno = file.fileno()
            except (AttributeError, io.UnsupportedOperation) as exc:
                raise asyncio.SendfileNotAvailableError("not a regular file") from exc
            try:
                st = os.fstat(fileno)
            except OSError as exc:
                raise asyncio.SendfileNotAvailableError("not a regular file") from exc
            if not stat.S_ISREG(st.st_mode):
                # sendfile(2) needs a file it can map pages from; pipes, sockets and
                # character devices take the read+send fallback.
                raise asyncio.SendfileNotAvailableError("not a regular file")
            # Without a count, ask for the whole file each time and stop at the first
            # zero return (end of file, which also ends a file that grew meanwhile).
            blocksize = count if count else st.st_size
            if not blocksize:
                return 0
            fd = sock.fileno()
            writers = self._writers
            fut: asyncio.Future[None] | None = None
            total = 0
            try:
                while True:
                    if count:
                        blocksize = count - total
                        if blocksize <= 0:
                            return total
                    try:
                        sent = os.sendfile(fd, fileno, offset + total, blocksize)
                    except _RETRY:
                        if fut is None:
                            fut = self._create_future()
                            self._set_writer(fd, fut)
                        else:
                            fut = self._rearm(fd, fut, writers)
                        await fut
                        continue
                    except OSError as exc:
                        if (
                            fut is not None
                            and exc.errno == errno.ENOTCONN
                            and type(exc) is not ConnectionError
                        ):
                            # The peer went away mid-transfer: report it the same way
                            # on every POSIX system.
                            lost = ConnectionError(errno.ENOTCONN, "socket is not connected")
                            raise lost from exc
                        if total == 0:
                            # Refused before the first byte (a file sendfile(2) cannot
                            # read, a socket it cannot write): let the loop fall back.
                            raise asyncio.SendfileNotAvailableError(
                                "os.sendfile call failed"
                            ) from exc
                        raise
                    if sent == 0:
                        return total
                    total += sent
            finally:
                if fut is not None and writers.get(fd) is fut:
                    self._unset_writer(fd)
                if total > 0:
                    # Documented: the file position ends just after the last byte sent,
                    # even on error or cancellation.  seek() keeps a buffered file object
                    # consistent; a bare fd object gets lseek.
                    seek = getattr(file, "seek", None)
                    if seek is not None:
                        seek(offset + total)
                    else:
                        os.lseek(fileno, offset + total, os.SEEK_SET)

    # -- helpers for the operations ----------------------------------------------------

    def _rearm(
        self, fd: int, done: asyncio.Future[None], table: dict[int, Watch]
    ) -> asyncio.Future[None]:
        """Replace the completed future *done* by a fresh one for another wait on *fd*,
        keeping the kernel registration when the registry still holds *done*."""
        fut: asyncio.Future[None] = self._create_future()
        if table.get(fd) is done:
            table[fd] = fut
        elif table is self._readers:
            self._set_reader(fd, fut)
        else:
            self._set_writer(fd, fut)
        return fut

    async def _when_readable(
        self, sock: socket.socket, op: Callable[[socket.socket, *_Ts], _T], *args: *_Ts
    ) -> _T:
        """Wait until *sock* is readable and ``op(sock, *args)`` no longer would block.

        *op* looks the method up on *sock* at each call, as CPython's loop does (a
        wrapper or mock may change it while the operation waits)."""
        fd = sock.fileno()
        readers = self._readers
        fut: asyncio.Future[None] = self._create_future()
        self._set_reader(fd, fut)
        try:
            while True:
                await fut
                try:
                    return op(sock, *args)
                except _RETRY:
                    pass
                # Woken but nothing to read (another reader was faster): wait again on
                # the same kernel registration.
                fut = self._rearm(fd, fut, readers)
        finally:
            if readers.get(fd) is fut:
                self._unset_reader(fd)

    async def _when_writable(
        self, sock: socket.socket, op: Callable[[socket.socket, *_Ts], _T], *args: *_Ts
    ) -> _T:
        """As :meth:`_when_readable`, waiting for writability."""
        fd = sock.fileno()
        writers = self._writers
        fut: asyncio.Future[None] = self._create_future()
        self._set_writer(fd, fut)
        try:
            while True:
                await fut
                try:
                    return op(sock, *args)
                except _RETRY:
                    pass
                fut = self._rearm(fd, fut, writers)
        finally:
            if writers.get(fd) is fut:
                self._unset_writer(fd)


class UnavailableBackend(ReadinessBackend):
    """Stands in for a backend whose kernel mechanism this platform lacks, so that every
    backend class can be imported (and typechecked) everywhere; instantiating it raises
    :class:`NotImplementedError` (as asyncio does for what a platform lacks).
    :func:`layerloop_selector.available_backends` lists the usable ones."""

    __slots__ = ()

    def __init__(self) -> None:
        raise NotImplementedError(f"the {self.name} backend is not available on {sys.platform}")


def _recv(sock: socket.socket, nbytes: int) -> bytes:
    return sock.recv(nbytes)


def _recv_into(sock: socket.socket, buf: Any) -> int:
    return sock.recv_into(buf)


def _recvfrom(sock: socket.socket, bufsize: int) -> tuple[bytes, Address]:
    return sock.recvfrom(bufsize)


def _recvfrom_into(sock: socket.socket, buf: Any, nbytes: int) -> tuple[int, Address]:
    return sock.recvfrom_into(buf, nbytes)


def _accept(sock: socket.socket) -> tuple[socket.socket, Address]:
    return sock.accept()


def _sendto(sock: socket.socket, data: Any, address: Address) -> int:
    return sock.sendto(data, address)


def _cancel_foreign(watch: Watch) -> None:
    """Cancel a watch the registry no longer holds, if it is a handle given to
    ``add_reader``/``add_writer``: an :class:`InternalHandle` is never cancelled (see its
    docstring), and a ``sock_*`` future is settled by its own operation."""
    if watch.__class__ is not InternalHandle and isinstance(watch, _Handle):
        watch.cancel()


def _not_attached(handle: asyncio.Handle) -> None:
    raise RuntimeError("the backend is not attached to a loop")


def _not_attached_future() -> asyncio.Future[Any]:
    raise RuntimeError("the backend is not attached to a loop")


if TYPE_CHECKING:
    from layerloop_core.abc import StreamBackend

    def _conforms(backend: ReadinessBackend) -> StreamBackend:
        # Static proof that every readiness backend implements the whole seam.
        return backend
