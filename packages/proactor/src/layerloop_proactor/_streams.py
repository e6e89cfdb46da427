"""Streams, listeners, connects and datagram endpoints done the completion way: the
:class:`layerloop_core.abc.StreamBackend` half of :class:`~._backend.UringBackend`.

Each object keeps at most one read request and one write request in flight (the kernel
does not order independent requests: two SENDs on one socket can interleave their
bytes) and owns two prepared :class:`asyncio.Handle` objects.  A CQE stores its result
in the object and enqueues the matching handle; the handle reports to the owner from the
ready queue (contract point 1) with no allocation per operation.

* **Reads** land in the owner's lent buffer: ``get_read_buffer`` is asked when the read
  is *submitted* (from the read handle, never inside ``poll``), and the buffer stays
  pinned until the CQE.  ``stop_reading`` leaves an in-flight read alone; its outcome is
  held and delivered first thing after ``start_reading``.  A view lent twice in a row
  (a transport's reused buffer) keeps its pin while the reads follow one another, so a
  steady reader's RECV costs no new pin (see :meth:`UringStream._note_lent`); a reader
  lending a fresh view per read is pinned per read, as the contract says.
* **Writes** are tried synchronously by the owner (:meth:`UringStream.try_write`); what
  the kernel did not take goes out as one ``SEND``/``WRITE`` request.  A sequence of
  buffers is joined into one buffer (one copy) and sent as one request.
* **close** cancels the in-flight requests by ``user_data``, waits for their CQEs, and
  only then closes the fd: a request holds the file open, so closing first would leave
  the connection up (the peer sees no FIN) and the memory in use.  The report (*done*)
  runs from a callback queued by ``close``, where a readiness backend reports, because
  the next poll hands the cancels to the kernel and brings their CQEs back first.
* **Listeners** keep a multishot ``ACCEPT`` armed while accepting.  **Connects**,
  **sendfile** and **datagrams** wait on single-shot ``POLL_ADD`` requests and then make
  the system call (no ``sockaddr`` marshalling in Python).
"""

from __future__ import annotations

import asyncio
import ctypes
import errno
import os
import socket
import stat
import sys
import weakref
from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Final

from layerloop_core.abc import Address, BytesStreamOwner, DatagramOwner, FileLike, StreamOwner

from ._common import (
    ACCEPT_FLAGS,
    POLLIN,
    POLLOUT,
    SEND_FLAGS,
    Completion,
    error_from,
    peer_address,
    sendfile,
)
from ._ring import (
    ACCEPT_MULTISHOT,
    CQE_BUFFER_SHIFT,
    CQE_F_BUFFER,
    CQE_F_MORE,
    OFFSET_CURRENT,
    OP_ACCEPT,
    OP_POLL_ADD,
    OP_READ,
    OP_RECV,
    OP_SEND,
    OP_WRITE,
    RECVSEND_POLL_FIRST,
    BufferPin,
)

if TYPE_CHECKING:
    from ._backend import UringBackend

__all__ = ["UringConnect", "UringDatagram", "UringListener", "UringStream"]

_RETRY: Final = (BlockingIOError, InterruptedError)
#: The pin of a lent read buffer: ``c_char.from_buffer(view)`` holds a buffer export
#: (the memory can be neither freed nor moved, even if the lender releases its own view)
#: until the ctypes object is dropped; one C call where BufferPin makes two through
#: ``ctypes.pythonapi``.  It refuses read-only (TypeError), non-contiguous (TypeError)
#: and empty (ValueError) buffers.
_c_char_from_buffer = ctypes.c_char.from_buffer
_addressof = ctypes.addressof
_weakref = weakref.ref
_Handle = asyncio.Handle
_ECANCELED: Final = errno.ECANCELED
#: A multishot receive that ended with one of these is armed again if still reading:
#: cancelled (stop_reading, or a switch to lent buffers) or out of provided buffers.
_MULTISHOT_RESTARTS: Final = (-errno.ECANCELED, -errno.ENOBUFS)

WriteDone = Callable[[int, "BaseException | None"], None]
ErrorDone = Callable[["BaseException | None"], None]

#: The writing side of a stream.
_IDLE: Final = 0
_WRITE: Final = 1
_SENDFILE: Final = 2

DATAGRAM_BUFFER: Final = 256 * 1024
#: Datagrams read per readiness report before yielding to other callbacks.
DATAGRAM_BATCH: Final = 32


def _loop_of(backend: UringBackend) -> asyncio.AbstractEventLoop:
    loop = backend._loop
    if loop is None:
        raise RuntimeError("the backend is not attached to a loop")
    if backend._closed:
        raise RuntimeError("the backend is closed")
    return loop


def _close_fileobj(fileobj: FileLike) -> None:
    try:
        if isinstance(fileobj, int):
            os.close(fileobj)
        else:
            close = getattr(fileobj, "close", None)
            if close is not None:
                close()
            else:
                os.close(fileobj.fileno())
    except OSError:
        pass


def _write_only(fd: int) -> bool:
    """Whether *fd* was opened write-only (the write end of a pipe)."""
    if sys.platform == "win32":
        return False
    else:
        import fcntl  # noqa: PLC0415 - POSIX only

        try:
            return fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_WRONLY
        except OSError:
            return False


class _WriteOp(Completion):
    __slots__ = ("stream",)

    def __init__(self, stream: UringStream) -> None:
        self.stream = stream

    def complete(self, res: int, flags: int) -> None:
        self.stream._write_completed(res)

    def abandon(self) -> None:
        stream = self.stream
        stream._wud = 0
        stream._wpin.release()
        if stream._closed:
            # The loop is closing: its drain brought this CQE, so the kernel is done.
            stream._close_fd_if_unused()


