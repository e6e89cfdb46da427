"""Pipe transports (``connect_read_pipe``/``connect_write_pipe``), written once over
:class:`layerloop_core.abc.Stream`.

A pipe transport drives one end of a pipe, a stream socket or a character device (a
pty, a terminal) through the backend; it never reads, writes or closes the fd itself.
The object given to ``connect_*_pipe`` is owned from then on: the backend closes it
through its ``close()`` when the transport is done, as CPython's loop does.

Kernel facts and the invariants built on them:

* A regular file is always "ready" and cannot be watched by epoll (``EPERM``), so both
  transports refuse anything but a FIFO, a socket or a character device, before taking
  the object, with CPython's ``ValueError`` messages.
* The write end of a pipe becomes readable (``POLLERR``) only once the last reader has
  gone, and a socket becomes readable when its peer closes: the write transport keeps
  the backend "reading" such an fd and treats any read outcome as the peer going away
  (``connection_lost(BrokenPipeError())`` if bytes were still queued, else
  ``connection_lost(None)``).  A character device has no such signal (reading a tty
  would steal its input), so it is not watched.
* A pty master whose slave side is closed reads as ``EIO``, not as end of file: the
  read transport reports it as ``connection_lost(OSError(EIO))`` without calling the
  exception handler, as CPython does; other read errors also go to the handler.
* Pipes cannot be half-closed: ``write_eof`` is ``close`` once the queue is drained.
* ``connection_lost`` runs once, from the backend's close completion.
* The fd is claimed in the loop's fd guard (``_fdowners.py``) until the backend has
  closed it: ``add_reader``/``add_writer``/``remove_*`` and ``sock_*`` on it raise
  CPython's ``RuntimeError``, as for socket transports.  CPython's pipe transports do
  not register their fds, so asyncio accepts such a watch, which then takes the fd's
  events from the transport (it stops reading, silently).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import errno
import logging
import os
import stat
import sys
import warnings
from typing import Any, Final

from layerloop_core.abc import FileLike, Stream, StreamBackend

from ._buffers import new_read_buffer
from ._fdowners import claim_fd
from ._flowcontrol import FlowControlledTransport, OwnedTransport

__all__ = ["ReadPipeTransport", "WritePipeTransport"]

logger = logging.getLogger("asyncio")

#: Bytes asked of the kernel per read (what CPython's pipe transport reads).
PIPE_READ_SIZE: Final = 256 * 1024
_JOIN_LIMIT: Final = 1024 * 1024

_FIFO: Final = 1
_SOCKET: Final = 2
_CHAR: Final = 3


def _kind_of(fd: int) -> int:
    """``_FIFO``, ``_SOCKET``, ``_CHAR`` or 0 (anything else: a regular file...)."""
    mode = os.fstat(fd).st_mode
    if stat.S_ISFIFO(mode):
        return _FIFO
    if stat.S_ISSOCK(mode):
        return _SOCKET
    if stat.S_ISCHR(mode):
        return _CHAR
    return 0


def _set_nonblocking(fd: int) -> None:
    if sys.platform != "win32":  # the backend refuses non-sockets on Windows anyway
        os.set_blocking(fd, False)


def _backend_of(loop: asyncio.AbstractEventLoop) -> StreamBackend:
    backend = getattr(loop, "backend", None)
    if not isinstance(backend, StreamBackend):
        raise NotImplementedError(
            f"the backend {backend!r} does not implement layerloop_core.abc.StreamBackend, "
            "which pipe transports need"
        )
    return backend


def _resolve_waiter(waiter: asyncio.Future[None]) -> None:
    if not waiter.cancelled():
        waiter.set_result(None)


def _nothing() -> None:
    pass


class _PipeEnd(OwnedTransport):
    """What both pipe transports do with their backend stream: the ``pipe`` extra
    info, the close, and the warning for a transport dropped unclosed.

    No ``__slots__`` here: pipe transports keep a ``__dict__`` (tests and users patch
    methods on instances, CPython's test_subprocess mocks ``pause_reading``, as they can
    on CPython's transports), and a base without slots of its own combines with
    :class:`FlowControlledTransport`.  The concrete classes declare these fields."""

    _info: dict[str, Any]
    _stream: Stream
    _stream_closed: bool

    def __del__(self, _warn: Any = warnings.warn) -> None:
        if not getattr(self, "_stream_closed", True):
            _warn(f"unclosed transport {self!r}", ResourceWarning, source=self)
            self._stream_closed = True
            with contextlib.suppress(Exception):
                self._stream.close(_nothing)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """``pipe`` (the object given to ``connect_read_pipe`` or
        ``connect_write_pipe``), or *default*."""
        return self._info.get(name, default)

    def _close_stream(self, exc: BaseException | None) -> None:
        if self._stream_closed:
            return
        self._stream_closed = True
        self._lost_exc = exc
        self._stream.close(self._connection_gone)


class ReadPipeTransport(_PipeEnd, asyncio.ReadTransport):
    """The read end of a pipe, a stream socket or a character device as an
    :class:`asyncio.ReadTransport` (what ``loop.connect_read_pipe`` returns).

    Schedules ``protocol.connection_made(self)``, then starts reading, then resolves
    *waiter*.  End of file calls ``eof_received()`` (its result is ignored: a pipe
    cannot stay half open) and then ``connection_lost(None)``.
    """

    __slots__ = (
        "_info",
        "_paused",
        "_pipe",
        "_rview",
        "_started",
        "_stream",
        "_stream_closed",
    )

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        pipe: FileLike,
        protocol: asyncio.BaseProtocol,
        waiter: asyncio.Future[None] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(loop, protocol)
        fd = pipe if isinstance(pipe, int) else pipe.fileno()
        if _kind_of(fd) == 0:
            raise ValueError("Pipe transport is for pipes/sockets only.")
        backend = _backend_of(loop)
        self._pipe = pipe
        self._fd = fd
        self._info: dict[str, Any] = {} if extra is None else dict(extra)
        self._info["pipe"] = pipe
        self._paused = False
        self._started = False
        self._stream_closed = False
        self._rview = new_read_buffer(PIPE_READ_SIZE)
        _set_nonblocking(fd)
        self._stream: Stream = backend.open_stream(pipe, self)
        claim_fd(loop, fd, self)
        loop.call_soon(protocol.connection_made, self)
        loop.call_soon(self._start)
        if waiter is not None:
            loop.call_soon(_resolve_waiter, waiter)

    def __repr__(self) -> str:
        state = "closed" if self._stream_closed else "closing" if self._closing else "open"
        reading = "polling" if self.is_reading() else "idle"
        return f"<{type(self).__name__} fd={self._fd} {state} read={reading}>"

    def is_reading(self) -> bool:
        return not self._paused and not self._closing

    def pause_reading(self) -> None:
        """Stop delivering data until :meth:`resume_reading`.  Idempotent."""
        if not self.is_reading():
            return
        self._paused = True
        self._stream.stop_reading()
        if self._loop.get_debug():
            logger.debug("%r pauses reading", self)

    def resume_reading(self) -> None:
        """Deliver data again after :meth:`pause_reading`.  Idempotent."""
        if self._closing or not self._paused:
            return
        self._paused = False
        if self._started:
            self._stream.start_reading()
        if self._loop.get_debug():
            logger.debug("%r resumes reading", self)

    def _start(self) -> None:
        self._started = True
        if not self._closing and not self._paused:
            self._stream.start_reading()

    # -- StreamOwner -------------------------------------------------------------

    def get_read_buffer(self, size_hint: int) -> memoryview:
        return self._rview

    def read_done(self, nbytes: int) -> None:
        if self._closing:
            return
        if nbytes:
            # An exception from data_received reaches the loop's handler and reading
            # goes on, as with CPython's pipe transport.
            self._protocol.data_received(bytes(self._rview[:nbytes]))
            return
        if self._loop.get_debug():
            logger.info("%r was closed by peer", self)
        self._closing = True
        # eof_received, then connection_lost (scheduled by the close completion).
        self._loop.call_soon(self._protocol.eof_received)
        self._close_stream(None)

    def read_failed(self, exc: BaseException) -> None:
        if self._closing:
            return
        self._fatal_error(exc, "Fatal read error on pipe transport")

    # -- closing -----------------------------------------------------------------

    def close(self) -> None:
        """Stop reading and close the pipe; ``connection_lost(None)`` follows."""
        if not self._closing:
            self._closing = True
            self._close_stream(None)

    def _fatal_error(
        self, exc: BaseException, message: str = "Fatal error on pipe transport"
    ) -> None:
        if isinstance(exc, OSError) and exc.errno == errno.EIO:
            if self._loop.get_debug():
                logger.debug("%r: %s", self, message, exc_info=True)
        else:
            self._report(message, exc)
        self._closing = True
        self._close_stream(exc)


class WritePipeTransport(_PipeEnd, FlowControlledTransport):
    """The write end of a pipe, a stream socket or a character device as an
    :class:`asyncio.WriteTransport` (what ``loop.connect_write_pipe`` returns).

    Writes are tried at once and the rest queued, with ``pause_writing``/
    ``resume_writing`` around the water marks.  ``close()`` (or ``write_eof()``) closes
    once the queue has drained; ``abort()`` drops it.  When the reader goes away the
    transport is lost (see the module docstring).
    """

    __slots__ = (
        "_inflight",
        "_info",
        "_kind",
        "_pipe",
        "_scratch",
        "_stream",
        "_stream_closed",
        "_watching",
        "_wqueue",
        "_writing",
    )

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        pipe: FileLike,
        protocol: asyncio.BaseProtocol,
        waiter: asyncio.Future[None] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(loop, protocol)
        fd = pipe if isinstance(pipe, int) else pipe.fileno()
        kind = _kind_of(fd)
        if kind == 0:
            raise ValueError("Pipe transport is only for pipes, sockets and character devices")
        backend = _backend_of(loop)
        self._pipe = pipe
        self._fd = fd
        self._kind = kind
        self._info: dict[str, Any] = {} if extra is None else dict(extra)
        self._info["pipe"] = pipe
        self._stream_closed = False
        self._watching = False
        self._wqueue: collections.deque[bytes | memoryview] = collections.deque()
        self._writing = False
        self._inflight: memoryview | None = None
        self._scratch = memoryview(bytearray(1))
        _set_nonblocking(fd)
        self._stream: Stream = backend.open_stream(pipe, self)
        claim_fd(loop, fd, self)
        loop.call_soon(protocol.connection_made, self)
        if kind != _CHAR:
            # Watch for the reader going away once connection_made has run.
            loop.call_soon(self._watch_peer)
        if waiter is not None:
            loop.call_soon(_resolve_waiter, waiter)

    def __repr__(self) -> str:
        state = "closed" if self._stream_closed else "closing" if self._closing else "open"
        return f"<{type(self).__name__} fd={self._fd} {state} bufsize={self._wsize}>"

    # -- watching the reader: the StreamOwner side ---------------------------------

    def _watch_peer(self) -> None:
        if not self._stream_closed:
            self._watching = True
            self._stream.start_reading()

    def get_read_buffer(self, size_hint: int) -> memoryview:
        return self._scratch

    def read_done(self, nbytes: int) -> None:
        # Any outcome of "reading" a write end means the reader has gone.
        self._peer_gone()

    def read_failed(self, exc: BaseException) -> None:
        self._peer_gone()

    def _peer_gone(self) -> None:
        self._stream.stop_reading()
        self._watching = False
        if self._stream_closed:
            return
        if self._loop.get_debug():
            logger.info("%r was closed by peer", self)
        if self._wsize:
            self._force_close(BrokenPipeError())
        else:
            self._force_close(None)

    # -- writing -----------------------------------------------------------------

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Write *data*: tried at once, the rest queued and written in order."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(
                f"data argument must be a bytes-like object, not {type(data).__name__!r}"
            )
        if not data:
            return
        if self._conn_lost or self._closing:
            self._drop_write("pipe closed by peer or os.write(pipe, data) raised exception.")
            return
        if not self._writing and not self._wqueue:
            view = memoryview(data)
            try:
                sent = self._stream.try_write(view)
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._conn_lost += 1
                self._fatal_error(exc, "Fatal write error on pipe transport")
                return
            if sent == view.nbytes:
                return
            rest = view[sent:]
            if not isinstance(data, bytes):
                rest = memoryview(bytes(rest))  # the caller may reuse its buffer
            self._wqueue.append(rest)
            self._wsize += rest.nbytes
            self._submit()
        else:
            chunk = data if isinstance(data, bytes) else bytes(data)
            self._wqueue.append(chunk)
            self._wsize += len(chunk)
        self._maybe_pause_protocol()

    def _submit(self) -> None:
        queue = self._wqueue
        if len(queue) == 1:
            chunk = queue.popleft()
        else:
            parts: list[bytes | memoryview] = []
            size = 0
            while queue and size < _JOIN_LIMIT:
                part = queue.popleft()
                parts.append(part)
                size += len(part)
            chunk = b"".join(parts)
        self._writing = True
        self._inflight = view = memoryview(chunk)
        self._stream.write(view, self._write_done)

    def _write_done(self, nbytes: int, exc: BaseException | None, /) -> None:
        self._writing = False
        view = self._inflight
        self._inflight = None
        if self._stream_closed:
            return  # cancelled by abort or a fatal error
        self._wsize -= nbytes
        if exc is not None:
            self._wqueue.clear()
            self._wsize = 0
            self._conn_lost += 1
            self._fatal_error(exc, "Fatal write error on pipe transport")
            return
        if view is not None and nbytes < view.nbytes:
            self._wqueue.appendleft(view[nbytes:])
        self._maybe_resume_protocol()  # may write more
        if self._writing or self._stream_closed:
            return
        if self._wqueue:
            self._submit()
        elif self._closing:
            self._close_stream(None)

    def can_write_eof(self) -> bool:
        """``True``: end of file is sent by closing the pipe."""
        return True

    def write_eof(self) -> None:
        """Close once the queued data is written (a pipe has no half-close)."""
        if self._closing:
            return
        self._closing = True
        if not self._writing and not self._wqueue:
            self._close_stream(None)

    def close(self) -> None:
        """Write what is queued, then close; ``connection_lost(None)`` follows."""
        if not self._closing and not self._stream_closed:
            self.write_eof()

    def abort(self) -> None:
        """Close now, discarding queued data; ``connection_lost(None)`` follows."""
        self._force_close(None)

    # -- closing -----------------------------------------------------------------

    def _force_close(self, exc: BaseException | None) -> None:
        self._closing = True
        self._wqueue.clear()
        self._wsize = 0
        self._close_stream(exc)

    def _close_stream(self, exc: BaseException | None) -> None:
        # _watching never becomes True again once the stream is closed.
        self._watching = False
        super()._close_stream(exc)
