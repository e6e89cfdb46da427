"""The io_uring backend: :class:`layerloop_core.abc.IOBackend` done the completion way.

Facts and invariants
====================

* **One enter per iteration.**  Everything the loop's callbacks asked for during an
  iteration is queued as SQEs and handed to the kernel by the single
  ``io_uring_enter(GETEVENTS)`` of the next :meth:`UringBackend.poll`, which also waits
  (the scheduler's timeout travels as the enter's ``EXT_ARG`` deadline).  Batching is
  what makes a Python driver competitive: one enter carrying one operation costs about
  2 us of Python, one operation in a batch about 0.4 us.
* **user_data.**  Every request carries a fresh integer; ``_ops`` maps it to the object
  whose ``complete(res, flags)`` handles the CQE.  The entry is removed at the last CQE
  of the request (no ``F_MORE``).  A number is never reused, so a late CQE of a
  cancelled request can never reach the object's next request.  ``user_data`` 0 marks
  requests whose outcome nobody needs (cancellations).
* **Nothing runs inside poll.**  ``complete`` only stores results, sets futures (which
  schedules their callbacks) and enqueues prepared handles, never calls user code.
* **Kernel memory.**  An SQE that carries an address keeps its buffer exported through a
  :class:`~._ring.BufferPin` held by the object in ``_ops``; the pin is released only in
  ``complete`` (the CQE proves the kernel is done), also after a cancellation, and also
  during :meth:`UringBackend.close`, which cancels every request and *drains* the CQEs
  before releasing anything.  A request that does not complete within the drain keeps
  its memory forever (``_ABANDONED``): a leak is better than kernel writes into freed
  memory.
* **Closing an fd does not cancel its requests**: a request holds a reference to the
  file, so the socket stays open (the peer sees no FIN) until the request completes.
  Streams, listeners and watches therefore cancel by ``user_data`` first, wait for the
  CQEs and only then close (see ``_streams.py``).
* **add_reader/add_writer** are level-triggered.  A multishot poll request is edge-like
  (it posts when the file's wait queue is woken, not while it stays ready), so each watch
  keeps one single-shot ``POLL_ADD`` in flight and re-arms it when it fires: an fd that
  stays readable fires on every iteration, exactly as with epoll.
* **Wakeups** from other threads: ``SINGLE_ISSUER`` forbids submitting from them, so an
  eventfd ``READ`` stays in flight; ``wakeup()`` writes the eventfd, the READ completes
  (resetting the counter) and is re-armed.  Signals reach the loop through the core's
  ``set_wakeup_fd`` socket, which the core watches with ``add_reader``; a signal also
  interrupts the enter (``EINTR``), which counts as an early return.
* **sock_* operations.**  Each first tries the non-blocking system call (the cheapest
  path when data is already there), and only then submits: ``RECV``, ``SEND`` and
  ``ACCEPT`` requests carry the I/O itself; ``sock_connect``, ``sock_recvfrom(_into)``,
  ``sock_sendto`` and ``sock_sendfile`` wait on a single-shot ``POLL_ADD`` and then do
  the call (no ``sockaddr`` marshalling).  A cancelled operation whose request finished
  in the kernel anyway (the race of contract point 5) keeps its outcome for the next
  operation of the same kind on the same socket, so no data or connection is lost.
* **fork.**  The rings are mapped ``MADV_DONTFORK``: the child has no mapping and must
  not touch it; :meth:`after_fork_in_child` closes the child's fd copies only.
"""

from __future__ import annotations

import asyncio
import errno
import io
import os
import socket
import stat
import time
import weakref
from collections.abc import Callable, Sequence
from typing import Any, Final

from layerloop_core.abc import Address, BackendKind, DatagramOwner, Enqueue, FileLike, StreamOwner