class _MultiRecv(Completion):
    """The completion of a stream's multishot ``RECV``: every CQE but the last carries
    ``F_MORE``; each one with data names the provided buffer it filled.

    Runs inside poll: the data is copied out (the buffer goes back at the next enter),
    the bytes queued on the stream (``_rchunks``, in arrival order) for its read handle.
    The request ends (no ``F_MORE``) at end of stream (0) or on an error (kept in
    ``_rend`` and reported after the data), when cancelled (``stop_reading``, or a
    switch back to lent buffers), or with ``ENOBUFS`` when every provided buffer was
    taken within one ``io_uring_enter``; the read handle then arms the next read if the
    stream still reads.
    """

    __slots__ = ("stream",)

    def __init__(self, stream: UringStream) -> None:
        self.stream = stream

    def complete(self, res: int, flags: int) -> None:
        # The steady state (data for a reading stream, the multishot stays armed) is
        # handled inline by UringBackend.poll, and the same way below.
        stream = self.stream
        if flags & CQE_F_BUFFER:
            if stream._closed:
                stream._take_buffer(flags >> CQE_BUFFER_SHIFT, 0)
            else:
                stream._rchunks.append(stream._take_buffer(flags >> CQE_BUFFER_SHIFT, res))
        if not flags & CQE_F_MORE:
            stream._rud = 0
            stream._rmulti = False
            if stream._closed:
                stream._closing_completion()
                return
            if not flags & CQE_F_BUFFER and res not in _MULTISHOT_RESTARTS:
                stream._rend = res  # end of stream (0) or -errno, after the data
        if stream._reading and not stream._rqueued:
            stream._rqueued = True
            stream._enqueue(stream._chunks_handle)

    def abandon(self) -> None:
        stream = self.stream
        stream._rud = 0
        stream._rmulti = False
        if stream._closed:
            # The loop is closing: its drain brought this CQE, so the kernel is done.
            stream._close_fd_if_unused()


