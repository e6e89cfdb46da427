"""TLS as one layer over any transport, on the stdlib :mod:`ssl` module with memory BIOs.

:class:`TLSLayer` is the *protocol* of a lower transport (a :class:`StreamTransport`, or
another TLS transport: TLS over TLS works the same way).  It feeds what the lower
transport receives into an incoming :class:`ssl.MemoryBIO`, lets an
:class:`ssl.SSLObject` (``SSLContext.wrap_bio``) turn it into plaintext, and hands what
the SSL object puts in the outgoing BIO to the lower transport's ``write``.  The
application sees a :class:`SSLTransport`, a real :class:`asyncio.Transport`.  Nothing
here knows what the lower transport is made of.

Invariants:

* **States.**  ``_state`` only moves forward: handshake -> wrapped -> flushing (closing:
  what the application wrote is encrypted, then ``close_notify``) -> shutdown (our
  ``close_notify`` queued, waiting for the peer's) -> unwrapped (the lower transport is
  being closed or is gone).  The application's ``connection_made`` runs once the
  handshake has succeeded (never for ``start_tls``, whose protocol is connected
  already), ``eof_received`` at most once, and ``connection_lost`` exactly once after a
  ``connection_made``, from the lower transport's ``connection_lost``.
* **Writes.**  Application bytes are encrypted at once when the handshake is done (one
  ``SSLObject.write`` per ``write``; the BIO has no size limit, so the write is whole);
  before that, or when OpenSSL needs to read first (renegotiation), they wait in
  ``_backlog``.  The ciphertext is handed to the lower transport in one ``write`` of
  everything pending unless the lower transport has paused us; then it stays in the
  outgoing BIO.  ``get_write_buffer_size()`` is backlog + outgoing BIO, and the
  application is paused at ``>= high`` and resumed at ``<= low`` (512 KiB / 128 KiB by
  default, as CPython).
* **Reads.**  The lower transport reads into one reused 256 KiB buffer per connection
  (per connection: a completion backend holds it for the whole read in flight),
  copied into the incoming BIO at once.  Plaintext is decrypted straight into a
  ``BufferedProtocol``'s own buffer (``SSLObject.read(n, buffer)``), or, for a
  ``Protocol``, into a 256 KiB buffer shared by the thread's connections, from which
  one ``bytes`` per delivery is made.  Every complete record in the incoming BIO is
  decrypted before the application hears of them: one delivery per lower read, up to
  the buffer's size.  While the application has paused reading, the lower transport
  is paused too, so at most one read in flight lands in the incoming BIO.
* **Errors.**  An error of the TLS layer (handshake, corrupted records, a timeout)
  aborts the lower transport and is what the application's ``connection_lost`` and the
  caller waiting for the handshake receive.  ``ssl.SSLError`` is an ``OSError``: like
  other ``OSError`` s it is logged in debug mode only; anything else goes to the loop's
  exception handler.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import ssl
import threading
import warnings
from collections.abc import Callable
from typing import Any, Final

from ._buffers import new_read_buffer
from ._flowcontrol import water_marks

__all__ = [
    "TLSLayer",
    "TLSServerFactory",
    "TLSSetup",
    "SSLTransport",
    "tls_client_context",
    "tls_timeouts",
]

logger = logging.getLogger("asyncio")

#: Seconds the handshake may take (``ssl_handshake_timeout`` default, as CPython).
HANDSHAKE_TIMEOUT: Final = 60.0
#: Seconds the closing exchange may take (``ssl_shutdown_timeout`` default).
SHUTDOWN_TIMEOUT: Final = 30.0
#: Size of the buffer the lower transport reads ciphertext into, and of one delivery of
#: plaintext to a ``Protocol``.
READ_CHUNK: Final = 256 * 1024
#: Default high-water mark of a TLS transport's write buffer; low defaults to a quarter.
WRITE_HIGH_WATER: Final = 512 * 1024
#: After this many writes to a closed TLS transport, each further one logs a warning.
_CONNLOST_WRITE_WARN: Final = 5

# OpenSSL says "come back with more input" with SSLWantReadError; with memory BIOs an
# SSLSyscallError means the same (no more input yet).
_AGAIN = (ssl.SSLWantReadError, ssl.SSLSyscallError)

_HANDSHAKE: Final = 0
_WRAPPED: Final = 1
_FLUSHING: Final = 2
_SHUTDOWN: Final = 3
_UNWRAPPED: Final = 4

_APP_INIT: Final = 0
_APP_MADE: Final = 1
_APP_EOF: Final = 2
_APP_LOST: Final = 3


def tls_timeouts(handshake: float | None, shutdown: float | None) -> tuple[float, float]:
    """The handshake and shutdown timeouts, defaulted; ``ValueError`` (CPython's
    message) unless positive."""
    if handshake is None:
        handshake = HANDSHAKE_TIMEOUT
    elif handshake <= 0:
        raise ValueError(f"ssl_handshake_timeout should be a positive number, got {handshake}")
    if shutdown is None:
        shutdown = SHUTDOWN_TIMEOUT
    elif shutdown <= 0:
        raise ValueError(f"ssl_shutdown_timeout should be a positive number, got {shutdown}")
    return handshake, shutdown


def tls_client_context(ssl_arg: Any, server_hostname: str | None) -> ssl.SSLContext:
    """The context for ``ssl=`` on the client side: *ssl_arg* itself, or for ``True`` a
    default (verifying) context, whose hostname check is off when *server_hostname* is
    empty (CPython's rule)."""
    if not isinstance(ssl_arg, bool):
        return ssl_arg  # type: ignore[no-any-return]
    context = ssl.create_default_context()
    if not server_hostname:
        context.check_hostname = False
    return context


class TLSSetup:
    """What one ``ssl=`` argument means for the connections it applies to."""

    __slots__ = (
        "context",
        "handshake_timeout",
        "server_hostname",
        "server_side",
        "shutdown_timeout",
    )

    def __init__(
        self,
        context: ssl.SSLContext,
        *,
        server_side: bool,
        server_hostname: str | None,
        handshake_timeout: float | None,
        shutdown_timeout: float | None,
    ) -> None:
        self.handshake_timeout, self.shutdown_timeout = tls_timeouts(
            handshake_timeout, shutdown_timeout
        )
        self.context = context
        self.server_side = server_side
        self.server_hostname = server_hostname

    @classmethod
    def client(
        cls,
        ssl_arg: Any,
        server_hostname: str | None,
        handshake_timeout: float | None,
        shutdown_timeout: float | None,
    ) -> TLSSetup:
        """``ssl=`` of a connecting method (an ``SSLContext`` or ``True``)."""
        return cls(
            tls_client_context(ssl_arg, server_hostname),
            server_side=False,
            server_hostname=server_hostname,
            handshake_timeout=handshake_timeout,
            shutdown_timeout=shutdown_timeout,
        )

    @classmethod
    def server(
        cls, ssl_arg: Any, handshake_timeout: float | None, shutdown_timeout: float | None
    ) -> TLSSetup:
        """``ssl=`` of a serving method: an ``SSLContext`` is required."""
        if isinstance(ssl_arg, bool) or not ssl_arg:
            raise ValueError("Server side SSL needs a valid SSLContext")
        return cls(
            ssl_arg,
            server_side=True,
            server_hostname=None,
            handshake_timeout=handshake_timeout,
            shutdown_timeout=shutdown_timeout,
        )

    def layer(
        self,
        loop: asyncio.AbstractEventLoop,
        app_protocol: asyncio.BaseProtocol,
        waiter: asyncio.Future[None] | None,
        *,
        call_connection_made: bool = True,
    ) -> TLSLayer:
        return TLSLayer(
            loop,
            app_protocol,
            self.context,
            waiter,
            server_side=self.server_side,
            server_hostname=self.server_hostname,
            handshake_timeout=self.handshake_timeout,
            shutdown_timeout=self.shutdown_timeout,
            call_connection_made=call_connection_made,
        )


class TLSServerFactory:
    """The protocol factory a TLS server's listener uses: each accepted connection
    gets a server-side :class:`TLSLayer` around ``protocol_factory()``."""

    __slots__ = ("loop", "protocol_factory", "setup")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        protocol_factory: Callable[[], asyncio.BaseProtocol],
        setup: TLSSetup,
    ) -> None:
        self.loop = loop
        self.protocol_factory = protocol_factory
        self.setup = setup

    def __call__(self) -> TLSLayer:
        return self.setup.layer(self.loop, self.protocol_factory(), None)


