"""Streams, listeners, connects and datagram endpoints done the readiness way: the
:class:`layerloop_core.abc.StreamBackend` half of every readiness backend.

Each object owns one fd and two :class:`asyncio.Handle` objects made once, at creation:
one for "readable", one for "writable".  They are ordinary *watches* in the backend's
registry (see :mod:`._readiness`), so ``poll`` enqueues them like ``add_reader`` handles
and they run from the loop's ready queue; the I/O and the owner's callback happen there.
Contract point 1 therefore holds without scheduling anything per operation: a result is
only ever reported from a handle the poll enqueued.  Only outcomes known inside the
starting call (a connect that finished at once, a shutdown with no write outstanding,
``close``) are scheduled with ``loop.call_soon``.

Kernel facts and the invariants built on them:

* The kernel interest set follows the registry: "readable" is registered exactly while
  the owner reads, "writable" while a write, sendfile, send or connect waits.  Interest
  cannot be left registered while paused: the watches are level-triggered, so a paused
  stream with pending data (or a hung-up peer: ``EPOLLHUP`` is reported even for an
  empty mask) would end every wait at once.
* After a write completes inside the writable handle, the owner usually submits the
  next chunk from its ``done`` callback.  The writable registration is therefore
  dropped only after ``done`` returns and only if no new write took its place: under
  sustained backpressure a stream pays no ``epoll_ctl`` per chunk.
* A readiness backend has no operation in flight in the kernel: a read, write or accept
  happens within one handle's run.  So ``close`` can unregister, close the fd and report
  at once (after the cancelled operations' callbacks); the registry entry is always
  removed *before* the fd is closed, which is what epoll needs (see ``_epoll.py``).
* A handle may already sit in the ready queue when its object stops reading, pauses or
  closes during the same batch; every handle checks its object's state first and does
  nothing if the work is no longer wanted (the fd may even be closed and its number
  reused by then).
* A sequence of buffers is written with ``sendmsg`` (sockets) or ``writev`` (other
  fds), at most ``IOV_MAX`` buffers per call; the kernel takes a prefix of the
  concatenation, so progress is kept as (buffer index, offset in it).
* A cancelled write (``cancel_write``) cannot be in the kernel's hands here: it is
  reported from a ``call_soon`` with the bytes written so far, and the stream stays
  busy (``_CANCELLING``) until that report has run, as a completion backend must.
* Pipes and character devices are read with ``readv`` into the lent buffer and written
  with ``write``.  The write end of a pipe is never readable; the kernel reports it
  readable (with ``EPOLLERR``/``POLLERR``) once the last reader has gone, which is how
  "reading" such an fd reports end of stream.
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Final, cast

from layerloop_core.abc import (
    BYTES_READ_SIZE,
    Address,
    BytesStreamOwner,
    DatagramOwner,
    FileLike,
    StreamOwner,
)

if sys.platform != "win32":
    import fcntl

if TYPE_CHECKING:
    from ._readiness import ReadinessBackend

__all__ = [
    "InternalHandle",
    "ReadinessConnect",
    "ReadinessDatagram",
    "ReadinessListener",
    "ReadinessStream",
]

_RETRY: Final = (BlockingIOError, InterruptedError)


class InternalHandle(asyncio.Handle):
    """The watch handle of a stream, listener, connect or datagram endpoint.

    Made once per object and reused for its life.  Nothing ever cancels one: only its
    object adds and drops it, and the registry (``remove_reader``, a replacing watch,
    ``close``) cancels foreign handles only.  So ``poll`` enqueues it without asking
    whether it was cancelled: its class says it was not.
    """

    __slots__ = ()


#: What the writing side of a stream is doing.
_IDLE: Final = 0
_WRITE: Final = 1
_SENDFILE: Final = 2
_WRITEV: Final = 3
#: A write or sendfile was cancelled; its report is scheduled but has not run yet.
_CANCELLING: Final = 4


def _iov_max() -> int:
    if sys.platform == "win32":
        return 16  # the buffers are sent one by one there
    else:
        try:
            return max(16, min(os.sysconf("SC_IOV_MAX"), 1024))
        except (OSError, ValueError):
            return 16  # POSIX guarantees at least 16


#: Most buffers one ``sendmsg``/``writev`` takes (``IOV_MAX``: 1024 on Linux and BSD).
IOV_MAX: Final = _iov_max()

#: The receive buffer of a datagram endpoint: larger than any UDP datagram (65 507
#: bytes of payload over IPv4) and than typical AF_UNIX datagrams.
DATAGRAM_BUFFER: Final = 256 * 1024
#: Datagrams read per readiness report before yielding to other callbacks.
DATAGRAM_BATCH: Final = 32

WriteDone = Callable[[int, "BaseException | None"], None]
ErrorDone = Callable[["BaseException | None"], None]


def _loop_of(backend: ReadinessBackend) -> asyncio.AbstractEventLoop:
    loop = backend._loop
    if loop is None:
        raise RuntimeError("the backend is not attached to a loop")
    if backend._closed:
        raise RuntimeError("the backend is closed")
    return loop


def _close_fileobj(fileobj: FileLike) -> None:
    # The stream owns the object: close it through its own close() so that a socket or
    # file object never closes a number that was reused meanwhile.
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
        pass  # EBADF (closed behind our back) or EIO: nothing left to release


def _write_only(fd: int) -> bool:
    """Whether *fd* was opened write-only (the write end of a pipe)."""
    if sys.platform == "win32":
        return False
    else:
        try:
            mode = fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE
        except OSError:
            return False
        return mode == os.O_WRONLY


class ReadinessStream:
    """:class:`layerloop_core.abc.Stream` over a readiness backend."""

    __slots__ = (
        "_backend",
        "_bytes_owner",
        "_closed",
        "_fd",
        "_fileobj",
        "_loop",
        "_owner",
        "_read_handle",
        "_reading",
        "_readinto",
        "_recv",
        "_send",
        "_sendv",
        "_shut",
        "_shutdown_done",
        "_sock",
        "_wbufs",
        "_wcount",
        "_wdata",
        "_wdone",
        "_wfile",
        "_windex",
        "_woffset",
        "_wpos",
        "_write_handle",
        "_wskip",
        "_wstate",
        "_wwatch",
    )

    def __init__(self, backend: ReadinessBackend, fileobj: FileLike, owner: StreamOwner) -> None:
        loop = _loop_of(backend)
        fd = fileobj if isinstance(fileobj, int) else fileobj.fileno()
        if fd < 0:
            raise ValueError(f"invalid file descriptor: {fd}")
        self._backend = backend
        self._loop = loop
        self._fileobj = fileobj
        self._fd = fd
        self._owner = owner
        self._sock: socket.socket | None = None
        # The owner again when it may want its reads as bytes (see BytesStreamOwner),
        # with the socket's recv; only sockets are read that way.
        self._bytes_owner: BytesStreamOwner | None = None
        self._recv: Callable[[int], bytes] | None = None
        self._readinto: Callable[[memoryview], int]
        self._send: Callable[[memoryview], int]
        self._sendv: Callable[[list[memoryview]], int]
        if isinstance(fileobj, socket.socket):
            self._sock = fileobj
            self._readinto = fileobj.recv_into
            if hasattr(owner, "read_bytes") and hasattr(owner, "wants_bytes"):
                self._bytes_owner = cast(BytesStreamOwner, owner)
                self._recv = fileobj.recv
            self._send = fileobj.send
            self._sendv = self._sock_sendmsg
        elif sys.platform == "win32":
            raise ValueError("only sockets can be streamed on Windows")
        else:
            self._readinto = self._eof_on_ready if _write_only(fd) else self._fd_readinto
            self._send = self._fd_write
            self._sendv = self._fd_writev
        self._read_handle = InternalHandle(self._on_readable, (), loop)
        self._write_handle = InternalHandle(self._on_writable, (), loop)
        self._reading = False
        self._closed = False
        # Writing side: _wstate says what is outstanding; _wwatch whether the writable
        # watch is registered (it may outlive the operation, see the module docstring).
        self._wstate = _IDLE
        self._wwatch = False
        self._wdata: memoryview | None = None
        # A vectored write: the buffers, the one being written, bytes of it already sent.
        self._wbufs: Sequence[memoryview] | None = None
        self._windex = 0
        self._wskip = 0
        self._wpos = 0
        self._wdone: WriteDone | None = None
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
        """Read into the owner's buffers whenever the fd is readable."""
        if self._reading or self._closed:
            return
        self._backend._set_reader(self._fd, self._read_handle)
        self._reading = True

    def stop_reading(self) -> None:
        """Stop reading; no owner callback runs until :meth:`start_reading`."""
        if self._reading:
            self._reading = False
            self._backend._drop_reader(self._fd, self._read_handle)

    def _on_readable(self) -> None:
        if not self._reading:
            return  # paused or closed after poll enqueued us
        bytes_owner = self._bytes_owner
        if bytes_owner is not None and bytes_owner.wants_bytes:
            self._read_bytes(bytes_owner)
            return
        owner = self._owner
        try:
            buf = owner.get_read_buffer(-1)
        except BaseException:
            self.stop_reading()
            raise
        # get_read_buffer may have stopped reading or closed the stream (mypy's
        # narrowing of _reading from the check above does not see that).
        if not self._reading:
            return  # type: ignore[unreachable]
        try:
            nbytes = self._readinto(buf)
        except _RETRY:
            return  # spurious wakeup (another reader of the same file was faster)
        except Exception as exc:
            self.stop_reading()
            owner.read_failed(exc)
            return
        if not nbytes:
            self.stop_reading()
        owner.read_done(nbytes)

    def _read_bytes(self, owner: BytesStreamOwner) -> None:
        recv = self._recv
        assert recv is not None  # set together with _bytes_owner
        try:
            data = recv(BYTES_READ_SIZE)
        except _RETRY:
            return  # spurious wakeup
        except Exception as exc:
            self.stop_reading()
            owner.read_failed(exc)
            return
        if not data:
            self.stop_reading()
        owner.read_bytes(data)

    def _fd_readinto(self, buf: memoryview) -> int:
        if sys.platform == "win32":
            raise OSError(errno.ENOTSUP, "not supported on Windows")
        else:
            return os.readv(self._fd, (buf,))

    def _eof_on_ready(self, buf: memoryview) -> int:
        # A write-only fd "becomes readable" only when its reader has gone.
        return 0

    def _fd_write(self, data: memoryview) -> int:
        return os.write(self._fd, data)

    def _fd_writev(self, buffers: list[memoryview]) -> int:
        if sys.platform == "win32":
            raise OSError(errno.ENOTSUP, "not supported on Windows")
        else:
            return os.writev(self._fd, buffers)

    def _sock_sendmsg(self, buffers: list[memoryview]) -> int:
        sock = self._sock
        assert sock is not None
        if sys.platform == "win32":
            # No sendmsg: send the buffers in order until one is taken only in part.
            sent = 0
            for buf in buffers:
                try:
                    n = sock.send(buf)
                except _RETRY:
                    if sent:
                        return sent
                    raise
                sent += n
                if n < len(buf):
                    break
            return sent
        else:
            return sock.sendmsg(buffers)

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
            self._check_can_write()
        try:
            return self._send(data)
        except _RETRY:
            return 0

    def write(self, data: memoryview | Sequence[memoryview], done: WriteDone) -> None:
        """Write all of *data* (a buffer, or buffers in order) as the fd becomes
        writable; *done* reports once."""
        self._check_can_write()
        if isinstance(data, memoryview):
            self._wdata = data
            self._wstate = _WRITE
        else:
            self._wbufs = data
            self._windex = 0
            self._wskip = 0
            self._wstate = _WRITEV
        self._wpos = 0
        self._wdone = done
        self._watch_writable()

    def cancel_write(self) -> None:
        """Cancel the outstanding write or sendfile; it reports from the ready queue."""
        state = self._wstate
        if self._closed or state in (_IDLE, _CANCELLING):
            return
        done = self._wdone
        assert done is not None
        self._wstate = _CANCELLING
        self._wdata = None
        self._wbufs = None
        self._wdone = None
        self._loop.call_soon(self._report_cancelled, done, self._wpos)

    def _report_cancelled(self, done: WriteDone, nbytes: int) -> None:
        if self._wstate == _CANCELLING:
            self._wstate = _IDLE
        self._report(done, nbytes, asyncio.CancelledError())

    def sendfile(self, fd: int, offset: int, count: int, done: WriteDone) -> None:
        """Send *count* bytes of the regular file *fd* from *offset* with ``os.sendfile``."""
        self._check_can_write()
        if count <= 0 or offset < 0:
            raise ValueError(f"bad sendfile range: offset={offset} count={count}")
        self._wfile = fd
        self._woffset = offset
        self._wcount = count
        self._wpos = 0
        self._wdone = done
        self._wstate = _SENDFILE
        self._watch_writable()

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
            self._shutdown_done = done  # performed when the write reports
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

    def _watch_writable(self) -> None:
        if not self._wwatch:
            try:
                self._backend._set_writer(self._fd, self._write_handle)
            except BaseException:
                self._wstate = _IDLE
                self._wdata = None
                self._wbufs = None
                self._wdone = None
                raise
            self._wwatch = True

    def _on_writable(self) -> None:
        state = self._wstate
        if state == _WRITE:
            data = self._wdata
            assert data is not None
            pos = self._wpos
            try:
                pos += self._send(data[pos:] if pos else data)
            except _RETRY:
                return
            except Exception as exc:
                self._finish(pos, exc)
                return
            if pos < len(data):
                self._wpos = pos
                return
            self._finish(pos, None)
        elif state == _WRITEV:
            self._writev_ready()
        elif state == _SENDFILE:
            self._sendfile_ready()
        elif self._wwatch:
            # Nothing outstanding: the registration outlived its operation (the last
            # write's done submitted nothing new before an exception, or we were
            # enqueued before it ended).
            self._wwatch = False
            self._backend._drop_writer(self._fd, self._write_handle)

    def _writev_ready(self) -> None:
        buffers = self._wbufs
        assert buffers is not None
        index = self._windex
        skip = self._wskip
        count = len(buffers)
        while index < count and not buffers[index].nbytes:
            index += 1  # empty buffers take no room in an iovec
        if index == count:
            self._finish(self._wpos, None)
            return
        batch = list(buffers[index : index + IOV_MAX])
        if skip:
            batch[0] = batch[0][skip:]
        try:
            sent = self._sendv(batch)
        except _RETRY:
            return
        except Exception as exc:
            self._finish(self._wpos, exc)
            return
        self._wpos += sent
        # The kernel took a prefix of the concatenation: advance (index, skip) over it.
        sent += skip
        while index < count:
            size = buffers[index].nbytes
            if sent < size:
                break
            sent -= size
            index += 1
        if index == count:
            self._finish(self._wpos, None)
            return
        self._windex = index
        self._wskip = sent

    def _sendfile_ready(self) -> None:
        if sys.platform == "win32":
            self._finish(0, asyncio.SendfileNotAvailableError("os.sendfile() is not available"))
        else:
            self._sendfile_posix()

    def _sendfile_posix(self) -> None:
        sent = self._wpos
        if not hasattr(os, "sendfile"):
            self._finish(0, asyncio.SendfileNotAvailableError("os.sendfile() is not available"))
            return
        try:
            nbytes = os.sendfile(self._fd, self._wfile, self._woffset + sent, self._wcount - sent)
        except _RETRY:
            return
        except Exception as exc:
            if not sent and not isinstance(exc, ConnectionError):
                # Refused before the first byte (EINVAL for a file sendfile(2) cannot
                # read or a stream it cannot write, ...): the owner falls back.
                refused = asyncio.SendfileNotAvailableError(f"os.sendfile() failed: {exc}")
                refused.__cause__ = exc
                exc = refused
            self._finish(sent, exc)
            return
        sent += nbytes
        if nbytes and sent < self._wcount:
            self._wpos = sent
            return
        # Done, or end of file reached before count (the file shrank): report the count.
        self._finish(sent, None)

    def _finish(self, nbytes: int, exc: BaseException | None) -> None:
        """Report the outstanding write/sendfile from the writable handle."""
        done = self._wdone
        assert done is not None
        self._wstate = _IDLE
        self._wdata = None
        self._wbufs = None
        self._wdone = None
        self._report(done, nbytes, exc)

    def _report(self, done: WriteDone, nbytes: int, exc: BaseException | None) -> None:
        """Call a write's *done*, then settle the writable watch and a pending shutdown."""
        try:
            done(nbytes, exc)
        finally:
            # Keep the registration if done() submitted the next chunk.
            if not self._wstate and self._wwatch and not self._closed:
                self._wwatch = False
                self._backend._drop_writer(self._fd, self._write_handle)
            shutdown = self._shutdown_done
            if shutdown is not None and not self._closed:
                self._shutdown_done = None
                shutdown(self._shutdown_now())

    # -- closing -------------------------------------------------------------------

    def close(self, done: Callable[[], None]) -> None:
        """Stop everything, close the fd, report cancelled operations, then *done*."""
        if self._closed:
            raise RuntimeError("the stream is already closed")
        self._closed = True
        backend = self._backend
        fd = self._fd
        call_soon = self._loop.call_soon
        if self._reading:
            self._reading = False
            backend._drop_reader(fd, self._read_handle)
        if self._wwatch:
            self._wwatch = False
            backend._drop_writer(fd, self._write_handle)
        wdone = self._wdone
        if wdone is not None:
            call_soon(wdone, self._wpos, asyncio.CancelledError())
        shutdown = self._shutdown_done
        if shutdown is not None:
            call_soon(shutdown, asyncio.CancelledError())
        self._wstate = _IDLE
        self._wdata = None
        self._wbufs = None
        self._wdone = None
        self._shutdown_done = None
        _close_fileobj(self._fileobj)
        call_soon(done)