class UringStream(Completion):
    """:class:`layerloop_core.abc.Stream` over io_uring.

    Two ways to read a socket, chosen per read request:

    * **bytes** (an owner that wants them, see
      :class:`layerloop_core.abc.BytesStreamOwner`, on a backend with provided
      buffers): one multishot ``RECV`` stays armed for as long as the stream reads,
      and each arrival is copied out of the shared buffer ring into a new ``bytes``
      (:class:`_MultiRecv`).  One request per connection, not one per message, and no
      memory held by an idle connection.
    * **lent buffers** (pipes, bulk transfers, owners that take no bytes): one
      ``RECV``/``READ`` in flight into the buffer the owner lends.  The stream is itself
      the completion of those requests (:meth:`complete`): the hot path of a steady
      reader is one CQE, one method call, one enqueued handle.

    A switch between the two waits for the request in flight to end, so data is
    delivered in arrival order.
    """

    __slots__ = (
        "_backend",
        "_bytes_owner",
        "_chunks_handle",
        "_close_done",
        "_close_due",
        "_closed",
        "_enqueue",
        "_fd",
        "_fileobj",
        "_held",
        "_is_sock",
        "_loop",
        "_multi_op",
        "_owner",
        "_poll_first",
        "_rcaddr",
        "_rcfresh",
        "_rchunks",
        "_rcpin",
        "_rcseen",
        "_rcview",
        "_rdrained",
        "_read_handle",
        "_readable",
        "_reading",
        "_rend",
        "_rkeep",
        "_rlen",
        "_rmulti",
        "_rpoll",
        "_rqueued",
        "_rres",
        "_rud",
        "_send",
        "_shut",
        "_shutdown_done",
        "_sock",
        "_take_buffer",
        "_wcancel",
        "_wcount",
        "_wdata",
        "_wdone",
        "_wfile",
        "_wlen",
        "_woffset",
        "_wpin",
        "_wpos",
        "_wres",
        "_write_handle",
        "_write_only",
        "_write_op",
        "_wstate",
        "_wud",
    )

    def __init__(self, backend: UringBackend, fileobj: FileLike, owner: StreamOwner) -> None:
        loop = _loop_of(backend)
        fd = fileobj if isinstance(fileobj, int) else fileobj.fileno()
        if fd < 0:
            raise ValueError(f"invalid file descriptor: {fd}")
        mode = os.fstat(fd).st_mode
        if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
            raise PermissionError(errno.EPERM, "regular files and directories cannot be streamed")
        self._backend = backend
        self._loop = loop
        self._fileobj = fileobj
        self._fd = fd
        self._owner = owner
        self._sock = fileobj if isinstance(fileobj, socket.socket) else None
        self._is_sock = self._sock is not None
        self._send: Callable[[memoryview], int] = (
            self._sock.send if self._sock is not None else self._fd_write
        )
        self._write_only = not self._is_sock and _write_only(fd)
        self._read_handle = _Handle(self._on_read, (), loop)
        self._write_handle = _Handle(self._on_write, (), loop)
        self._write_op = _WriteOp(self)
        # Bytes reads (see the class docstring): the owner that takes them, the
        # multishot's completion, and the data it brought that the read handle has not
        # delivered yet (bytes, b"" for end of stream, or -errno), oldest first.
        bytes_owner: BytesStreamOwner | None = None
        if (
            self._is_sock
            and getattr(backend, "reads_bytes", False)
            and hasattr(owner, "read_bytes")
            and hasattr(owner, "wants_bytes")
        ):
            bytes_owner = owner  # type: ignore[assignment]
        self._bytes_owner = bytes_owner
        self._multi_op = _MultiRecv(self)
        self._chunks_handle = _Handle(self._deliver_chunks, (), loop)
        self._take_buffer = backend._take_buffer
        self._enqueue = backend._enqueue
        self._rchunks: deque[bytes] = deque()
        # How the multishot's data ended, to report after it: 0 (end of stream), -errno.
        self._rend: int | None = None
        # A multishot RECV is in flight and not being cancelled.
        self._rmulti = False
        # The read handle is queued to deliver _rchunks.
        self._rqueued = False
        # The pin of the buffer lent to the in-flight RECV/READ (None: nothing lent).
        self._rkeep: object = None
        # The pin cache (see _note_lent): the view a reader lends again and again (a
        # transport's reused buffer), its pin and its address, so that a steady read
        # costs no new pin; _rcseen watches whether a view is lent a second time,
        # _rcfresh says the reader lends a fresh view per read (nothing to cache).
        self._rcview: memoryview | None = None
        self._rcpin: object = None
        self._rcaddr = 0
        self._rcseen: weakref.ref[memoryview] | None = None
        self._rcfresh = False
        self._wpin = BufferPin()
        # RECV with POLL_FIRST when the last read left the socket drained (it did not
        # fill the buffer): the kernel then skips an attempt that would fail.
        self._poll_first = RECVSEND_POLL_FIRST if self._is_sock and backend._poll_first else 0
        self._rdrained = False
        self._rlen = 0
        self._reading = False
        self._closed = False
        self._close_done: Callable[[], None] | None = None
        # The close's report position has been reached (see close()).
        self._close_due = False
        # Reading side: _rud is the in-flight request (0: none); _held says a result
        # (_rres) is waiting for the read handle.
        self._rud = 0
        self._rres = 0
        self._held = False
        self._rpoll = False
        self._readable = False
        # Writing side.
        self._wstate = _IDLE
        self._wud = 0
        self._wres = 0
        self._wpos = 0
        self._wlen = 0
        self._wdata: object = None
        self._wdone: WriteDone | None = None
        self._wcancel = False
        self._wfile = -1
        self._woffset = 0
        self._wcount = 0
        self._shut = False
        self._shutdown_done: ErrorDone | None = None

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"fd={self._fd}"
        return f"<{type(self).__name__} {state} reading={self._reading} writing={self._wstate}>"

    # -- reading -------------------------------------------------------------------

    def start_reading(self) -> None:
        """Keep one read in flight into the owner's buffers."""
        if self._reading or self._closed:
            return
        self._reading = True
        if self._held:
            self._backend._enqueue(self._read_handle)
        elif self._rchunks or self._rend is not None:
            if not self._rqueued:
                self._rqueued = True
                self._enqueue(self._chunks_handle)
        elif not self._rud:
            owner = self._bytes_owner
            if owner is not None and owner.wants_bytes:
                self._submit_multishot()
            else:
                self._submit_poll()

    def stop_reading(self) -> None:
        """Stop reporting reads.  The in-flight request is cancelled: a poll loses
        nothing, and a receive that raced the cancel is held for the next
        :meth:`start_reading` (so a paused stream keeps no request, and no reference
        to its owner, in the ring)."""
        if self._reading:
            self._reading = False
            self._rmulti = False
            self._drop_read_pin()
            if self._rud:
                self._backend._cancel(self._rud)

    def _drop_read_pin(self) -> None:
        """Empty the pin cache (reading stops): the owner may resize or free the buffer
        once no read is in flight (the in-flight read keeps its own pin, ``_rkeep``)."""
        self._rcview = None
        self._rcpin = None
        self._rcseen = None
        self._rcfresh = False

    def _note_lent(self, buf: memoryview, keeper: object, addr: int) -> None:
        """A view other than the cached one was lent (and pinned by *keeper*): decide
        whether to cache its pin.

        Only a view lent twice in a row is cached, and it stays pinned while the reads
        follow one another (until stop_reading, end of stream, an error or close): the
        lender keeps that view alive between reads, so its exporter cannot be resized
        then anyway.  A reader lending a fresh view per read (a ``BufferedProtocol``
        behind a transport, which may resize its buffer once a read is reported) is
        watched through a weak reference, which pins nothing, and then left alone.
        """
        if self._rcview is not None:
            # The reader switched buffers: forget the old one, watch the new one.
            self._rcview = None
            self._rcpin = None
            self._rcfresh = False
        if self._rcfresh:
            return
        seen = self._rcseen
        if seen is None:
            try:
                self._rcseen = _weakref(buf)
            except TypeError:  # not a memoryview: not worth caching
                self._rcfresh = True
            return
        self._rcseen = None
        if seen() is buf:
            self._rcview = buf
            self._rcpin = keeper
            self._rcaddr = addr
        else:
            self._rcfresh = True

    def _submit_poll(self) -> None:
        # The first read after (re)starting waits for readability before asking the
        # owner for a buffer: get_buffer() runs only once data is there, as on a
        # readiness backend.  Later reads go straight to RECV.
        self._rpoll = True
        self._rud = self._backend._submit(self, OP_POLL_ADD, self._fd, 0, 0, 0, POLLIN)

    def _submit_read(self) -> None:
        """Lend the owner's next buffer to a RECV/READ: if the stream still reads (the
        owner's callbacks may have stopped or closed it) and has nothing in flight."""
        if self._rud:
            return
        if not self._reading or self._closed:
            self._drop_read_pin()
            return
        bytes_owner = self._bytes_owner
        if bytes_owner is not None and bytes_owner.wants_bytes:
            self._submit_multishot()
            return
        try:
            buf = self._owner.get_read_buffer(-1)
            # The owner may have stopped or closed the stream inside get_read_buffer:
            # then nothing is lent.  (mypy narrowed both flags above.)
            if not self._reading or self._closed:  # type: ignore[redundant-expr]
                return  # type: ignore[unreachable]
            if buf is self._rcview:
                # The same view as the previous read, whose pin is still held: the
                # memory can neither have moved nor been freed, so its address stands.
                keeper = self._rcpin
                addr = self._rcaddr
            else:
                # The pin (a buffer export) lives until the CQE: the kernel writes there.
                keeper = _c_char_from_buffer(buf)
                addr = _addressof(keeper)
                if not self._rcfresh:  # (a fresh-view reader never has a cached view)
                    self._note_lent(buf, keeper, addr)
            length = buf.nbytes
            if self._is_sock:
                # Inlined UringBackend._submit: the hot path of every steady reader.
                backend = self._backend
                if backend._closed:
                    raise RuntimeError("the backend is closed")
                ud = backend._next_ud
                backend._next_ud = ud + 1
                backend._ring.prep(
                    OP_RECV,
                    self._fd,
                    addr,
                    length,
                    0,
                    0,
                    ud,
                    self._poll_first if self._rdrained else 0,
                )
                backend._ops[ud] = self
                self._rud = ud
            else:
                self._rud = self._backend._submit(
                    self, OP_READ, self._fd, addr, length, OFFSET_CURRENT, 0
                )
        except BaseException:
            self._reading = False
            raise
        self._rkeep = keeper
        self._rpoll = False
        self._rlen = length

    def _submit_multishot(self) -> None:
        """Arm the multishot RECV of bytes reads (nothing in flight, reading)."""
        self._drop_read_pin()  # no buffer of the owner's is lent in this mode
        backend = self._backend
        if backend._closed:
            raise RuntimeError("the backend is closed")
        ud = backend._next_ud
        backend._next_ud = ud + 1
        backend._ring.prep_recv_multishot(self._fd, ud)  # type: ignore[attr-defined]
        backend._ops[ud] = self._multi_op
        self._rud = ud
        self._rmulti = True
        self._rpoll = False

    def _deliver_chunks(self) -> None:
        """The read handle, for bytes reads: deliver the oldest arrival the multishot
        brought, if the stream reads (``close`` stops reading too).  One per run, as a
        readiness backend delivers one read per readiness report: the rest waits for the
        next iteration, so other callbacks (a ``run_until_complete`` stopping, say) come
        in between as they would on epoll."""
        self._rqueued = False
        chunks = self._rchunks
        # Bytes reads exist only with a bytes owner: no check on this path.
        owner: BytesStreamOwner = self._bytes_owner  # type: ignore[assignment]
        try:
            if self._reading:
                if chunks:
                    owner.read_bytes(chunks.popleft())
                elif self._rend is not None:
                    end = self._rend
                    self._rend = None
                    self._reading = False  # end of stream or an error: reading stops
                    if end:
                        owner.read_failed(error_from(end))
                    else:
                        owner.read_bytes(b"")
        finally:
            # Steady state: all delivered, the multishot armed and still wanted.
            if self._reading and (chunks or not self._rmulti or not owner.wants_bytes):
                self._after_chunks()

    def _after_chunks(self) -> None:
        """Still reading after a delivery: end the multishot at once if the owner wants
        to lend its buffers again (a bulk transfer: its large buffers take over once the
        multishot has ended, and what the multishot still brings comes as bytes first),
        requeue for the arrivals left, or arm the next read if none is in flight."""
        owner = self._bytes_owner
        if self._rmulti and owner is not None and not owner.wants_bytes:
            self._rmulti = False
            self._backend._cancel(self._rud)
        if self._rchunks or self._rend is not None:
            if not self._rqueued:
                self._rqueued = True
                self._enqueue(self._chunks_handle)
        elif not self._rud:
            self._submit_read()  # bytes or a lent buffer, as the owner wants

    def complete(self, res: int, flags: int) -> None:
        """The CQE of the read request (a RECV/READ, or the POLL_ADD before the first)."""
        self._rud = 0
        was_poll = self._rpoll
        if was_poll:
            self._rpoll = False
        else:
            self._rkeep = None  # the kernel is done with the lent buffer
            # A read that did not fill its buffer drained the socket.
            self._rdrained = res < self._rlen
            if res > 0 and self._reading and not self._closed:
                # The steady state, first: data for a reader.
                self._rres = res
                self._held = True
                self._backend._enqueue(self._read_handle)
                return
        if self._closed:
            self._drop_read_pin()
            self._closing_completion()
            return
        if res == -_ECANCELED:
            # Cancelled by stop_reading before anything was read.
            if self._reading:
                self._submit_poll()
            return
        if was_poll:
            if res >= 0 and not self._write_only:
                self._readable = True
            else:
                # Write-only pipe end: readable means the reader went away (POLLERR).
                self._rres = 0 if res >= 0 else res
                self._held = True
        else:
            self._rres = res
            self._held = True
        if self._reading:
            self._backend._enqueue(self._read_handle)

    def abandon(self) -> None:
        self._rud = 0
        self._rkeep = None
        self._drop_read_pin()
        self._rpoll = False
        if self._closed:
            # The loop is closing: its drain brought this CQE, so the kernel is done.
            self._close_fd_if_unused()

    def _on_read(self) -> None:
        if not self._reading or self._closed:
            self._drop_read_pin()
            return
        if not self._held:
            if self._readable:
                self._readable = False
                if not self._rud:
                    self._submit_read()
            elif not self._rud:
                self._submit_poll()
            return
        self._held = False
        res = self._rres
        owner = self._owner
        if res > 0:
            try:
                owner.read_done(res)
            finally:
                # An owner callback that raised still leaves the stream reading (the
                # exception goes to the loop's handler), as on a readiness backend.
                self._submit_read()
        elif res == 0:
            self._reading = False
            self._drop_read_pin()
            owner.read_done(0)
        elif res in (-errno.EAGAIN, -errno.EINTR):
            self._submit_poll()
        else:
            self._reading = False
            self._drop_read_pin()
            owner.read_failed(error_from(res))

    # -- writing -------------------------------------------------------------------

    def _check_can_write(self) -> None:
        if self._closed:
            raise RuntimeError("the stream is closed")
        if self._wstate or self._shut:
            raise RuntimeError(
                "a write, sendfile or shutdown is outstanding"
                if self._wstate
                else "the stream was shut down for writing"
            )

    def try_write(self, data: memoryview) -> int:
        """Write what the kernel takes now; 0 when it would block."""
        # One test on the hot path (a write per echoed message); the checks that
        # raise run only when one of the three flags is set.
        if self._wstate or self._shut or self._closed:
            if self._closed:
                raise OSError(errno.EBADF, "the stream is closed")
            self._check_can_write()  # raises the right error
        try:
            return self._send(data)
        except _RETRY:
            return 0

    def _fd_write(self, data: memoryview) -> int:
        return os.write(self._fd, data)

    def write(self, data: memoryview | Sequence[memoryview], done: WriteDone) -> None:
        """Submit one write request for *data*; *done* reports the count."""
        self._check_can_write()
        if not isinstance(data, memoryview):
            data = memoryview(b"".join(data)) if len(data) != 1 else data[0]
        pin = self._wpin
        addr = pin.pin(data, False)
        try:
            if self._is_sock:
                self._wud = self._backend._submit(
                    self._write_op, OP_SEND, self._fd, addr, pin.length, 0, SEND_FLAGS
                )
            else:
                self._wud = self._backend._submit(
                    self._write_op, OP_WRITE, self._fd, addr, pin.length, OFFSET_CURRENT, 0
                )
        except BaseException:
            pin.release()
            raise
        self._wdata = data
        self._wlen = pin.length
        self._wdone = done
        self._wstate = _WRITE
        self._wpos = 0

    def sendfile(self, fd: int, offset: int, count: int, done: WriteDone) -> None:
        """Send *count* bytes of the regular file *fd* from *offset* with ``os.sendfile``,
        waiting for writability with poll requests."""
        self._check_can_write()
        if count <= 0 or offset < 0:
            raise ValueError(f"bad sendfile range: offset={offset} count={count}")
        self._wfile = fd
        self._woffset = offset
        self._wcount = count
        self._wpos = 0
        self._wdone = done
        self._wstate = _SENDFILE
        self._wud = self._backend._submit(self._write_op, OP_POLL_ADD, self._fd, 0, 0, 0, POLLOUT)

    def cancel_write(self) -> None:
        """Cancel the outstanding write or sendfile; it still reports once."""
        if self._closed or not self._wstate or self._wcancel:
            return
        self._wcancel = True
        if self._wud:
            # A 0 result with _wcancel set reports CancelledError (see _on_write).
            self._backend._withdraw_or_cancel(self._wud)

    def _write_completed(self, res: int) -> None:
        self._wud = 0
        self._wpin.release()
        self._wres = res
        self._backend._enqueue(self._write_handle)

    def _on_write(self) -> None:
        state = self._wstate
        res = self._wres
        if state == _WRITE:
            if res >= 0:
                if res < self._wlen and (self._wcancel or self._closed):
                    # MSG_WAITALL reports the bytes sent before the cancel took effect.
                    self._finish(res, asyncio.CancelledError())
                else:
                    self._finish(res, None)
            elif res == -_ECANCELED:
                self._finish(0, asyncio.CancelledError())
            else:
                self._finish(0, error_from(res))
        elif state == _SENDFILE:
            self._sendfile_step(res)

    def _sendfile_step(self, res: int) -> None:
        sent = self._wpos
        if res == -_ECANCELED or self._wcancel or self._closed:
            self._finish(sent, asyncio.CancelledError())
            return
        if res < 0:
            self._finish(sent, error_from(res))
            return
        try:
            nbytes = sendfile(self._fd, self._wfile, self._woffset + sent, self._wcount - sent)
        except _RETRY:
            nbytes = -1
        except Exception as exc:
            if not sent and not isinstance(exc, ConnectionError):
                refused = asyncio.SendfileNotAvailableError(f"os.sendfile() failed: {exc}")
                refused.__cause__ = exc
                exc = refused
            self._finish(sent, exc)
            return
        if nbytes == 0 or (nbytes > 0 and sent + nbytes >= self._wcount):
            self._finish(sent + max(nbytes, 0), None)
            return
        if nbytes > 0:
            self._wpos = sent + nbytes
        self._wud = self._backend._submit(self._write_op, OP_POLL_ADD, self._fd, 0, 0, 0, POLLOUT)

    def _finish(self, nbytes: int, exc: BaseException | None) -> None:
        done = self._wdone
        self._wstate = _IDLE
        self._wdata = None
        self._wdone = None
        self._wcancel = False
        try:
            if done is not None:
                done(nbytes, exc)
        finally:
            shutdown = self._shutdown_done
            if shutdown is not None and not self._wstate:
                self._shutdown_done = None
                shutdown(asyncio.CancelledError() if self._closed else self._shutdown_now())
            if self._closed:
                self._maybe_finish_close()

    def shutdown_write(self, done: ErrorDone) -> None:
        """Half-close after the outstanding write; *done* reports the outcome."""
        if self._closed:
            raise RuntimeError("the stream is closed")
        if self._shut:
            raise RuntimeError("the stream was already shut down for writing")
        if self._sock is None:
            self._loop.call_soon(
                done, OSError(errno.ENOTSOCK, "only a socket can be shut down for writing")
            )
            return
        self._shut = True
        if self._wstate:
            self._shutdown_done = done
        else:
            self._loop.call_soon(done, self._shutdown_now())

    def _shutdown_now(self) -> OSError | None:
        sock = self._sock
        assert sock is not None
        try:
            sock.shutdown(socket.SHUT_WR)
        except OSError as exc:
            return exc
        return None

    # -- closing -------------------------------------------------------------------

    def close(self, done: Callable[[], None]) -> None:
        """Detach from the owner, cancel the in-flight requests, close the fd once their
        completions are in, report the cancelled write (if any), then *done*.

        The report runs where a readiness backend puts it (and where asyncio's
        transport puts ``connection_lost``): from a callback queued here, so in the next
        iteration and before anything queued after this call.  That iteration's poll
        hands the cancels to the kernel first, and a request waiting for the socket (a
        poll, or a receive or send armed on its wait queue) is cancelled within that
        ``io_uring_enter``: its CQE is in before the report runs.  A request the kernel
        cannot stop at once (one in an io-wq worker) delays the report until its CQE:
        the fd and the buffers stay the kernel's until then (the read buffer is the
        owner's own memory, lent until its CQE).
        """
        if self._closed:
            raise RuntimeError("the stream is already closed")
        # Requests are submitted only while reading, and stop_reading cancels the one in
        # flight: a stopped stream's read request has its cancel already (a transport's
        # close() stops reading first).
        read_cancelled = not self._reading
        self._closed = True
        self._reading = False
        self._held = False
        self._rchunks.clear()
        self._rend = None
        self._drop_read_pin()
        self._close_done = done
        backend = self._backend
        if self._rud and not read_cancelled:
            backend._cancel(self._rud)
        if self._wud:
            # A 0 result on a closed stream reports CancelledError (see _on_write).
            backend._withdraw_or_cancel(self._wud)
        self._close_fd_if_unused()
        self._loop.call_soon(self._close_due_now)

    def _close_fd_if_unused(self) -> None:
        # A request holds the file (closing the fd would not stop it: the peer would see
        # no FIN) and may still use the fd number's buffers: close only when none is left.
        if self._rud or self._wud or self._fd < 0:
            return
        self._fd = -1  # the number may be reused from now on
        _close_fileobj(self._fileobj)

    def _closing_completion(self) -> None:
        """A CQE of a closed stream's read request (inside poll: no callbacks here)."""
        self._close_fd_if_unused()
        if self._close_due and self._fd < 0 and not self._wstate:
            # The report position has passed (the slow path): report now.
            self._loop.call_soon(self._maybe_finish_close)
        # With a write outstanding, its own report (_finish) ends the close.

    def _close_due_now(self) -> None:
        self._close_due = True
        if self._wstate and not self._wud:
            # The cancelled write's CQE came with this iteration's poll, and its report
            # is queued behind this callback: make it now, before *done* (the queued
            # handle then finds the stream idle and does nothing).
            self._on_write()
        self._maybe_finish_close()

    def _maybe_finish_close(self) -> None:
        """From the ready queue: call *done* once every request has completed, the fd
        is closed, the write has reported and the report position has been reached."""
        self._close_fd_if_unused()
        if self._fd >= 0 or self._wstate or not self._close_due:
            return
        done = self._close_done
        if done is None:
            return
        self._close_done = None
        shutdown = self._shutdown_done
        self._shutdown_done = None
        try:
            if shutdown is not None:
                shutdown(asyncio.CancelledError())
        finally:
            done()


