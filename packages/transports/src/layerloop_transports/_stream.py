"""The stream transport (TCP and Unix sockets), written once over
:class:`layerloop_core.abc.Stream`.

The transport is the :class:`~layerloop_core.abc.StreamOwner` of one backend stream and
never touches the fd itself: the backend reads into the buffer the transport lends, the
transport tries writes synchronously and hands the backend what the kernel did not take,
and the backend closes.  Nothing here knows whether the backend is readiness or
completion based.

Invariants:

* **Reads.**  A ``Protocol`` reads into a 256 KiB buffer taken from a process-wide free
  list when the backend asks for one and given back once the read has completed and its
  bytes are copied out (as the ``bytes`` that ``data_received`` needs).  On a readiness
  backend the read completes inside the call that asked, so one buffer serves every
  connection and an idle connection holds none; on a completion backend each read in
  flight holds one, and takes the same one back for its next read.  A buffer goes back
  only from ``read_done`` (or once the backend has closed the stream), when the kernel
  can no longer write into it.  A ``BufferedProtocol`` reads straight into the buffer its
  ``get_buffer`` returns.  Reading starts only after ``connection_made`` has run, stops
  for ``pause_reading``, at end of stream and at ``close``, and never restarts after end
  of stream.
* **Writes.**  Bytes accepted by ``write`` are either in the kernel or counted in
  ``_wsize`` (queued in ``_wqueue`` or lent to the one outstanding backend write,
  ``_writing``).  ``write`` tries the kernel first only when nothing is queued or
  outstanding, so bytes are never reordered.  Flow control compares ``_wsize`` with the
  water marks exactly where CPython does: after queueing (pause) and after a backend
  write reports (resume).
* **Closing.**  ``_conn_lost`` becomes non-zero when the end is decided: at once for
  ``abort`` and fatal errors, and for ``close`` once the queue has drained.  At that
  moment the backend stream is closed (it cancels an outstanding write, drains, closes
  the fd) and ``connection_lost`` runs from its completion callback, once.  A buffer the
  protocol lent for a read is therefore released before ``connection_lost`` runs, on
  every kind of backend.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import socket
import sys
import warnings
from typing import TYPE_CHECKING, Any, Final, cast

from layerloop_core.abc import BYTES_READ_SIZE, Stream, StreamBackend

from ._buffers import new_read_buffer, new_read_buffers
from ._fdowners import claim_fd
from ._flowcontrol import FlowControlledTransport

if TYPE_CHECKING:
    from ._server import Server

__all__ = ["StreamTransport"]

logger = logging.getLogger("asyncio")

#: The size of a ``Protocol``'s read buffer once a read has filled one (what CPython's
#: transport asks ``recv`` for): large reads amortise the per-read cost of the loop.
READ_BUFFER_SIZE: Final = 256 * 1024
#: The size lent on a completion backend while reads are small (each fits here, and
#: none filled a large buffer since).  There every waiting connection has a receive in
#: flight with a buffer lent to the kernel, so this is what an idle connection holds.
#: (A readiness backend always lends a large one: a read is made only once data is
#: there, one buffer serves every connection, and a 100 KiB message is then one read.)
SMALL_READ_BUFFER_SIZE: Final = 16 * 1024
#: Free read buffers kept, process-wide, per size (at most 16 MiB of large and 4 MiB of
#: small ones): a fresh buffer costs more than a short connection's whole setup (glibc
#: maps and zero-fills new pages for it).
FREE_READ_BUFFERS: Final = 64
#: On a readiness backend, a read into the large buffer of fewer bytes than this ends a
#: bulk transfer: reads go into new bytes objects again (see read_bytes).  Well below
#: BYTES_READ_SIZE, so that the tail of a large message does not switch back.
BYTES_AGAIN_BELOW: Final = 16 * 1024
FREE_SMALL_READ_BUFFERS: Final = 256
#: Small buffers are made this many at a time, from one mapping (256 KiB).
SMALL_BUFFERS_PER_MAP: Final = 16
_free_read_buffers: list[memoryview] = []
_free_small_read_buffers: list[memoryview] = []

_BYTES_LIKE = (bytes, bytearray, memoryview)
_EMPTY: Final = memoryview(b"")
#: Most queued chunks handed to the backend as one vectored write.
_VECTOR_LIMIT: Final = 1024
#: ``writelines`` joins its items up to this many bytes in all (see its docstring).
WRITELINES_JOIN_LIMIT: Final = 64 * 1024
#: Python 3.11's ``writelines`` is ``b"".join`` then ``write`` (its ``TypeError`` for a
#: bad item is join's); 3.12 made it take ``memoryview`` of each item (memoryview's).
_WRITELINES_JOINS: Final = sys.version_info < (3, 12)


def set_nodelay(sock: socket.socket) -> None:
    """Turn Nagle's algorithm off on a TCP socket (small writes leave at once)."""
    if (
        sock.family in (socket.AF_INET, socket.AF_INET6)
        and sock.type == socket.SOCK_STREAM
        and sock.proto in (0, socket.IPPROTO_TCP)
    ):
        # The peer may be gone already: the transport's first I/O reports that.
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _resolve_waiter(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class StreamTransport(FlowControlledTransport, asyncio.Transport):
    """A connected stream socket (TCP or Unix) as an :class:`asyncio.Transport`.

    Created by the connection APIs of :class:`~layerloop_transports.TransportsMixin`;
    *loop* must be a loop whose ``backend`` implements
    :class:`~layerloop_core.abc.StreamBackend`.  The transport takes ownership of the
    non-blocking *sock* (the backend closes it), schedules
    ``protocol.connection_made(self)``, then starts reading, then resolves *waiter*.
    """

    __slots__ = (
        "__weakref__",
        "_backend_reads_bytes",
        "_buffered",
        "_buffered_takes_bytes",
        "_bytes_copied_in",
        "_bytes_full",
        "_eof",
        "_eof_received",
        "_inflight",
        "_info",
        "_lender",
        "_lent",
        "_paused",
        "_read_large",
        "_read_sizes_adapt",
        "_sendfile_waiter",
        "_server",
        "_sock",
        "_started",
        "_stream",
        "_stream_closed",
        "_try_write",
        "_wqueue",
        "_writing",
        "wants_bytes",
    )

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        protocol: asyncio.BaseProtocol,
        waiter: asyncio.Future[None] | None = None,
        *,
        extra: dict[str, Any] | None = None,
        server: Server | None = None,
    ) -> None:
        super().__init__(loop, protocol)
        self._sock = sock
        self._fd = sock.fileno()
        info: dict[str, Any] = {} if extra is None else dict(extra)
        self._info = info
        info["socket"] = sock
        try:
            info["sockname"] = sock.getsockname()
        except OSError:
            info["sockname"] = None
        if "peername" not in info:
            try:
                info["peername"] = sock.getpeername()
            except OSError:
                info["peername"] = None
        backend = cast(StreamBackend, getattr(loop, "backend", None))
        # A readiness backend reads a Protocol's data straight into new bytes objects
        # (BytesStreamOwner): one copy, where a lent buffer costs two.
        self._backend_reads_bytes = getattr(backend, "reads_bytes", False) is True
        # A bytes read this long filled all the backend asked for: a bulk transfer.
        self._bytes_full: int = getattr(backend, "bytes_read_size", BYTES_READ_SIZE)
        # A BufferedProtocol takes small reads as bytes too (copied into its buffer)
        # on a completion backend: there a read lent its buffer would be a request per
        # message, where bytes reads share one multishot receive.  On a readiness
        # backend the kernel reads straight into its buffer at the same cost.
        self._buffered_takes_bytes = self._backend_reads_bytes and backend.kind == "completion"
        self._buffered = False
        # Bytes reads reach a BufferedProtocol by a copy into its buffer, except for a
        # protocol of this package that takes them as they are (TLSLayer).
        self._bytes_copied_in = False
        self.wants_bytes = False
        self._lent: memoryview | None = None
        # The BufferedProtocol whose own buffer is lent, None while the transport's
        # reused buffer is (set_protocol may swap protocols before the read completes).
        self._lender: asyncio.BufferedProtocol | None = None
        self.set_protocol(protocol)
        self._server = server
        self._paused = False
        self._started = False
        self._eof = False
        self._eof_received = False
        self._stream_closed = False
        self._wqueue: collections.deque[bytes | memoryview] = collections.deque()
        self._writing = False
        self._inflight: memoryview | list[memoryview] | None = None
        # Set while loop.sendfile() owns the write side (see _sendfile.py): resolved
        # once the queue has drained; write()/writelines() raise meanwhile.
        self._sendfile_waiter: asyncio.Future[None] | None = None
        set_nodelay(sock)
        # Whether the next free-list buffer lent is a READ_BUFFER_SIZE one (else a
        # SMALL_READ_BUFFER_SIZE one); only a completion backend's reads adapt it.
        self._read_sizes_adapt = backend.kind == "completion"
        self._read_large = not self._read_sizes_adapt
        self._stream: Stream = backend.open_stream(sock, self)
        # Bound once: write() calls it for every write made while idle.
        self._try_write = self._stream.try_write
        claim_fd(loop, sock.fileno(), self)
        if server is not None:
            server._attach(self)
        loop.call_soon(protocol.connection_made, self)
        # Reading starts after connection_made has run (it may pause reading).
        loop.call_soon(self._start_reading)
        if waiter is not None:
            loop.call_soon(_resolve_waiter, waiter)

    def __repr__(self) -> str:
        parts = [type(self).__name__]
        if self._stream_closed:
            parts.append("closed")
        elif self._closing:
            parts.append("closing")
        if not self._stream_closed:
            parts.append(f"fd={self._sock.fileno()}")
            parts.append("read=" + ("polling" if self.is_reading() else "idle"))
            state = "polling" if self._writing else "idle"
            parts.append(f"write=<{state}, bufsize={self._wsize}>")
        return f"<{' '.join(parts)}>"

    def __del__(self, _warn: Any = warnings.warn) -> None:
        if not getattr(self, "_stream_closed", True):
            _warn(f"unclosed transport {self!r}", ResourceWarning, source=self)
            self._stream_closed = True
            # The loop or the backend may be gone already: nothing else can be done.
            with contextlib.suppress(Exception):
                self._stream.close(_nothing)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """``socket`` (the socket object itself: CPython's wrapper class is private),
        ``sockname``, ``peername``, or *default*."""
        return self._info.get(name, default)

    # -- protocol --------------------------------------------------------------------

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        """Deliver events to *protocol* from now on (``BufferedProtocol`` reads land in
        its buffer)."""
        self._protocol = protocol
        self._buffered = isinstance(protocol, asyncio.BufferedProtocol)
        self._bytes_copied_in = self._buffered and not getattr(
            protocol, "_layerloop_takes_bytes", False
        )
        self.wants_bytes = self._backend_reads_bytes and (
            not self._buffered or self._buffered_takes_bytes
        )

    # -- reading: the StreamOwner side -------------------------------------------------

    def is_reading(self) -> bool:
        """Whether the transport is receiving (not paused, not closing)."""
        return not self._closing and not self._paused

    def pause_reading(self) -> None:
        """Stop delivering data until :meth:`resume_reading`.  Idempotent."""
        if self._closing or self._paused:
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
        if self._started and not self._eof_received:
            self._stream.start_reading()
        if self._loop.get_debug():
            logger.debug("%r resumes reading", self)

    def _start_reading(self) -> None:
        self._started = True
        if not self._closing and not self._paused and not self._eof_received:
            self._stream.start_reading()

    def get_read_buffer(self, size_hint: int) -> memoryview:
        """StreamOwner: a free read buffer, or the ``BufferedProtocol``'s own."""
        if not self._buffered:
            view = self._lent
            if view is None or self._lender is not None:
                # (A free-list buffer still lent is one whose read never reported, e.g.
                # a readiness backend's recv_into that would block: it is lent again.)
                if self._read_large:
                    free = _free_read_buffers
                    view = free.pop() if free else new_read_buffer(READ_BUFFER_SIZE)
                else:
                    free = _free_small_read_buffers
                    if not free:
                        free += new_read_buffers(SMALL_READ_BUFFER_SIZE, SMALL_BUFFERS_PER_MAP)
                    view = free.pop()
                self._lent = view
                self._lender = None
            return view
        protocol = self._protocol
        try:
            view = _protocol_buffer(protocol, size_hint)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            # The seam lets the owner close the stream inside this call: the backend
            # then skips the read and the returned buffer is never lent.
            self._lent = None
            self._lender = None
            self._fatal_error(exc, "Fatal error: protocol.get_buffer() call failed.")
            return _EMPTY
        self._lent = view
        self._lender = protocol
        return view

    def read_done(self, nbytes: int) -> None:
        """StreamOwner: *nbytes* landed in the lent buffer (0: end of stream).

        Where they landed is decided by what was lent, not by the current protocol: on a
        completion backend a receive lent before ``set_protocol`` completes after it."""
        view = self._lent
        lender = self._lender
        self._lent = None
        self._lender = None
        if view is None:
            return
        if lender is None:
            # A free-list buffer: the read is over, so the kernel is done with it.  Its
            # bytes are copied out first, then it goes back: the list is process-wide,
            # and a loop in another thread may take the buffer the moment it is there.
            data = bytes(view[:nbytes]) if nbytes and not self._conn_lost else b""
            if self._read_sizes_adapt:
                if nbytes == view.nbytes:
                    # A full buffer: more is probably waiting; the next read gets room.
                    self._read_large = True
                elif nbytes <= SMALL_READ_BUFFER_SIZE:
                    self._read_large = False
            if self._backend_reads_bytes and nbytes < BYTES_AGAIN_BELOW:
                # The bulk transfer is over: small reads go straight into bytes again.
                self.wants_bytes = not self._buffered or self._buffered_takes_bytes
            if view.nbytes == READ_BUFFER_SIZE:
                if len(_free_read_buffers) < FREE_READ_BUFFERS:
                    _free_read_buffers.append(view)
            elif len(_free_small_read_buffers) < FREE_SMALL_READ_BUFFERS:
                _free_small_read_buffers.append(view)
        if self._conn_lost:
            return  # a lost connection
        if not nbytes:
            self._on_eof()
            return
        protocol = self._protocol
        if lender is not None:
            if lender is protocol:
                if self._buffered_takes_bytes and nbytes < BYTES_AGAIN_BELOW:
                    # The bulk transfer is over: small reads come as bytes again (the
                    # multishot receive of a completion backend, copied in).
                    self.wants_bytes = True
                try:
                    protocol.buffer_updated(nbytes)
                except (SystemExit, KeyboardInterrupt):
                    raise
                except BaseException as exc:
                    self._fatal_error(exc, "Fatal error: protocol.buffer_updated() call failed.")
                return
            data = bytes(view[:nbytes])
        self._deliver(protocol, data)

    def _deliver(self, protocol: Any, data: bytes) -> None:
        """Hand *data* to *protocol*, a ``Protocol``, or a ``BufferedProtocol`` that did
        not lend the buffer the bytes were read into (swapped in mid-read)."""
        if self._bytes_copied_in:
            self._feed_buffered(protocol, data)
            return
        try:
            protocol.data_received(data)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal error: protocol.data_received() call failed.")

    def read_bytes(self, data: bytes) -> None:
        """BytesStreamOwner: *data* was read into a new object (``b""``: end of stream)."""
        if len(data) >= self._bytes_full:
            # A full read: a bulk transfer, which one large lent buffer reads in fewer
            # calls (a 100 KiB message in one read and one delivery rather than two).
            self.wants_bytes = False
            self._read_large = True
        if self._conn_lost:
            return  # a lost connection
        if not data:
            self._on_eof()
            return
        self._deliver(self._protocol, data)

    def _feed_buffered(self, protocol: asyncio.BufferedProtocol, data: bytes) -> None:
        """Copy *data* into *protocol*'s buffers, ``get_buffer``/``buffer_updated`` as
        often as its buffers are smaller (a protocol swapped in mid-read only).  A
        callback that swaps the protocol again gets the rest delivered to the new one."""
        rest: bytes | memoryview = data
        while rest:
            if not self._buffered:
                try:
                    self._protocol.data_received(bytes(rest))
                except (SystemExit, KeyboardInterrupt):
                    raise
                except BaseException as exc:
                    self._fatal_error(exc, "Fatal error: protocol.data_received() call failed.")
                return
            size = len(rest)
            try:
                view = _protocol_buffer(protocol, -1)  # as asyncio: no size hint
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._fatal_error(exc, "Fatal error: protocol.get_buffer() call failed.")
                return
            count = view.nbytes
            if count >= size:
                # The usual case: all of it fits.
                count = size
                view[:count] = rest
                rest = b""
            else:
                rest = memoryview(rest)
                view[:] = rest[:count]
                rest = rest[count:]
            try:
                protocol.buffer_updated(count)
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._fatal_error(exc, "Fatal error: protocol.buffer_updated() call failed.")
                return
            if self._conn_lost:
                return  # closed from inside the callback: the rest is dropped
            protocol = self._protocol

    def read_failed(self, exc: BaseException) -> None:
        """StreamOwner: the read failed; the connection is lost with *exc*."""
        self._lent = None
        self._lender = None
        if self._conn_lost:
            return
        self._fatal_error(exc, "Fatal read error on socket transport")

    def _on_eof(self) -> None:
        # The backend has stopped reading; it never restarts after end of stream.
        self._eof_received = True
        if self._loop.get_debug():
            logger.debug("%r received EOF", self)
        try:
            keep_open = self._protocol.eof_received()
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal error: protocol.eof_received() call failed.")
            return
        if not keep_open:
            self.close()

    # -- writing -----------------------------------------------------------------------

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Send *data*: tried at once, the rest queued and sent in order."""
        if not isinstance(data, _BYTES_LIKE):
            raise TypeError(
                f"data argument must be a bytes-like object, not {type(data).__name__!r}"
            )
        if self._eof:
            raise RuntimeError("Cannot call write() after write_eof()")
        if self._sendfile_waiter is not None:
            raise RuntimeError("unable to write; sendfile is in progress")
        if not data:
            return
        if self._conn_lost:
            self._drop_write("socket.send() raised exception.")
            return
        if not self._writing and not self._wqueue:
            view = memoryview(data)
            try:
                sent = self._try_write(view)
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._fatal_error(exc, "Fatal write error on socket transport")
                return
            if sent == view.nbytes:
                return
            # Queue a private copy of the rest: the caller may reuse a bytearray.
            rest = view[sent:]
            if not isinstance(data, bytes):
                rest = memoryview(bytes(rest))
            self._wqueue.append(rest)
            self._wsize += len(rest)
            self._submit()
        else:
            chunk = data if isinstance(data, bytes) else bytes(data)
            self._wqueue.append(chunk)
            self._wsize += len(chunk)
        self._maybe_pause_protocol()

    def writelines(self, list_of_data: Any) -> None:
        """Write each bytes-like object of the iterable, in order.

        Up to :data:`WRITELINES_JOIN_LIMIT` bytes in all, the items are joined and
        written as :meth:`write` writes (one copy of a few KiB costs less than a
        second system call or a wait for the backend).  Above it nothing is joined:
        the first item is tried at once, and the rest is queued item by item (a
        ``bytes``, or a byte view of one, by reference; anything mutable copied, so the
        caller may reuse it) and handed to the backend as one vectored write.
        """
        if self._eof:
            raise RuntimeError("Cannot call writelines() after write_eof()")
        if self._sendfile_waiter is not None:
            raise RuntimeError("unable to writelines; sendfile is in progress")
        items = list_of_data if list_of_data.__class__ is list else list(list_of_data)
        total = 0
        for index, item in enumerate(items):
            total += _nbytes(item, index)
        if total <= WRITELINES_JOIN_LIMIT or len(items) == 1:
            if total:
                only = items[0] if len(items) == 1 else None
                self.write(only if only.__class__ in _BYTES_LIKE else b"".join(items))
            return
        if self._conn_lost:
            self._drop_write("socket.send() raised exception.")
            return
        queue = self._wqueue
        idle = not self._writing and not queue
        rest = iter(items)
        if idle:
            first = next(rest)
            view = _byte_view(first)
            try:
                sent = self._stream.try_write(view)
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._fatal_error(exc, "Fatal write error on socket transport")
                return
            total -= sent
            if sent < view.nbytes:
                queue.append(_owned_chunk(first, view[sent:]))
        for item in rest:
            if item.__class__ is bytes:
                if item:
                    queue.append(item)
            elif chunk := _owned_chunk(item, _byte_view(item)):
                queue.append(chunk)
        self._wsize += total
        if idle and queue:
            self._submit()
        self._maybe_pause_protocol()

    def _submit(self) -> None:
        """Hand the queued chunks to the backend as one write, vectored when there are
        several (nothing outstanding)."""
        queue = self._wqueue
        inflight: memoryview | list[memoryview]
        if len(queue) == 1:
            inflight = memoryview(queue.popleft())
        else:
            inflight = []
            while queue and len(inflight) < _VECTOR_LIMIT:
                inflight.append(memoryview(queue.popleft()))
        self._writing = True
        self._inflight = inflight
        try:
            self._stream.write(inflight, self._write_done)
        except BaseException:
            self._writing = False
            self._inflight = None
            if isinstance(inflight, memoryview):
                queue.appendleft(inflight)
            else:
                queue.extendleft(reversed(inflight))
            raise

    def _write_done(self, nbytes: int, exc: BaseException | None, /) -> None:
        """Operation callback of the outstanding backend write."""
        self._writing = False
        inflight = self._inflight
        self._inflight = None
        if self._stream_closed:
            return  # cancelled by the close (abort or fatal error)
        self._wsize -= nbytes
        if exc is None and inflight is not None:
            # A short count with no error (allowed by the interface): the unwritten
            # tail goes back to the front of the queue.
            _requeue_tail(self._wqueue, inflight, nbytes)
        if exc is not None:
            self._wqueue.clear()
            self._wsize = 0
            self._fatal_error(exc, "Fatal write error on socket transport")
            return
        self._maybe_resume_protocol()  # may write more
        if self._writing or self._conn_lost:
            return
        if self._sendfile_waiter is not None and not self._wqueue:
            _resolve_waiter(self._sendfile_waiter)
        if self._wqueue:
            self._submit()
        elif self._closing:
            self._conn_lost += 1
            self._close_stream(None)
        elif self._eof:
            self._stream.shutdown_write(self._shutdown_done)

    def can_write_eof(self) -> bool:
        """Sockets can be half-closed: ``True``."""
        return True

    def write_eof(self) -> None:
        """Half-close once the queued data is sent; reading continues."""
        if self._closing or self._eof:
            return
        self._eof = True
        if not self._writing and not self._wqueue and not self._conn_lost:
            self._stream.shutdown_write(self._shutdown_done)

    def _shutdown_done(self, exc: BaseException | None, /) -> None:
        if exc is None or self._conn_lost or isinstance(exc, asyncio.CancelledError):
            return
        self._fatal_error(exc, "Fatal error on transport")

    # -- closing -----------------------------------------------------------------------

    def close(self) -> None:
        """Stop reading, send what is queued, then close; ``connection_lost(None)``
        follows once.  Idempotent."""
        if self._closing:
            return
        self._closing = True
        self._stream.stop_reading()
        if not self._writing and not self._wqueue and not self._conn_lost:
            self._conn_lost += 1
            self._close_stream(None)

    def abort(self) -> None:
        """Close now, discarding queued data; ``connection_lost(None)`` follows once."""
        self._force_close(None)

    def _force_close(self, exc: BaseException | None) -> None:
        if self._conn_lost:
            return
        self._wqueue.clear()
        self._wsize = 0
        self._closing = True
        self._conn_lost += 1
        self._close_stream(exc)

    def _close_stream(self, exc: BaseException | None) -> None:
        self._lost_exc = exc
        self._stream_closed = True
        waiter = self._sendfile_waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(ConnectionError("Connection is closed by peer"))
        self._stream.close(self._stream_gone)

    def _stream_gone(self) -> None:
        """The backend has closed the fd: tell the protocol, once."""
        try:
            self._connection_gone()
        finally:
            # The backend has released every lent buffer by now, and the protocol only
            # ever saw copies: a free-list buffer still lent can serve another read.
            view = self._lent
            if view is not None and self._lender is None:
                _give_back(view)
            self._lent = None
            self._lender = None
            server = self._server
            if server is not None:
                self._server = None
                server._detach(self)


def _protocol_buffer(protocol: asyncio.BufferedProtocol, size_hint: int) -> memoryview:
    """``protocol.get_buffer(size_hint)`` as a writable view of bytes; an empty or a
    read-only buffer raises as asyncio's transports do.  A protocol that keeps a
    memoryview of its buffer gets that very view back."""
    buf = protocol.get_buffer(size_hint)
    view = buf if buf.__class__ is memoryview else memoryview(buf)
    if not view.nbytes:
        raise RuntimeError("get_buffer() returned an empty buffer")
    if view.readonly:
        raise TypeError("get_buffer() returned a read-only buffer")
    if not view.c_contiguous or view.itemsize != 1:
        view = view.cast("B")
    return view


def _give_back(view: memoryview) -> None:
    """Return a free-list read buffer, once the kernel and the reader are done with it
    (:meth:`StreamTransport.read_done` does the same inline)."""
    if view.nbytes == READ_BUFFER_SIZE:
        if len(_free_read_buffers) < FREE_READ_BUFFERS:
            _free_read_buffers.append(view)
    elif len(_free_small_read_buffers) < FREE_SMALL_READ_BUFFERS:
        _free_small_read_buffers.append(view)


def _nothing() -> None:
    pass


def _nbytes(item: Any, index: int) -> int:
    """The size in bytes of one ``writelines`` item; ``TypeError`` if it is not
    bytes-like (with the message of the running Python's ``writelines``)."""
    cls = item.__class__
    if cls is bytes or cls is bytearray:
        return len(item)
    try:
        return memoryview(item).nbytes
    except TypeError:
        if _WRITELINES_JOINS:
            raise TypeError(
                f"sequence item {index}: expected a bytes-like object, {cls.__name__} found"
            ) from None
        raise


def _byte_view(item: Any) -> memoryview:
    """*item* as a C-contiguous view of bytes (what the backend writes); a copy only
    for a non-contiguous buffer."""
    view = memoryview(item)
    if view.c_contiguous:
        return view if view.itemsize == 1 else view.cast("B")
    return memoryview(view.tobytes())


def _owned_chunk(item: Any, view: memoryview) -> bytes | memoryview:
    """What to queue for *view* (part of the ``writelines`` item *item*): the view
    itself when it reads an immutable ``bytes``, else a private copy."""
    if item.__class__ is bytes or (view.obj.__class__ is bytes and view.readonly):
        return view
    return bytes(view)


def _requeue_tail(
    queue: collections.deque[bytes | memoryview],
    written: memoryview | list[memoryview],
    nbytes: int,
) -> None:
    """Put back at the front of *queue* what of *written* lies past its first *nbytes*."""
    if isinstance(written, memoryview):
        if nbytes < written.nbytes:
            queue.appendleft(written[nbytes:])
        return
    for index, chunk in enumerate(written):
        size = chunk.nbytes
        if nbytes < size:
            rest = written[index + 1 :]
            rest.reverse()
            queue.extendleft(rest)
            queue.appendleft(chunk[nbytes:] if nbytes else chunk)
            return
        nbytes -= size