from ._common import (
    ACCEPT_FLAGS,
    DRAIN_TIMEOUT,
    MAX_TIMEOUT,
    POLLIN,
    POLLOUT,
    RECV_BUFFER_SIZE,
    RECV_BUFFERS,
    SEND_FLAGS,
    Completion,
    UringUnavailableError,
    error_from,
    eventfd_write,
    new_eventfd,
    peer_address,
    sendfile,
)
from ._probe import probe_uring
from ._ring import (
    CQE_BUFFER_SHIFT,
    CQE_F_BUFFER,
    CQE_F_MORE,
    OFFSET_CURRENT,
    OP_ACCEPT,
    OP_ASYNC_CANCEL,
    OP_POLL_ADD,
    OP_READ,
    OP_RECV,
    OP_SEND,
    SETUP_DEFER_TASKRUN,
    BufferPin,
    BufferRingDriver,
    Ring,
    RingDriver,
    SliceCopies,
)
from ._streams import UringConnect, UringDatagram, UringListener, UringStream

#: A multishot RECV's data, with more to come.
_DATA_AND_MORE: Final = CQE_F_BUFFER | CQE_F_MORE

__all__ = ["MAX_TIMEOUT", "UringBackend", "UringUnavailableError"]

_ECANCELED: Final = errno.ECANCELED
_RETRY: Final = (BlockingIOError, InterruptedError)

#: Objects whose requests never reported before their ring was closed: their memory may
#: still be written by the kernel, so it is never freed.
_ABANDONED: list[object] = []


# -- add_reader/add_writer ---------------------------------------------------------------


class _Watch(Completion):
    __slots__ = ("active", "backend", "fd", "handle", "mask", "ud")

    def __init__(self, backend: UringBackend, fd: int, mask: int, handle: asyncio.Handle) -> None:
        self.backend = backend
        self.fd = fd
        self.mask = mask
        self.handle = handle
        self.active = True
        self.ud = 0

    def arm(self) -> None:
        self.ud = self.backend._submit(self, OP_POLL_ADD, self.fd, 0, 0, 0, self.mask)

    def complete(self, res: int, flags: int) -> None:
        self.ud = 0
        if not self.active:
            return
        handle = self.handle
        if handle.cancelled():
            self.backend._forget_watch(self)
            return
        self.backend._enqueue(handle)
        if res >= 0:
            # Level-triggered: ask again; if still ready it fires next iteration.
            self.arm()
        else:
            # EBADF and friends: report once (the callback sees the error) and stop.
            self.backend._forget_watch(self)


# -- sock_* operations -------------------------------------------------------------------

_KIND_RECV: Final = 1
_KIND_RECV_INTO: Final = 2
_KIND_ACCEPT: Final = 3
_KIND_OTHER: Final = 0


class _FutureOp(Completion):
    """A request awaited by a sock_* coroutine."""

    __slots__ = ("backend", "buffer", "future", "kind", "pin", "sock")

    def __init__(
        self,
        backend: UringBackend,
        future: asyncio.Future[int],
        kind: int,
        sock: socket.socket | None,
        buffer: Any,
    ) -> None:
        self.backend = backend
        self.future = future
        self.kind = kind
        self.sock = sock
        self.buffer = buffer
        self.pin: BufferPin | None = None

    def complete(self, res: int, flags: int) -> None:
        pin = self.pin
        if pin is not None:
            self.pin = None
            pin.release()
        future = self.future
        if not future.done():
            future.set_result(res)
        elif res >= 0 and self.sock is not None:
            # The awaiting task was cancelled, but the kernel finished first.
            self.backend._salvage(self.kind, self.sock, self.buffer, res)
        self.buffer = None

    def abandon(self) -> None:
        pin = self.pin
        if pin is not None:
            self.pin = None
            pin.release()
        self.buffer = None


class _Wakeup(Completion):
    """The eventfd READ that other threads complete through ``wakeup()``."""

    __slots__ = ("backend", "buffer", "pin")

    def __init__(self, backend: UringBackend) -> None:
        self.backend = backend
        self.buffer = bytearray(8)
        self.pin = BufferPin()
        self.pin.pin(self.buffer, True)

    def arm(self) -> None:
        backend = self.backend
        backend._submit(self, OP_READ, backend._wake_fd, self.pin.address, 8, OFFSET_CURRENT, 0)

    def complete(self, res: int, flags: int) -> None:
        backend = self.backend
        if not backend._closed:
            backend._wake_pending = False
            self.arm()

    def abandon(self) -> None:
        self.pin.release()