class _AcceptOp(Completion):
    __slots__ = ("listener",)

    def __init__(self, listener: UringListener) -> None:
        self.listener = listener

    def complete(self, res: int, flags: int) -> None:
        self.listener._accepted(res, flags)

    def abandon(self) -> None:
        pass


class UringListener:
    """:class:`layerloop_core.abc.Listener` with a multishot ``ACCEPT`` request."""

    __slots__ = (
        "_accepting",
        "_backend",
        "_backlog",
        "_close_done",
        "_closed",
        "_fd",
        "_handle",
        "_loop",
        "_on_accept",
        "_op",
        "_queue",
        "_queued",
        "_sock",
        "_ud",
    )

    def __init__(
        self,
        backend: UringBackend,
        sock: socket.socket,
        on_accept: Callable[[socket.socket | None, Address, OSError | None], None],
        backlog: int,
    ) -> None:
        self._loop = _loop_of(backend)
        self._backend = backend
        self._sock = sock
        self._fd = sock.fileno()
        self._on_accept = on_accept
        self._backlog = max(1, backlog)
        self._handle = _Handle(self._deliver, (), self._loop)
        self._op = _AcceptOp(self)
        # Results not yet delivered: an fd (>= 0) or -errno.
        self._queue: deque[int] = deque()
        self._queued = False
        self._ud = 0
        self._accepting = False
        self._closed = False
        self._close_done: Callable[[], None] | None = None
        self.resume()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"fd={self._fd} accepting={self._accepting}"
        return f"<{type(self).__name__} {state}>"

    def _arm(self) -> None:
        self._ud = self._backend._submit(
            self._op, OP_ACCEPT, self._fd, 0, 0, 0, ACCEPT_FLAGS, ACCEPT_MULTISHOT
        )

    def pause(self) -> None:
        """Stop accepting; the multishot request is cancelled."""
        if self._accepting:
            self._accepting = False
            self._backend._cancel(self._ud)

    def resume(self) -> None:
        """Accept again."""
        if self._accepting or self._closed:
            return
        self._accepting = True
        if not self._ud:
            self._arm()
        if self._queue:
            self._enqueue()

    def _enqueue(self) -> None:
        if not self._queued:
            self._queued = True
            self._backend._enqueue(self._handle)

    def _accepted(self, res: int, flags: int) -> None:
        if not flags & CQE_F_MORE:
            self._ud = 0
        if res == -_ECANCELED or (self._closed and res < 0):
            pass
        elif self._closed:
            if res >= 0:
                os.close(res)
        else:
            self._queue.append(res)
            if self._accepting:
                self._enqueue()
        if self._closed:
            self._maybe_finish_close()
        elif not self._ud and self._accepting and res >= 0:
            self._arm()  # the kernel ended the multishot request: re-arm

    def _deliver(self) -> None:
        self._queued = False
        queue = self._queue
        on_accept = self._on_accept
        for _ in range(self._backlog):
            if not self._accepting or not queue:
                break
            res = queue.popleft()
            if res >= 0:
                conn = socket.socket(fileno=res)
                conn.setblocking(False)  # the fd is O_NONBLOCK; this tells the object
                on_accept(conn, peer_address(conn), None)
            else:
                on_accept(None, None, error_from(res))
        if self._accepting and not self._closed:
            if queue:
                self._enqueue()
            elif not self._ud:
                self._arm()  # ended by an error: accept again unless the owner paused

    def close(self, done: Callable[[], None]) -> None:
        """Cancel the accept request, wait for it, close the socket, then *done*."""
        if self._closed:
            raise RuntimeError("the listener is already closed")
        _loop_of(self._backend)
        self._accepting = False
        self._closed = True
        self._close_done = done
        if self._ud:
            self._backend._cancel(self._ud)
            # The ACCEPT request holds its own reference to the socket's file, so closing
            # the fd alone would leave the port listening until the cancel lands (the
            # next iteration).  shutdown() takes a listening socket out of the listening
            # state now (new connections are refused) and fails the pending accept.
            try:  # noqa: SIM105
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        # The request carries no memory of ours, so the number can be released now (a
        # server's fds are gone when wait_closed() returns).
        self._sock.close()
        self._maybe_finish_close()

    def _maybe_finish_close(self) -> None:
        if self._ud or self._close_done is None:
            return
        done = self._close_done
        self._close_done = None
        while self._queue:
            res = self._queue.popleft()
            if res >= 0:
                os.close(res)
        self._loop.call_soon(done)