class ReadinessListener:
    """:class:`layerloop_core.abc.Listener` over a readiness backend."""

    __slots__ = (
        "_accepting",
        "_backend",
        "_backlog",
        "_closed",
        "_fd",
        "_handle",
        "_on_accept",
        "_sock",
    )

    def __init__(
        self,
        backend: ReadinessBackend,
        sock: socket.socket,
        on_accept: Callable[[socket.socket | None, Address, OSError | None], None],
        backlog: int,
    ) -> None:
        loop = _loop_of(backend)
        self._backend = backend
        self._sock = sock
        self._fd = sock.fileno()
        self._on_accept = on_accept
        self._backlog = max(1, backlog)
        self._handle = InternalHandle(self._on_readable, (), loop)
        self._accepting = False
        self._closed = False
        self.resume()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"fd={self._fd} accepting={self._accepting}"
        return f"<{type(self).__name__} {state}>"

    def pause(self) -> None:
        """Stop accepting; connections wait in the kernel's backlog."""
        if self._accepting:
            self._accepting = False
            self._backend._drop_reader(self._fd, self._handle)

    def resume(self) -> None:
        """Accept again."""
        if not self._accepting and not self._closed:
            self._backend._set_reader(self._fd, self._handle)
            self._accepting = True

    def _on_readable(self) -> None:
        accept = self._sock.accept
        on_accept = self._on_accept
        for _ in range(self._backlog):
            if not self._accepting:
                return  # paused or closed, also by on_accept itself
            try:
                conn, address = accept()
            except _RETRY:
                return
            except OSError as exc:
                # EMFILE/ENFILE/ENOBUFS/ENOMEM, or a connection that died in the
                # backlog (ECONNABORTED, EPROTO...): the owner decides; the batch ends
                # so that a persistent error is not reported in a tight loop.
                on_accept(None, None, exc)
                return
            conn.setblocking(False)
            on_accept(conn, address, None)

    def close(self, done: Callable[[], None]) -> None:
        """Stop accepting, close the listening socket, then call *done*."""
        if self._closed:
            raise RuntimeError("the listener is already closed")
        loop = _loop_of(self._backend)
        self.pause()
        self._closed = True
        self._sock.close()
        loop.call_soon(done)