_per_thread = threading.local()


def _plaintext_view() -> memoryview:
    """The calling thread's buffer for decrypting a ``Protocol``'s deliveries.

    A delivery fills it and copies the plaintext out into ``bytes`` before
    ``data_received`` runs, with no Python code of the loop in between, so every TLS
    layer of the thread's loop can share it: 256 KiB per thread rather than per
    connection (a connection's layer only runs in its loop's thread).
    """
    try:
        view: memoryview = _per_thread.plaintext
    except AttributeError:
        view = _per_thread.plaintext = new_read_buffer(READ_CHUNK)
    return view


def _same_or_copy(data: bytes | bytearray | memoryview) -> bytes:
    return data if type(data) is bytes else bytes(data)


class TLSLayer(asyncio.BufferedProtocol):
    """The TLS state machine, set as the protocol of the lower transport.

    *waiter* (optional) receives the handshake's outcome: ``None``, or the exception
    that ended it.  With *call_connection_made* false (``start_tls``) the application
    protocol is not told ``connection_made`` again.
    """

    __slots__ = (
        "_app_buffered",
        "_app_protocol",
        "_app_read_paused",
        "_app_state",
        "_app_transport",
        "_app_write_paused",
        "_backlog",
        "_backlog_size",
        "_call_connection_made",
        "_conn_lost",
        "_dview",
        "_eof_received",
        "_extra",
        "_handshake_timeout",
        "_high_water",
        "_incoming",
        "_loop",
        "_lost_exc",
        "_low_water",
        "_lower",
        "_lower_paused",
        "_outgoing",
        "_rview",
        "_shutdown_timeout",
        "_sslobj",
        "_state",
        "_timer",
        "_waiter",
    )

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        app_protocol: asyncio.BaseProtocol,
        context: ssl.SSLContext,
        waiter: asyncio.Future[None] | None,
        *,
        server_side: bool = False,
        server_hostname: str | None = None,
        handshake_timeout: float = HANDSHAKE_TIMEOUT,
        shutdown_timeout: float = SHUTDOWN_TIMEOUT,
        call_connection_made: bool = True,
    ) -> None:
        self._loop = loop
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        # May raise (check_hostname without a hostname...): nothing exists yet to undo.
        self._sslobj = context.wrap_bio(
            self._incoming,
            self._outgoing,
            server_side=server_side,
            server_hostname=None if server_side or not server_hostname else server_hostname,
        )
        self._waiter = waiter
        self._handshake_timeout = handshake_timeout
        self._shutdown_timeout = shutdown_timeout
        self._call_connection_made = call_connection_made
        self._extra: dict[str, Any] = {"sslcontext": context}
        self._lower: asyncio.Transport | None = None
        self._app_protocol: Any = None
        self._app_buffered = False
        self._set_app_protocol(app_protocol)
        self._app_transport: SSLTransport | None = SSLTransport(loop, self)
        self._state = _HANDSHAKE
        self._app_state = _APP_INIT
        self._timer: asyncio.TimerHandle | None = None
        self._rview = new_read_buffer(READ_CHUNK)
        self._dview: memoryview | None = None
        self._backlog: collections.deque[bytes] = collections.deque()
        self._backlog_size = 0
        self._lower_paused = False
        self._app_write_paused = False
        self._app_read_paused = False
        self._high_water = WRITE_HIGH_WATER
        self._low_water = WRITE_HIGH_WATER // 4
        self._eof_received = False
        self._conn_lost = 0
        self._lost_exc: BaseException | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} state={self._state} lower={self._lower!r}>"

    @property
    def app_transport(self) -> SSLTransport:
        """The transport the application protocol uses (read it before the connection
        can be lost: the layer forgets it then)."""
        transport = self._app_transport
        assert transport is not None
        return transport

    def _mark_app_closed(self) -> None:
        transport = self._app_transport
        if transport is not None:
            transport._closed = True

    def _set_app_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._app_protocol = protocol
        self._app_buffered = isinstance(protocol, asyncio.BufferedProtocol)

    def _wake_waiter(self, exc: BaseException | None) -> None:
        waiter = self._waiter
        if waiter is None:
            return
        self._waiter = None
        if not waiter.done():
            if exc is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(exc)

    def _cancel_timer(self) -> None:
        timer = self._timer
        if timer is not None:
            self._timer = None
            timer.cancel()

    def abandon(self) -> None:
        """The caller waiting for the handshake gave up: drop the timer now (the lower
        transport is being closed; its ``connection_lost`` may come much later)."""
        self._cancel_timer()
        self._waiter = None

    # -- the lower transport's protocol ------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._lower = transport  # type: ignore[assignment]
        self._timer = self._loop.call_later(self._handshake_timeout, self._handshake_timed_out)
        self._do_handshake()

    def connection_lost(self, exc: BaseException | None) -> None:
        self._backlog.clear()
        self._backlog_size = 0
        self._outgoing.read()
        self._conn_lost += 1
        self._cancel_timer()
        self._mark_app_closed()
        lost = self._lost_exc if self._lost_exc is not None else exc
        self._lost_exc = None
        self._state = _UNWRAPPED
        self._lower = None
        if self._app_state in (_APP_MADE, _APP_EOF):
            self._app_state = _APP_LOST
            self._loop.call_soon(self._app_protocol.connection_lost, lost)
        if self._waiter is not None:
            self._wake_waiter(
                lost
                if lost is not None
                else ConnectionResetError("Connection lost during the TLS handshake")
            )
        # No cycle may keep the SSL object (and its context) alive: the application
        # may keep its transport, which keeps this layer.
        self._app_protocol = None
        self._app_transport = None

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._rview

    #: The transports of this package hand bytes reads to data_received rather than
    #: copy them into the buffer (on io_uring, small reads arrive as bytes).
    _layerloop_takes_bytes = True

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(self._rview[:nbytes])

    def data_received(self, data: bytes | memoryview) -> None:
        """Ciphertext from the lower transport, as bytes or a view of the read buffer."""
        self._incoming.write(data)
        state = self._state
        if state == _WRAPPED:
            self._read()
        elif state == _HANDSHAKE:
            self._do_handshake()
        elif state == _FLUSHING:
            self._flush()
        elif state == _SHUTDOWN:
            self._do_shutdown()

    def eof_received(self) -> bool | None:
        """End of the lower stream (no ``close_notify`` was read before it)."""
        self._eof_received = True
        if self._loop.get_debug():
            logger.debug("%r received EOF", self)
        state = self._state
        try:
            if state == _HANDSHAKE:
                self._handshake_failed(
                    ConnectionResetError("Connection lost during the TLS handshake")
                )
            elif state == _WRAPPED:
                self._state = _FLUSHING
                if self._app_read_paused:
                    return True  # the rest is delivered when the application resumes
                self._flush()
            elif state == _FLUSHING:
                self._write_backlog()
                self._state = _SHUTDOWN
                self._do_shutdown()
            elif state == _SHUTDOWN:
                self._do_shutdown()
        except Exception as exc:
            self._fatal_error(exc, "Fatal error on SSL protocol")
        return None

    def pause_writing(self) -> None:
        """The lower transport's buffer is full: keep ciphertext in the outgoing BIO."""
        self._lower_paused = True

    def resume_writing(self) -> None:
        self._lower_paused = False
        self._flush_outgoing()

    # -- handshake ---------------------------------------------------------------------

    def _do_handshake(self) -> None:
        try:
            self._sslobj.do_handshake()
        except _AGAIN:
            self._flush_outgoing()
            return
        except Exception as exc:
            # Send the alert OpenSSL queued (the peer learns why), then give up.
            self._flush_outgoing()
            self._handshake_failed(exc)
            return
        self._flush_outgoing()
        self._handshake_done()

    def _handshake_timed_out(self) -> None:
        self._timer = None
        if self._state == _HANDSHAKE:
            self._fatal_error(
                ConnectionAbortedError(
                    f"SSL handshake is taking longer than {self._handshake_timeout} seconds: "
                    "aborting the connection"
                )
            )

    def _handshake_failed(self, exc: BaseException) -> None:
        self._cancel_timer()
        if isinstance(exc, ssl.CertificateError):
            message = "SSL handshake failed on verifying the certificate"
        else:
            message = "SSL handshake failed"
        self._fatal_error(exc, message)

    def _handshake_done(self) -> None:
        self._cancel_timer()
        sslobj = self._sslobj
        try:
            peercert = sslobj.getpeercert()
        except Exception as exc:
            self._handshake_failed(exc)
            return
        self._extra.update(
            peercert=peercert,
            cipher=sslobj.cipher(),
            compression=sslobj.compression(),
            ssl_object=sslobj,
        )
        self._state = _WRAPPED
        if self._app_state == _APP_INIT:
            self._app_state = _APP_MADE
            if self._call_connection_made:
                try:
                    self._app_protocol.connection_made(self._app_transport)
                except Exception as exc:
                    self._fatal_error(exc, "Fatal error: protocol.connection_made() call failed.")
                    return
        self._wake_waiter(None)
        if self._state != _WRAPPED:
            return  # connection_made closed or aborted
        if self._app_read_paused:
            self._pause_lower_reading()
        if self._backlog:
            self._write_backlog()
        self._read()  # application data may have come with the last handshake flight

    # -- writing -----------------------------------------------------------------------

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Encrypt and send *data* (called by the application transport)."""
        if self._state != _WRAPPED or self._backlog or self._conn_lost:
            self._write_not_wrapped(data)
            return
        try:
            sent = self._sslobj.write(data)
        except _AGAIN:
            sent = 0
        except Exception as exc:
            self._fatal_error(exc, "Fatal error on SSL protocol")
            return
        size = len(data) if type(data) is not memoryview else data.nbytes
        if sent < size:
            rest = _same_or_copy(memoryview(data).cast("B")[sent:])
            self._backlog.append(rest)
            self._backlog_size += len(rest)
        # _flush_outgoing, spelled out: one write per application write is the hot path.
        outgoing = self._outgoing
        lower = self._lower
        if lower is not None and not self._lower_paused and outgoing.pending:
            lower.write(outgoing.read())
        # _control_app_writing acts only from here on (crossing high, or paused).
        if self._app_write_paused or outgoing.pending + self._backlog_size >= self._high_water:
            self._control_app_writing()

    def _write_not_wrapped(self, data: bytes | bytearray | memoryview) -> None:
        """A write during the handshake, behind a backlog, or after closing."""
        state = self._state
        if state > _WRAPPED or self._conn_lost:
            if self._conn_lost >= _CONNLOST_WRITE_WARN:
                logger.warning("SSL connection is closed")
            self._conn_lost += 1
            return
        chunk = _same_or_copy(data)
        self._backlog.append(chunk)
        self._backlog_size += len(chunk)
        if state == _WRAPPED:
            self._write_backlog()
        else:
            self._control_app_writing()

    def _write_backlog(self) -> None:
        """Encrypt what waited for the handshake (or for a renegotiation's read)."""
        backlog = self._backlog
        sslobj = self._sslobj
        try:
            while backlog:
                chunk = backlog[0]
                sent = sslobj.write(chunk)
                self._backlog_size -= sent
                if sent < len(chunk):
                    backlog[0] = chunk[sent:]
                else:
                    backlog.popleft()
        except _AGAIN:
            pass
        self._flush_outgoing()

    def _flush_outgoing(self) -> None:
        """Hand every pending ciphertext byte to the lower transport in one write,
        unless it has paused us."""
        lower = self._lower
        if lower is not None and not self._lower_paused and self._outgoing.pending:
            lower.write(self._outgoing.read())
        self._control_app_writing()

    def get_write_buffer_size(self) -> int:
        return self._outgoing.pending + self._backlog_size

    def set_write_buffer_limits(self, high: int | None, low: int | None) -> None:
        self._high_water, self._low_water = water_marks(high, low, WRITE_HIGH_WATER)
        self._control_app_writing()

    def _control_app_writing(self) -> None:
        if self._app_protocol is None:
            return  # the connection is lost
        size = self._outgoing.pending + self._backlog_size
        # Never paused with nothing buffered: with high=0 that would be a pause no
        # flush can end (asyncio's TLS transport can leave one, and drain() hangs).
        if size >= self._high_water and size:
            if self._app_write_paused:
                return
            self._app_write_paused = True
            method, message = "pause_writing", "protocol.pause_writing() failed"
        elif size <= self._low_water and self._app_write_paused:
            self._app_write_paused = False
            method, message = "resume_writing", "protocol.resume_writing() failed"
        else:
            return
        try:
            getattr(self._app_protocol, method)()
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._loop.call_exception_handler(
                {
                    "message": message,
                    "exception": exc,
                    "transport": self._app_transport,
                    "protocol": self._app_protocol,
                }
            )

    # -- reading -----------------------------------------------------------------------

    def _pause_lower_reading(self) -> None:
        lower = self._lower
        if lower is not None:
            lower.pause_reading()

    def pause_reading(self) -> None:
        """The application paused reading: so does the lower transport."""
        if self._app_read_paused:
            return
        self._app_read_paused = True
        if self._state == _WRAPPED:
            self._pause_lower_reading()

    def resume_reading(self) -> None:
        if not self._app_read_paused:
            return
        self._app_read_paused = False
        lower = self._lower
        if lower is not None and self._state <= _SHUTDOWN:
            lower.resume_reading()
            # Plaintext may be waiting in the SSL object or the incoming BIO.
            self._loop.call_soon(self._resume_delivery)

    def _resume_delivery(self) -> None:
        state = self._state
        try:
            if state == _WRAPPED:
                self._read()
            elif state == _FLUSHING:
                self._flush()
            elif state == _SHUTDOWN:
                self._do_shutdown()
        except Exception as exc:
            self._fatal_error(exc, "Fatal error on SSL protocol")

    def _read(self) -> None:
        """Decrypt and deliver until no complete record is left, the application
        pauses reading or the state moves past flushing (called when wrapped or
        flushing); then send what reading produced, and close on ``close_notify``.

        ``SSL_read`` returns at most one record's plaintext, and less than asked only
        when that record is used up.  So within one filling, the next read is tried
        only while ciphertext (or the end of the stream) is in the incoming BIO, and
        ``pending()`` (decrypted bytes kept in the SSL object) matters only before the
        first read of a filling: on entry, or after a filling that filled the buffer.
        With nothing to read, ``read()`` could only raise ``SSLWantReadError``, which
        costs more than a record's decryption.
        """
        sslobj = self._sslobj
        # With a buffer, SSLObject.read returns a count (typeshed says bytes).
        read: Any = sslobj.read
        incoming = self._incoming
        closed = False
        try:
            while not self._app_read_paused and self._state <= _FLUSHING:
                if not (incoming.pending or incoming.eof or sslobj.pending()):
                    break
                protocol = self._app_protocol
                buffered = self._app_buffered
                if buffered:
                    view = memoryview(protocol.get_buffer(-1))
                    if not view.nbytes:
                        raise RuntimeError("get_buffer() returned an empty buffer")
                    if view.format != "B" or not view.c_contiguous:
                        view = view.cast("B")
                else:
                    shared = self._dview
                    if shared is None:
                        shared = self._dview = _plaintext_view()
                    view = shared
                size = view.nbytes
                filled = 0
                closed = False
                try:
                    filled = read(size, view)
                    if not filled:
                        closed = True
                    while filled < size and (incoming.pending or incoming.eof) and not closed:
                        count: int = read(size - filled, view[filled:])
                        if count:
                            filled += count
                        else:
                            closed = True
                except _AGAIN:
                    pass
                if filled:
                    if buffered:
                        protocol.buffer_updated(filled)
                    else:
                        protocol.data_received(bytes(view[:filled] if filled < size else view))
                if closed or filled < size:
                    break
        except Exception as exc:
            self._fatal_error(exc, "Fatal error on SSL protocol")
            return
        if self._state > _FLUSHING:
            return
        # Reading may have produced TLS output (key updates, renegotiation) or let a
        # write blocked on a read through.
        if self._backlog:
            self._write_backlog()
        elif self._outgoing.pending:
            self._flush_outgoing()
        if closed:
            self._call_app_eof()
            self.start_shutdown()

    def _call_app_eof(self) -> None:
        if self._app_state != _APP_MADE:
            return
        self._app_state = _APP_EOF
        try:
            keep_open = self._app_protocol.eof_received()
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Error calling eof_received()")
            return
        if keep_open:
            logger.warning("returning true from eof_received() has no effect when using ssl")

    def get_read_buffer_size(self) -> int:
        return self._incoming.pending

    # -- closing -----------------------------------------------------------------------

    def start_shutdown(self) -> None:
        """The application closed: flush, send ``close_notify``, wait for the peer's
        (at most the shutdown timeout), then close the lower transport."""
        state = self._state
        if state > _WRAPPED:
            return
        self._mark_app_closed()
        if state == _HANDSHAKE:
            self.abort(None)
            return
        self._state = _FLUSHING
        self._timer = self._loop.call_later(self._shutdown_timeout, self._shutdown_timed_out)
        if self._app_read_paused:
            # The peer's close_notify must still be read.
            lower = self._lower
            if lower is not None:
                lower.resume_reading()
        self._flush()

    def _flush(self) -> None:
        self._read()
        if self._state != _FLUSHING:
            return
        self._write_backlog()
        self._state = _SHUTDOWN
        self._do_shutdown()

    def _do_shutdown(self) -> None:
        try:
            if not self._eof_received:
                self._sslobj.unwrap()
        except _AGAIN:
            self._flush_outgoing()
            return
        except Exception as exc:
            self._shutdown_done(exc)
            return
        self._flush_outgoing()
        self._call_app_eof()
        self._shutdown_done(None)

    def _shutdown_done(self, exc: BaseException | None) -> None:
        self._cancel_timer()
        if exc is not None:
            self._fatal_error(exc)
            return
        self._state = _UNWRAPPED
        lower = self._lower
        if lower is None:
            return
        if isinstance(lower, SSLTransport):
            # TLS over TLS: closing the outer layer from inside its own delivery would
            # re-enter it; defer.
            self._loop.call_soon(lower.close)
        else:
            # A stream transport may be closed from its own callbacks (it does so on
            # end of stream): closing now lets connection_lost, which releases this
            # layer, come one loop iteration sooner.
            lower.close()

    def _shutdown_timed_out(self) -> None:
        self._timer = None
        if self._state in (_FLUSHING, _SHUTDOWN):
            self.abort(TimeoutError("SSL shutdown timed out"))

    def abort(self, exc: BaseException | None) -> None:
        """Drop everything and abort the lower transport; the application's
        ``connection_lost`` receives *exc*."""
        self._state = _UNWRAPPED
        self._mark_app_closed()
        self._cancel_timer()
        lower = self._lower
        if lower is not None:
            if self._lost_exc is None:
                self._lost_exc = exc
            lower.abort()

    def _fatal_error(self, exc: BaseException, message: str = "Fatal error on transport") -> None:
        if isinstance(exc, OSError):
            if self._loop.get_debug():
                logger.debug("%r: %s", self, message, exc_info=True)
        elif not isinstance(exc, asyncio.CancelledError):
            self._loop.call_exception_handler(
                {
                    "message": message,
                    "exception": exc,
                    "transport": self._lower,
                    "protocol": self,
                }
            )
        self.abort(exc)
        self._wake_waiter(exc)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        try:
            return self._extra[name]
        except KeyError:
            lower = self._lower
            return default if lower is None else lower.get_extra_info(name, default)


class SSLTransport(asyncio.Transport):
    """What the application protocol of a TLS connection talks to.

    ``get_extra_info``: ``sslcontext``; after the handshake ``ssl_object``,
    ``peercert``, ``cipher``, ``compression``; anything else (``socket``,
    ``peername``, ``sockname``...) from the lower transport.  ``write_eof`` is not
    supported (``can_write_eof()`` is false), as on CPython's loop.
    """

    __slots__ = ("_closed", "_layer")

    #: ``loop.start_tls`` accepts this transport (TLS over TLS).
    _start_tls_compatible = True

    def __init__(self, loop: asyncio.AbstractEventLoop, layer: TLSLayer) -> None:
        super().__init__()
        self._layer = layer
        self._closed = False

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<{type(self).__name__} {state}>"

    def __del__(self, _warn: Any = warnings.warn) -> None:
        if not getattr(self, "_closed", True):
            self._closed = True
            _warn(f"unclosed transport {self!r}", ResourceWarning, source=self)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """TLS details, then the lower transport's extra info."""
        return self._layer.get_extra_info(name, default)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._layer._set_app_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._layer._app_protocol  # type: ignore[no-any-return]

    def is_closing(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Flush what was written, send ``close_notify``, wait for the peer's (up to
        the shutdown timeout), then close the lower transport."""
        if not self._closed:
            self._closed = True
            self._layer.start_shutdown()

    def abort(self) -> None:
        """Close at once, discarding what is buffered."""
        self._closed = True
        self._layer.abort(None)

    def is_reading(self) -> bool:
        return not self._layer._app_read_paused

    def pause_reading(self) -> None:
        self._layer.pause_reading()

    def resume_reading(self) -> None:
        self._layer.resume_reading()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Encrypt and send *data* (buffered until the handshake is done)."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data: expecting a bytes-like instance, got {type(data).__name__}")
        if data:
            self._layer.write(data)

    def writelines(self, list_of_data: Any) -> None:
        """Write each bytes-like object of the iterable, in order, as one write."""
        data = b"".join(list_of_data)
        if data:
            self._layer.write(data)

    def write_eof(self) -> None:
        raise NotImplementedError("write_eof() is not supported on a TLS transport")

    def can_write_eof(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        """Plaintext waiting to be encrypted plus ciphertext the lower transport has
        not taken."""
        return self._layer.get_write_buffer_size()

    def get_write_buffer_limits(self) -> tuple[int, int]:
        layer = self._layer
        return (layer._low_water, layer._high_water)

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        """Water marks of :meth:`get_write_buffer_size` (default 512 KiB, low a
        quarter of high); ``ValueError`` unless ``high >= low >= 0``."""
        self._layer.set_write_buffer_limits(high, low)

    def get_read_buffer_size(self) -> int:
        """Ciphertext received and not yet decrypted."""
        return self._layer.get_read_buffer_size()