class _PollOp(Completion):
    __slots__ = ("target",)

    def __init__(self, target: UringConnect | UringDatagram) -> None:
        self.target = target

    def complete(self, res: int, flags: int) -> None:
        self.target._polled(self, res)

    def abandon(self) -> None:
        pass


class UringConnect:
    """:class:`layerloop_core.abc.Operation` of a non-blocking connect: the connect
    system call, then a ``POLL_ADD`` for writability."""

    __slots__ = ("_address", "_backend", "_cancelled", "_done", "_fd", "_loop", "_sock", "_ud")

    def __init__(
        self,
        backend: UringBackend,
        sock: socket.socket,
        address: Address,
        done: Callable[[BaseException | None], None],
    ) -> None:
        self._loop = _loop_of(backend)
        self._backend = backend
        self._sock = sock
        self._fd = sock.fileno()
        self._address = address
        self._done: Callable[[BaseException | None], None] | None = done
        self._cancelled = False
        self._ud = 0
        try:
            sock.connect(address)
        except _RETRY:
            self._ud = backend._submit(_PollOp(self), OP_POLL_ADD, self._fd, 0, 0, 0, POLLOUT)
            return
        except OSError as exc:
            self._report_soon(exc)
            return
        self._report_soon(None)

    def _report_soon(self, exc: BaseException | None) -> None:
        done = self._done
        self._done = None
        if done is not None:
            self._loop.call_soon(done, exc)

    def _polled(self, op: _PollOp, res: int) -> None:
        self._ud = 0
        if self._cancelled or res == -_ECANCELED:
            self._report_soon(asyncio.CancelledError())
        elif res < 0:
            self._report_soon(error_from(res))
        else:
            err = self._sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            self._report_soon(OSError(err, f"Connect call failed {self._address}") if err else None)

    def cancel(self) -> None:
        """Ask the poll request to stop; *done* receives ``CancelledError`` unless the
        outcome was already scheduled."""
        if self._ud and not self._cancelled:
            self._cancelled = True
            self._backend._cancel(self._ud)