class ReadinessConnect:
    """:class:`layerloop_core.abc.Operation` of a non-blocking connect."""

    __slots__ = ("_address", "_backend", "_done", "_fd", "_handle", "_loop", "_sock", "_waiting")

    def __init__(
        self,
        backend: ReadinessBackend,
        sock: socket.socket,
        address: Address,
        done: Callable[[BaseException | None], None],
    ) -> None:
        self._loop = loop = _loop_of(backend)
        self._backend = backend
        self._sock = sock
        self._fd = sock.fileno()
        self._address = address
        self._done: Callable[[BaseException | None], None] | None = done
        self._handle = InternalHandle(self._on_writable, (), loop)
        self._waiting = False

    def _start(self) -> None:
        try:
            self._sock.connect(self._address)
        except _RETRY:
            # EINPROGRESS: the socket becomes writable once connected or failed.
            self._backend._set_writer(self._fd, self._handle)
            self._waiting = True
            return
        except OSError as exc:
            self._report_soon(exc)
            return
        self._report_soon(None)  # connected at once (AF_UNIX, loopback)

    def _report_soon(self, exc: BaseException | None) -> None:
        done = self._done
        self._done = None
        if done is not None:
            self._loop.call_soon(done, exc)

    def _on_writable(self) -> None:
        if not self._waiting:
            return
        self._waiting = False
        self._backend._drop_writer(self._fd, self._handle)
        done = self._done
        self._done = None
        if done is None:
            return
        err = self._sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        done(OSError(err, f"Connect call failed {self._address}") if err else None)

    def cancel(self) -> None:
        """Stop waiting; *done* receives ``CancelledError`` unless already scheduled."""
        if self._waiting:
            self._waiting = False
            self._backend._drop_writer(self._fd, self._handle)
            self._report_soon(asyncio.CancelledError())