class UringBackend:
    """:class:`layerloop_core.abc.StreamBackend` over Linux io_uring.

    Raises :class:`UringUnavailableError` (a ``RuntimeError``) when io_uring cannot be
    used here, with the probe's reason; see :func:`~layerloop_proactor.probe_uring`.
    *driver* replaces the ctypes ring (any :class:`~layerloop_proactor.RingDriver`).
    *recv_buffers* is the number of 16 KiB buffers in the ring that multishot receives
    share (a power of two; ``0`` reads every time into a buffer the owner lends).
    """

    __slots__ = (
        "__weakref__",
        "_buf_area",
        "_buf_starts",
        "_closed",
        "_create_future",
        "_enqueue",
        "_loop",
        "_next_ud",
        "_ops",
        "_poll_first",
        "_readers",
        "_returned",
        "_ring",
        "_stash",
        "_wake_fd",
        "_wake_pending",
        "_waker",
        "_writers",
        "bytes_read_size",
        "reads_bytes",
    )

    name: str = "uring"
    kind: BackendKind = "completion"

    def __init__(
        self,
        *,
        entries: int = 256,
        driver: RingDriver | None = None,
        recv_buffers: int = RECV_BUFFERS,
    ) -> None:
        self._closed = True
        if driver is None:
            verdict = probe_uring()
            if not verdict.usable:
                raise UringUnavailableError(verdict.reason)
            driver = Ring(entries)
        self._ring: RingDriver = driver
        # RECVSEND_POLL_FIRST is 5.19+; DEFER_TASKRUN (6.1+) proves the kernel is newer.
        self._poll_first = bool(driver.setup_flags & SETUP_DEFER_TASKRUN)
        self._ops: dict[int, Completion] = {}
        self._next_ud = 1
        self._readers: dict[int, _Watch] = {}
        self._writers: dict[int, _Watch] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._enqueue: Enqueue = _not_attached
        self._create_future: Callable[[], asyncio.Future[Any]] = _not_attached_future
        self._stash: weakref.WeakKeyDictionary[socket.socket, list[tuple[int, Any]]] = (
            weakref.WeakKeyDictionary()
        )
        self._wake_pending = False
        # Multishot receives into a provided-buffer ring, for stream owners that take
        # bytes (layerloop_core.abc.BytesStreamOwner): one request per connection
        # instead of one per message.  DEFER_TASKRUN (6.1+) proves the kernel has
        # buffer rings (5.19) and multishot RECV (6.0).
        #: Whether socket streams deliver bytes objects to owners that want them.
        self.reads_bytes = False
        #: The most one such read delivers; a read this long suggests a bulk transfer.
        self.bytes_read_size = RECV_BUFFER_SIZE
        self._buf_area: SliceCopies = b""
        self._buf_starts: Sequence[int] = ()
        # The provided buffers copied out, in CQE order: the driver's list, which its
        # next enter hands back to the kernel.
        self._returned: list[int] = []
        provide = getattr(driver, "provide_buffers", None)
        try:
            if recv_buffers and provide is not None and self._poll_first:
                self.reads_bytes = bool(provide(recv_buffers, RECV_BUFFER_SIZE))
            if self.reads_bytes:
                buffers: BufferRingDriver = driver  # type: ignore[assignment]
                self._buf_area, self._buf_starts = buffers.buffer_area()
                self._returned = buffers.returned_buffers()
            self._wake_fd = new_eventfd()
        except BaseException:
            driver.close()
            raise
        self._closed = False
        self._waker = _Wakeup(self)
        self._waker.arm()

    def __repr__(self) -> str:
        if self._closed:
            return f"<{type(self).__name__} closed>"
        return (
            f"<{type(self).__name__} ring={self._ring!r} in_flight={len(self._ops)} "
            f"readers={len(self._readers)} writers={len(self._writers)}>"
        )

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

    def _submit(  # noqa: PLR0917 - the SQE's fields, on the hot path
        self,
        op: Completion,
        opcode: int,
        fd: int,
        addr: int,
        length: int,
        offset: int,
        op_flags: int,
        ioprio: int = 0,
    ) -> int:
        """Queue a request completed by *op*; returns its user_data."""
        if self._closed:
            raise RuntimeError("the backend is closed")
        ud = self._next_ud
        self._next_ud = ud + 1
        self._ring.prep(opcode, fd, addr, length, offset, op_flags, ud, ioprio)
        self._ops[ud] = op
        return ud

    def _withdraw_or_cancel(self, ud: int) -> None:
        """Cancel request *ud*; if the kernel has not been handed it yet, it becomes a
        ``NOP`` instead, so a withdrawn send never reaches the socket (an aborted
        transport loses its queued bytes, as on the readiness backends).  Only for
        requests whose owner reads a cancelled outcome from a 0 result too."""
        if ud and not self._closed and ud in self._ops and not self._ring.withdraw(ud):
            self._ring.prep(OP_ASYNC_CANCEL, -1, ud, 0, 0, 0, 0)

    def _cancel(self, ud: int) -> None:
        """Ask the kernel to cancel request *ud*; its CQE still arrives (contract 5)."""
        if ud and not self._closed and ud in self._ops:
            self._ring.prep(OP_ASYNC_CANCEL, -1, ud, 0, 0, 0, 0)

    def poll(self, timeout: float | None) -> None:
        """Submit what the iteration queued, wait up to *timeout*, dispatch completions."""
        if self._closed:
            return
        ring = self._ring
        if timeout is not None and timeout > MAX_TIMEOUT:
            timeout = MAX_TIMEOUT
        ring.enter(timeout)
        ops = self._ops
        # Bound once per iteration: the steady-state branch below runs once per message.
        buf_starts = self._buf_starts
        buf_area = self._buf_area
        hand_back = self._returned.append
        for ud, res, flags in ring.completions():
            if flags & _DATA_AND_MORE == _DATA_AND_MORE:
                # The steady state of every connection that reads bytes: an arrival of
                # its multishot RECV (the only request that selects provided buffers;
                # _MultiRecv.complete handles every other case the same way).  Copy it
                # out; the next enter hands the buffer back.
                stream = ops[ud].stream  # type: ignore[attr-defined]
                if stream._reading:
                    bid = flags >> CQE_BUFFER_SHIFT
                    start = buf_starts[bid]
                    stream._rchunks.append(buf_area[start : start + res])
                    hand_back(bid)
                    if not stream._rqueued:
                        stream._rqueued = True
                        self._enqueue(stream._chunks_handle)
                    continue
            # The last CQE of a request (no F_MORE) retires its user_data.
            op = ops.get(ud) if flags & CQE_F_MORE else ops.pop(ud, None)
            if op is not None:
                op.complete(res, flags)

    def _take_buffer(self, bid: int, nbytes: int) -> bytes:
        """The first *nbytes* of provided buffer *bid*, copied out; the buffer goes back
        to the kernel at the next enter."""
        start = self._buf_starts[bid]
        self._returned.append(bid)
        return self._buf_area[start : start + nbytes]

    def wakeup(self) -> None:
        """Make the current or the next :meth:`poll` return promptly.  Thread-safe."""
        if self._wake_pending:
            return
        self._wake_pending = True
        try:
            eventfd_write(self._wake_fd)
        except OSError:
            if not self._closed:
                self._wake_pending = False

    def close(self) -> None:
        """Cancel every request, drain the completions, release memory, close.  Idempotent."""
        if self._closed:
            return
        for watch in (*self._readers.values(), *self._writers.values()):
            watch.active = False
            watch.handle.cancel()
        self._readers.clear()
        self._writers.clear()
        ring = self._ring
        ops = self._ops
        try:
            if ops:
                # One ASYNC_CANCEL per request: cancel-by-any needs 5.19 and the
                # per-request form reports cleanly on every kernel.
                for ud in list(ops):
                    ring.prep(OP_ASYNC_CANCEL, -1, ud, 0, 0, 0, 0)
                deadline = time.monotonic() + DRAIN_TIMEOUT
                while ops:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    ring.enter(min(left, 0.05))
                    for ud, _res, flags in ring.completions():
                        if not flags & CQE_F_MORE:
                            op = ops.pop(ud, None)
                            if op is not None:
                                op.abandon()
        finally:
            self._closed = True
            self._wake_pending = True
            if ops:
                _ABANDONED.extend(ops.values())  # the kernel may still write there
                if self.reads_bytes:
                    _ABANDONED.append(ring.abandon_buffers())  # type: ignore[attr-defined]
            else:
                self._waker.abandon()
            ops.clear()
            ring.close()
            os.close(self._wake_fd)
            self._wake_fd = -1

    def after_fork_in_child(self) -> None:
        """In a forked child: close the fd copies; never touch the parent's rings."""
        if self._closed:
            return
        self._closed = True
        self._wake_pending = True
        self._ring.forget()
        try:  # noqa: SIM105
            os.close(self._wake_fd)
        except OSError:
            pass
        self._wake_fd = -1
        self._readers.clear()
        self._writers.clear()
        # The child's copies of in-flight buffers are never written by the kernel (the
        # requests belong to the parent), so dropping them is safe.
        self._ops.clear()

    # -- readiness watches ---------------------------------------------------------------

    def _check_pollable(self, fd: int) -> None:
        mode = os.fstat(fd).st_mode  # OSError(EBADF) for a closed fd, as epoll_ctl
        if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
            # Always ready, nothing to wait for; epoll refuses them the same way.
            raise PermissionError(errno.EPERM, os.strerror(errno.EPERM))

    def _add_watch(
        self, table: dict[int, _Watch], fd: int, mask: int, handle: asyncio.Handle
    ) -> None:
        if self._closed:
            raise RuntimeError("the backend is closed")
        old = table.get(fd)
        if old is not None:
            if old.handle is not handle:
                old.handle.cancel()
                old.handle = handle
            return
        self._check_pollable(fd)
        watch = _Watch(self, fd, mask, handle)
        table[fd] = watch
        watch.arm()

    def _remove_watch(self, table: dict[int, _Watch], fd: int) -> bool:
        watch = table.pop(fd, None)
        if watch is None:
            return False
        watch.active = False
        self._cancel(watch.ud)
        watch.handle.cancel()
        return True

    def _forget_watch(self, watch: _Watch) -> None:
        table = self._readers if watch.mask == POLLIN else self._writers
        if table.get(watch.fd) is watch:
            del table[watch.fd]
        watch.active = False

    def add_reader(self, fd: int, handle: asyncio.Handle) -> None:
        """Enqueue *handle* whenever *fd* is readable, until :meth:`remove_reader`."""
        self._add_watch(self._readers, fd, POLLIN, handle)

    def add_writer(self, fd: int, handle: asyncio.Handle) -> None:
        """Enqueue *handle* whenever *fd* is writable, until :meth:`remove_writer`."""
        self._add_watch(self._writers, fd, POLLOUT, handle)

    def remove_reader(self, fd: int) -> bool:
        """Stop watching *fd* for reading; ``False`` if it was not watched."""
        return self._remove_watch(self._readers, fd)

    def remove_writer(self, fd: int) -> bool:
        """Stop watching *fd* for writing; ``False`` if it was not watched."""
        return self._remove_watch(self._writers, fd)

    # -- socket operations -------------------------------------------------------------

    def _take_stash(self, sock: socket.socket, kind: int) -> Any:
        saved = self._stash.get(sock)
        if saved:
            for i, (k, value) in enumerate(saved):
                if k == kind:
                    del saved[i]
                    return value
        return None

    def _salvage(self, kind: int, sock: socket.socket, buffer: Any, res: int) -> None:
        """Keep the outcome of a request whose awaiting task was cancelled."""
        if kind == _KIND_ACCEPT:
            conn = socket.socket(fileno=res)
            self._stash.setdefault(sock, []).append((kind, conn))
        elif kind in (_KIND_RECV, _KIND_RECV_INTO) and res > 0:
            data = bytes(memoryview(buffer)[:res])
            self._stash.setdefault(sock, []).append((_KIND_RECV, data))

    async def _run(  # noqa: PLR0917
        self,
        kind: int,
        sock: socket.socket | None,
        buffer: Any,
        writable: bool,
        opcode: int,
        fd: int,
        length: int,
        op_flags: int,
        ioprio: int = 0,
    ) -> int:
        """Submit one request (pinning *buffer* if given) and await its result."""
        future: asyncio.Future[int] = self._create_future()
        op = _FutureOp(self, future, kind, sock, buffer)
        addr = 0
        if buffer is not None:
            pin = BufferPin()
            addr = pin.pin(buffer, writable)
            op.pin = pin
        try:
            ud = self._submit(op, opcode, fd, addr, length, 0, op_flags, ioprio)
        except BaseException:
            if op.pin is not None:
                op.pin.release()
            raise
        try:
            return await future
        except asyncio.CancelledError:
            if not future.cancelled():
                # The request completed, then the task was cancelled before resuming.
                res = future.result()
                if res >= 0 and sock is not None:
                    self._salvage(kind, sock, buffer, res)
            else:
                self._cancel(ud)
            raise

    async def _wait(self, fd: int, mask: int) -> None:
        """Wait until *fd* reports *mask* (or an error/hang-up)."""
        res = await self._run(_KIND_OTHER, None, None, False, OP_POLL_ADD, fd, 0, mask)
        if res < 0:
            raise error_from(res)

    async def sock_recv(self, sock: socket.socket, nbytes: int) -> bytes:
        """Receive up to *nbytes*; ``b""`` at end of stream."""
        if self._stash:
            saved = self._take_stash(sock, _KIND_RECV)
            if saved is not None:
                return saved  # type: ignore[no-any-return]
        try:
            return sock.recv(nbytes)
        except _RETRY:
            pass
        buf = bytearray(nbytes)
        res = await self._run(_KIND_RECV, sock, buf, True, OP_RECV, sock.fileno(), nbytes, 0)
        if res < 0:
            raise error_from(res)
        del buf[res:]
        return bytes(buf)

    async def sock_recv_into(self, sock: socket.socket, buf: Any) -> int:
        """Receive into *buf*; return the number of bytes received."""
        if self._stash:
            saved = self._take_stash(sock, _KIND_RECV)
            if saved is not None:
                view = memoryview(buf).cast("B")
                n = min(len(view), len(saved))
                view[:n] = saved[:n]
                if n < len(saved):
                    self._stash.setdefault(sock, []).insert(0, (_KIND_RECV, saved[n:]))
                return n
        try:
            return sock.recv_into(buf)
        except _RETRY:
            pass
        view = memoryview(buf).cast("B")
        res = await self._run(
            _KIND_RECV_INTO, sock, view, True, OP_RECV, sock.fileno(), len(view), 0
        )
        if res < 0:
            raise error_from(res)
        return res

    async def sock_recvfrom(self, sock: socket.socket, bufsize: int) -> tuple[bytes, Address]:
        """Receive one datagram of at most *bufsize* bytes and its sender's address."""
        while True:
            try:
                return sock.recvfrom(bufsize)
            except _RETRY:
                await self._wait(sock.fileno(), POLLIN)

    async def sock_recvfrom_into(
        self, sock: socket.socket, buf: Any, nbytes: int
    ) -> tuple[int, Address]:
        """Receive one datagram into *buf* (at most *nbytes*; 0 means ``len(buf)``)."""
        if not nbytes:
            nbytes = len(buf)
        while True:
            try:
                return sock.recvfrom_into(buf, nbytes)
            except _RETRY:
                await self._wait(sock.fileno(), POLLIN)

    async def sock_accept(self, sock: socket.socket) -> tuple[socket.socket, Address]:
        """Accept one connection; the new socket is non-blocking."""
        conn: socket.socket | None = None
        if self._stash:
            conn = self._take_stash(sock, _KIND_ACCEPT)
        if conn is None:
            try:
                conn, address = sock.accept()
                conn.setblocking(False)
                return conn, address
            except _RETRY:
                pass
            res = await self._run(
                _KIND_ACCEPT, sock, None, False, OP_ACCEPT, sock.fileno(), 0, ACCEPT_FLAGS
            )
            if res < 0:
                raise error_from(res)
            conn = socket.socket(fileno=res)
        conn.setblocking(False)
        return conn, peer_address(conn)

    async def sock_sendall(self, sock: socket.socket, data: Any) -> None:
        """Send every byte of *data*, one ``SEND`` request in flight at a time."""
        try:
            sent = sock.send(data)
        except _RETRY:
            sent = 0
        view = memoryview(data).cast("B")
        total = len(view)
        fd = sock.fileno()
        while sent < total:
            rest = view[sent:]
            res = await self._run(
                _KIND_OTHER, None, rest, False, OP_SEND, fd, len(rest), SEND_FLAGS
            )
            if res < 0:
                raise error_from(res)
            sent += res

    async def sock_sendto(self, sock: socket.socket, data: Any, address: Address) -> int:
        """Send one datagram to *address*; return the number of bytes sent."""
        while True:
            try:
                return sock.sendto(data, address)
            except _RETRY:
                await self._wait(sock.fileno(), POLLOUT)

    async def sock_connect(self, sock: socket.socket, address: Address) -> None:
        """Connect *sock* to the resolved *address*."""
        try:
            sock.connect(address)
            return
        except _RETRY:
            pass
        await self._wait(sock.fileno(), POLLOUT)
        err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            raise OSError(err, f"Connect call failed {address}")

    async def sock_sendfile_native(
        self, sock: socket.socket, file: Any, offset: int, count: int | None
    ) -> int:
        """Send *count* bytes (``None``: to end of file) of *file* from *offset* with
        ``os.sendfile``, waiting for writability with poll requests."""
        try:
            fileno = file.fileno()
            st = os.fstat(fileno)
        except (AttributeError, io.UnsupportedOperation, OSError) as exc:
            raise asyncio.SendfileNotAvailableError("not a regular file") from exc
        if not stat.S_ISREG(st.st_mode):
            raise asyncio.SendfileNotAvailableError("not a regular file")
        blocksize = count if count else st.st_size
        if not blocksize:
            return 0
        fd = sock.fileno()
        total = 0
        waited = False
        try:
            while True:
                if count:
                    blocksize = count - total
                    if blocksize <= 0:
                        return total
                try:
                    sent = sendfile(fd, fileno, offset + total, blocksize)
                except _RETRY:
                    await self._wait(fd, POLLOUT)
                    waited = True
                    continue
                except OSError as exc:
                    if waited and exc.errno == errno.ENOTCONN and type(exc) is not ConnectionError:
                        raise ConnectionError(errno.ENOTCONN, "socket is not connected") from exc
                    if total == 0:
                        raise asyncio.SendfileNotAvailableError("os.sendfile call failed") from exc
                    raise
                if sent == 0:
                    return total
                total += sent
        finally:
            if total > 0:
                seek = getattr(file, "seek", None)
                if seek is not None:
                    seek(offset + total)
                else:
                    os.lseek(fileno, offset + total, os.SEEK_SET)

    # -- streams, listeners, connects, datagrams -----------------------------------------

    def open_stream(self, fileobj: FileLike, owner: StreamOwner) -> UringStream:
        """Take over the connected socket, pipe end or character device *fileobj*."""
        return UringStream(self, fileobj, owner)

    def listen(
        self,
        sock: socket.socket,
        on_accept: Callable[[socket.socket | None, Address, OSError | None], None],
        *,
        backlog: int = 100,
    ) -> UringListener:
        """Accept connections on *sock* with a multishot ``ACCEPT`` request."""
        return UringListener(self, sock, on_accept, backlog)

    def connect(
        self, sock: socket.socket, address: Address, done: Callable[[BaseException | None], None]
    ) -> UringConnect:
        """Connect *sock* to the resolved *address*; *done* reports the outcome."""
        return UringConnect(self, sock, address, done)

    def open_datagram(self, sock: socket.socket, owner: DatagramOwner) -> UringDatagram:
        """Take over the bound, non-blocking datagram *sock*."""
        return UringDatagram(self, sock, owner)


def _not_attached(handle: asyncio.Handle) -> None:
    raise RuntimeError("the backend is not attached to a loop")


def _not_attached_future() -> asyncio.Future[Any]:
    raise RuntimeError("the backend is not attached to a loop")
