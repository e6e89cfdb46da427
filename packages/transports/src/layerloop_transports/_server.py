"""Servers: listening sockets accepted through :meth:`StreamBackend.listen`.

A :class:`Server` owns its listening sockets until it starts serving, then hands each to
the backend as a :class:`~layerloop_core.abc.Listener` (which closes it).  Accepted
connections become :class:`~layerloop_transports.StreamTransport` s directly from the
listener's callback: no task per connection.

Invariants:

* ``_sockets is None`` exactly when the server is closed; ``_waiters is None`` exactly
  when ``wait_closed`` has been released, which happens once the server is closed *and*
  its last client transport is gone (in either order; CPython 3.12.1's rule, used on
  every Python).
* Running out of descriptors (``EMFILE``/``ENFILE``, or ``ENOBUFS``/``ENOMEM``) pauses
  that listener, reports once through the loop's exception handler, and resumes it
  :data:`ACCEPT_RETRY_DELAY` seconds later: Linux keeps reporting the listening socket
  readable, so accepting on would spin.  Connections wait in the kernel's backlog
  meanwhile.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import socket
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final, cast

from layerloop_core.abc import Address, Listener, StreamBackend

from ._stream import StreamTransport

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["ACCEPT_RETRY_DELAY", "Server"]

logger = logging.getLogger("asyncio")

#: Seconds a listener stays paused after running out of descriptors or memory.
ACCEPT_RETRY_DELAY: Final = 1.0

_OUT_OF_RESOURCES: Final = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


class _Acceptor:
    """The ``on_accept`` callback of one listening socket of a server."""

    __slots__ = ("listener", "retry", "server", "sock")

    def __init__(self, server: Server, sock: socket.socket) -> None:
        self.server = server
        self.sock = sock
        self.listener: Listener | None = None
        self.retry: asyncio.TimerHandle | None = None

    def __call__(self, conn: socket.socket | None, address: Address, exc: OSError | None) -> None:
        server = self.server
        if conn is None:
            self.failed(cast(OSError, exc))
            return
        if server._sockets is None:
            conn.close()  # raced the close
            return
        server._accepted(conn, address)

    def failed(self, exc: OSError) -> None:
        loop = self.server._loop
        if exc.errno in _OUT_OF_RESOURCES:
            loop.call_exception_handler(
                {
                    "message": "socket.accept() out of system resource",
                    "exception": exc,
                    "socket": self.sock,
                }
            )
            listener = self.listener
            if listener is not None and self.retry is None:
                listener.pause()
                self.retry = loop.call_later(ACCEPT_RETRY_DELAY, self.resume)
        elif isinstance(exc, ConnectionAbortedError):
            pass  # a connection reset while in the backlog: nothing to serve
        else:
            loop.call_exception_handler(
                {
                    "message": "socket.accept() failed",
                    "exception": exc,
                    "socket": self.sock,
                }
            )

    def resume(self) -> None:
        self.retry = None
        if self.listener is not None and self.server._serving:
            self.listener.resume()

    def close(self) -> None:
        if self.retry is not None:
            self.retry.cancel()
            self.retry = None
        listener = self.listener
        self.listener = None
        if listener is not None:
            listener.close(_nothing)
        else:
            self.sock.close()


class Server(asyncio.Server):
    """A listening server, as ``loop.create_server`` and ``loop.create_unix_server``
    return it, with ``close_clients``/``abort_clients`` on every supported Python.

    It subclasses the public :class:`asyncio.Server` only so that it is what typeshed
    (and ``isinstance``) expect ``create_server`` to return; every method is defined
    here and ``asyncio.Server.__init__`` is never called, so nothing of asyncio's
    implementation runs (``tests/test_transports_server.py`` checks the overrides).
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sockets: Sequence[socket.socket],
        protocol_factory: Callable[[], asyncio.BaseProtocol],
        backlog: int,
        unix_cleanup: dict[socket.socket, tuple[Any, int]] | None = None,
    ) -> None:
        self._loop = loop
        self._sockets: list[socket.socket] | None = list(sockets)
        self._acceptors = [_Acceptor(self, sock) for sock in sockets]
        self._protocol_factory = protocol_factory
        self._backlog = backlog
        # Weak, so that an abandoned transport can still be collected (and warn).
        self._clients: weakref.WeakSet[StreamTransport] = weakref.WeakSet()
        self._waiters: list[asyncio.Future[None]] | None = []
        self._serving = False
        self._serving_forever_fut: asyncio.Future[None] | None = None
        self._unix_cleanup = unix_cleanup or {}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} sockets={self.sockets!r}>"

    # -- clients -----------------------------------------------------------------------

    def _attach(self, transport: StreamTransport) -> None:
        self._clients.add(transport)

    def _detach(self, transport: StreamTransport) -> None:
        self._clients.discard(transport)
        if not self._clients and self._sockets is None:
            self._wakeup()

    def _wakeup(self) -> None:
        waiters = self._waiters
        self._waiters = None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    def _accepted(self, conn: socket.socket, address: Address) -> None:
        protocol = None
        transport = None
        try:
            protocol = self._protocol_factory()
            transport = StreamTransport(
                self._loop, conn, protocol, extra={"peername": address}, server=self
            )
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            if transport is None:
                conn.close()
            if self._loop.get_debug():
                context: dict[str, Any] = {
                    "message": "Error on transport creation for incoming connection",
                    "exception": exc,
                }
                if protocol is not None:
                    context["protocol"] = protocol
                self._loop.call_exception_handler(context)

    # -- serving -----------------------------------------------------------------------

    def _start_serving(self) -> None:
        if self._serving or self._sockets is None:
            return
        self._serving = True
        backend = cast(StreamBackend, getattr(self._loop, "backend", None))
        for acceptor in self._acceptors:
            if acceptor.listener is None:
                acceptor.sock.listen(self._backlog)
                acceptor.listener = backend.listen(acceptor.sock, acceptor, backlog=self._backlog)
            elif acceptor.retry is None:
                acceptor.listener.resume()

    def get_loop(self) -> asyncio.AbstractEventLoop:
        """The loop the server runs on."""
        return self._loop

    def is_serving(self) -> bool:
        """Whether the server accepts connections."""
        return self._serving

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        """The listening sockets (empty once closed)."""
        if self._sockets is None:
            return ()
        return tuple(self._sockets)

    def close(self) -> None:
        """Stop listening and close the listening sockets; established connections
        stay open (see :meth:`close_clients`)."""
        sockets = self._sockets
        if sockets is None:
            return
        self._sockets = None
        self._serving = False
        for acceptor in self._acceptors:
            path = self._cleanup_path(acceptor.sock)
            acceptor.close()
            if path is not None:
                _unlink_if_same(path, self._unix_cleanup[acceptor.sock][1])
        self._acceptors = []
        self._unix_cleanup = {}
        fut = self._serving_forever_fut
        if fut is not None and not fut.done():
            fut.cancel()
            self._serving_forever_fut = None
        if not self._clients:
            self._wakeup()

    def _cleanup_path(self, sock: socket.socket) -> Any:
        entry = self._unix_cleanup.get(sock)
        return None if entry is None else entry[0]

    def close_clients(self) -> None:
        """Close every connection of this server (each flushes its buffer first)."""
        for transport in list(self._clients):
            transport.close()

    def abort_clients(self) -> None:
        """Abort every connection of this server (their buffers are discarded)."""
        for transport in list(self._clients):
            transport.abort()

    async def start_serving(self) -> None:
        """Start accepting connections (a no-op if already serving)."""
        self._start_serving()
        await asyncio.sleep(0)

    async def serve_forever(self) -> None:
        """Accept connections until cancelled; cancelling closes the server (not its
        connections) and waits for :meth:`wait_closed`."""
        if self._serving_forever_fut is not None:
            raise RuntimeError(f"server {self!r} is already being awaited on serve_forever()")
        if self._sockets is None:
            raise RuntimeError(f"server {self!r} is closed")
        self._start_serving()
        self._serving_forever_fut = fut = self._loop.create_future()
        try:
            await fut
        except asyncio.CancelledError:
            try:
                self.close()
                await self.wait_closed()
            finally:
                raise
        finally:
            self._serving_forever_fut = None

    async def wait_closed(self) -> None:
        """Return once the server is closed and all its connections are gone."""
        if self._waiters is None:
            return
        waiter: asyncio.Future[None] = self._loop.create_future()
        self._waiters.append(waiter)
        await waiter


def _unlink_if_same(path: Any, inode: int) -> None:
    """Remove the socket file *path* if it is still the one the server bound."""
    try:
        if os.stat(path).st_ino == inode:
            os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        logger.error("Unable to clean up listening UNIX socket %r: %r", path, exc)


def _nothing() -> None:
    pass