class ReadinessDatagram:
    """:class:`layerloop_core.abc.DatagramEndpoint` over a readiness backend."""

    __slots__ = (
        "_backend",
        "_buffer",
        "_closed",
        "_fd",
        "_loop",
        "_owner",
        "_read_handle",
        "_receiving",
        "_saddr",
        "_sdata",
        "_sdone",
        "_sock",
        "_view",
        "_write_handle",
        "_wwatch",
    )

    def __init__(
        self, backend: ReadinessBackend, sock: socket.socket, owner: DatagramOwner
    ) -> None:
        self._loop = loop = _loop_of(backend)
        self._backend = backend
        self._sock = sock
        self._fd = sock.fileno()
        self._owner = owner
        # One receive buffer for the endpoint's life: recvfrom(n) would allocate (and
        # shrink) an n-byte object per datagram.
        self._buffer = bytearray(DATAGRAM_BUFFER)
        self._view = memoryview(self._buffer)
        self._read_handle = InternalHandle(self._on_readable, (), loop)
        self._write_handle = InternalHandle(self._on_writable, (), loop)
        self._receiving = False
        self._closed = False
        self._wwatch = False
        self._sdata: memoryview | None = None
        self._saddr: Address | None = None
        self._sdone: ErrorDone | None = None

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"fd={self._fd} receiving={self._receiving}"
        return f"<{type(self).__name__} {state}>"

    def start_receiving(self) -> None:
        """Deliver datagrams to the owner."""
        if not self._receiving and not self._closed:
            self._backend._set_reader(self._fd, self._read_handle)
            self._receiving = True

    def stop_receiving(self) -> None:
        """Stop delivering datagrams."""
        if self._receiving:
            self._receiving = False
            self._backend._drop_reader(self._fd, self._read_handle)

    def _on_readable(self) -> None:
        # Up to DATAGRAM_BATCH datagrams per readiness report, as libuv reads them: a
        # busy socket then costs one wait per batch rather than one per datagram.
        recvfrom_into = self._sock.recvfrom_into
        buffer = self._buffer
        owner = self._owner
        for _ in range(DATAGRAM_BATCH):
            if not self._receiving:
                # The owner stopped (paused, closed) inside its last callback.
                return
            try:
                nbytes, address = recvfrom_into(buffer)
            except _RETRY:
                return
            except OSError as exc:
                # A pending socket error (ICMP port unreachable on a connected socket):
                # reading it clears it, so receiving simply continues.
                owner.receive_failed(exc)
                continue
            owner.datagram_received(bytes(self._view[:nbytes]), address)

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
        """Send one datagram as soon as the socket can take it."""
        if self._closed:
            raise RuntimeError("the endpoint is closed")
        if self._sdone is not None:
            raise RuntimeError("a send is outstanding")
        self._sdata = data
        self._saddr = address
        self._sdone = done
        if not self._wwatch:
            try:
                self._backend._set_writer(self._fd, self._write_handle)
            except BaseException:
                self._sdata = self._saddr = self._sdone = None
                raise
            self._wwatch = True

    def _on_writable(self) -> None:
        done = self._sdone
        if done is None:
            if self._wwatch and not self._closed:
                self._wwatch = False
                self._backend._drop_writer(self._fd, self._write_handle)
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
            return
        except OSError as exc:
            error = exc
        self._sdata = self._saddr = self._sdone = None
        try:
            done(error)
        finally:
            # Keep the registration if done() submitted the next datagram.
            if not self._sending() and self._wwatch and not self._closed:
                self._wwatch = False
                self._backend._drop_writer(self._fd, self._write_handle)

    def _sending(self) -> bool:
        return self._sdone is not None

    def close(self, done: Callable[[], None]) -> None:
        """Stop, report an outstanding send as cancelled, close the socket, *done*."""
        if self._closed:
            raise RuntimeError("the endpoint is already closed")
        self._closed = True
        self.stop_receiving()
        if self._wwatch:
            self._wwatch = False
            self._backend._drop_writer(self._fd, self._write_handle)
        sdone = self._sdone
        self._sdata = self._saddr = self._sdone = None
        if sdone is not None:
            self._loop.call_soon(sdone, asyncio.CancelledError())
        try:  # noqa: SIM105
            self._sock.close()
        except OSError:
            pass
        self._loop.call_soon(done)