class UringDatagram:
    """:class:`layerloop_core.abc.DatagramEndpoint`: ``POLL_ADD`` requests, then
    ``recvfrom_into``/``sendto``."""

    __slots__ = (
        "_backend",
        "_buffer",
        "_close_done",
        "_close_due",
        "_closed",
        "_fd",
        "_loop",
        "_owner",
        "_read_handle",
        "_read_op",
        "_receiving",
        "_rud",
        "_saddr",
        "_sdata",
        "_sdone",
        "_send_op",
        "_sock",
        "_sres",
        "_sud",
        "_view",
        "_write_handle",
    )

    def __init__(self, backend: UringBackend, sock: socket.socket, owner: DatagramOwner) -> None:
        self._loop = loop = _loop_of(backend)
        self._backend = backend
        self._sock = sock
        self._fd = sock.fileno()
        self._owner = owner
        self._buffer = bytearray(DATAGRAM_BUFFER)
        self._view = memoryview(self._buffer)
        self._read_handle = _Handle(self._on_readable, (), loop)
        self._write_handle = _Handle(self._on_writable, (), loop)
        self._read_op = _PollOp(self)
        self._send_op = _PollOp(self)
        self._receiving = False
        self._closed = False
        self._close_done: Callable[[], None] | None = None
        # The close's report position has been reached (see close()).
        self._close_due = False
        self._rud = 0
        self._sud = 0
        self._sres = 0
        self._sdata: memoryview | None = None
        self._saddr: Address | None = None
        self._sdone: ErrorDone | None = None

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"fd={self._fd} receiving={self._receiving}"
        return f"<{type(self).__name__} {state}>"

    def start_receiving(self) -> None:
        """Deliver datagrams to the owner."""
        if self._receiving or self._closed:
            return
        self._receiving = True
        if not self._rud:
            self._rud = self._backend._submit(self._read_op, OP_POLL_ADD, self._fd, 0, 0, 0, POLLIN)

    def stop_receiving(self) -> None:
        """Stop delivering datagrams (they wait in the kernel)."""
        self._receiving = False

    def _polled(self, op: _PollOp, res: int) -> None:
        if op is self._read_op:
            self._rud = 0
            if not self._closed and self._receiving:
                self._backend._enqueue(self._read_handle)
        else:
            self._sud = 0
            self._sres = res
            self._backend._enqueue(self._write_handle)
        if self._closed:
            # Inside poll: close the socket if it is unused now, report only from the
            # ready queue.
            self._close_sock_if_unused()
            if self._close_due and self._fd < 0 and self._sdone is None:
                self._loop.call_soon(self._maybe_finish_close)

    def _on_readable(self) -> None:
        if not self._receiving or self._closed:
            return
        recvfrom_into = self._sock.recvfrom_into
        owner = self._owner
        for _ in range(DATAGRAM_BATCH):
            try:
                nbytes, address = recvfrom_into(self._buffer)
            except _RETRY:
                break
            except OSError as exc:
                owner.receive_failed(exc)
            else:
                owner.datagram_received(bytes(self._view[:nbytes]), address)
            if not self._still_receiving():
                return
        if not self._rud:
            self._rud = self._backend._submit(self._read_op, OP_POLL_ADD, self._fd, 0, 0, 0, POLLIN)

    def _still_receiving(self) -> bool:
        # A method, not an inline test: the owner's callback may have changed the state.
        return self._receiving and not self._closed

    def try_send(self, data: memoryview, address: Address | None) -> bool:
        """Send one datagram now; ``False`` if it would block."""
        if self._closed:
            raise RuntimeError("the endpoint is closed")
        if self._sdone is not None:
            raise RuntimeError("a send is outstanding")
        try:
            if address is None:
                self._sock.send(data)
            else:
                self._sock.sendto(data, address)
        except _RETRY:
            return False
        return True

    def send(self, data: memoryview, address: Address | None, done: ErrorDone) -> None:
        """Send one datagram once the socket can take it."""
        if self._closed:
            raise RuntimeError("the endpoint is closed")
        if self._sdone is not None:
            raise RuntimeError("a send is outstanding")
        self._sud = self._backend._submit(self._send_op, OP_POLL_ADD, self._fd, 0, 0, 0, POLLOUT)
        self._sdata = data
        self._saddr = address
        self._sdone = done

    def _on_writable(self) -> None:
        done = self._sdone
        if done is None:
            return
        if self._closed or self._sres == -_ECANCELED:
            self._sdata = self._saddr = self._sdone = None
            done(asyncio.CancelledError())
            self._maybe_finish_close()
            return
        data = self._sdata
        assert data is not None
        address = self._saddr
        error: OSError | None = None
        try:
            if address is None:
                self._sock.send(data)
            else:
                self._sock.sendto(data, address)
        except _RETRY:
            self._sud = self._backend._submit(
                self._send_op, OP_POLL_ADD, self._fd, 0, 0, 0, POLLOUT
            )
            return
        except OSError as exc:
            error = exc
        self._sdata = self._saddr = self._sdone = None
        done(error)

    def close(self, done: Callable[[], None]) -> None:
        """Cancel the poll requests, report an outstanding send as cancelled, close the
        socket once the requests have completed, then *done*.

        As :meth:`UringStream.close`: the report runs from a callback queued here (where
        asyncio's transport reports ``connection_lost``), after the next poll has handed
        the cancels to the kernel and brought their completions back."""
        if self._closed:
            raise RuntimeError("the endpoint is already closed")
        self._closed = True
        self._receiving = False
        self._close_done = done
        backend = self._backend
        if self._rud:
            backend._cancel(self._rud)
        if self._sud:
            backend._cancel(self._sud)
        self._close_sock_if_unused()
        self._loop.call_soon(self._close_due_now)

    def _close_sock_if_unused(self) -> None:
        # A poll request holds the file: close only when none is in flight.
        if self._rud or self._sud or self._fd < 0:
            return
        self._fd = -1
        try:  # noqa: SIM105
            self._sock.close()
        except OSError:
            pass

    def _close_due_now(self) -> None:
        self._close_due = True
        if self._sdone is not None and not self._sud:
            # The cancelled send's poll completed with this iteration's poll and its
            # report is queued behind this callback: make it now, before *done*.
            self._on_writable()
        self._maybe_finish_close()

    def _maybe_finish_close(self) -> None:
        self._close_sock_if_unused()
        if self._fd >= 0 or self._sdone is not None or not self._close_due:
            return
        done = self._close_done
        if done is None:
            return
        self._close_done = None
        done()
