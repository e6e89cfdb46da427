"""The connection APIs: ``create_connection``, ``create_server``, the Unix variants and
``connect_accepted_socket``, as a mixin for :class:`layerloop_core.EventLoop`.

The mixin uses only the loop's public surface: ``backend`` (which must implement
:class:`~layerloop_core.abc.StreamBackend`), ``getaddrinfo`` (answered by the loop's
resolver), ``create_future``, ``call_soon``/``call_later``, ``get_debug`` and
``call_exception_handler``.  Argument checks come first and raise what CPython's loop
raises, in the same order, so a bad call fails the same way on both loops.
"""

from __future__ import annotations

import asyncio
import collections.abc
import contextlib
import errno
import itertools
import logging
import os
import socket
import sys
from collections.abc import Callable, Coroutine, Iterable
from typing import IO, TYPE_CHECKING, Any, Final, Protocol, TypeVar, TypeVarTuple, cast

from layerloop_core.abc import Address, IOBackend, Operation, StreamBackend

from ._datagram import open_datagram_endpoint, remove_stale_socket, set_reuseport
from ._eyeballs import staggered_connect
from ._fdowners import OWNERS_BY_LOOP, check_fd_free, refuse_if_owned
from ._pipes import ReadPipeTransport, WritePipeTransport
from ._sendfile import sendfile as _sendfile
from ._server import Server
from ._stream import StreamTransport
from ._tls import SSLTransport, TLSServerFactory, TLSSetup

if TYPE_CHECKING:
    from _typeshed import FileDescriptorLike

    from layerloop_core.abc import AddrInfo

__all__ = ["TransportsMixin"]

logger = logging.getLogger("asyncio")

_P = TypeVar("_P", bound=asyncio.BaseProtocol)
_Ts = TypeVarTuple("_Ts")
#: Default of a parameter that must not be passed at all.
_NOT_GIVEN: Any = object()

try:
    import ssl as _ssl_module

    _SSLSocket: type | None = _ssl_module.SSLSocket
except ImportError:  # pragma: no cover - Python built without ssl
    _SSLSocket = None

_HAS_IPV6 = socket.has_ipv6
_AF_UNIX: int | None = getattr(socket, "AF_UNIX", None)
#: ``create_unix_server`` removes its socket file when closed from 3.13 on.
_CLEANUP_DEFAULT = sys.version_info >= (3, 13)
#: Backend classes already found to implement ``StreamBackend``.  ``isinstance`` against
#: a runtime-checkable Protocol inspects every member (~150 us on 3.11): once per class,
#: not once per connection.
_STREAM_BACKEND_CLASSES: set[type] = set()


class _Host(Protocol):
    """What the mixin needs from the loop it is mixed into."""

    @property
    def backend(self) -> IOBackend: ...

    async def getaddrinfo(
        self,
        host: bytes | str | None,
        port: bytes | str | int | None,
        *,
        family: int = 0,
        type: int = 0,
        proto: int = 0,
        flags: int = 0,
    ) -> list[tuple[Any, Any, int, str, Any]]: ...

    def create_future(self) -> asyncio.Future[Any]: ...

    def get_debug(self) -> bool: ...


def _check_ssl_socket(sock: socket.socket) -> None:
    if _SSLSocket is not None and isinstance(sock, _SSLSocket):
        raise TypeError("Socket cannot be of type SSLSocket")


def _interleave(infos: list[AddrInfo], first_family_count: int) -> list[AddrInfo]:
    """Reorder *infos* alternating between address families (RFC 8305, section 4),
    the first family keeping its first *first_family_count* entries in front."""
    by_family: dict[int, list[AddrInfo]] = {}
    for info in infos:
        by_family.setdefault(info[0], []).append(info)
    groups = list(by_family.values())
    head: list[AddrInfo] = []
    if first_family_count > 1:
        head = groups[0][: first_family_count - 1]
        groups[0] = groups[0][first_family_count - 1 :]
    mixed = (info for row in itertools.zip_longest(*groups) for info in row if info is not None)
    return head + list(mixed)


class _Connecting:
    """The ``done`` of one :meth:`StreamBackend.connect`, resolving *future*.

    If the awaiting task is cancelled the socket may still be in the backend's hands
    until *done* runs, so closing it is left to *done* (``close_when_done``)."""

    __slots__ = ("close_when_done", "future", "ran", "sock")

    def __init__(self, future: asyncio.Future[None], sock: socket.socket) -> None:
        self.future = future
        self.sock = sock
        self.close_when_done = False
        self.ran = False

    def __call__(self, exc: BaseException | None, /) -> None:
        self.ran = True
        if self.close_when_done:
            self.sock.close()
        future = self.future
        if future.done():
            return
        if exc is None:
            future.set_result(None)
        elif isinstance(exc, asyncio.CancelledError):
            future.cancel()
        else:
            future.set_exception(exc)


#: The sock_* operations the fd guard checks (TransportsMixin).
_GUARDED_SOCK_METHODS: Final = (
    "sock_recv",
    "sock_recv_into",
    "sock_recvfrom",
    "sock_recvfrom_into",
    "sock_sendall",
    "sock_sendto",
    "sock_connect",
    "sock_accept",
    "sock_sendfile",
)


class TransportsMixin:
    """The stream connection APIs of :class:`asyncio.AbstractEventLoop`, for a loop
    whose ``backend`` is a :class:`~layerloop_core.abc.StreamBackend`::

        class EventLoop(TransportsMixin, layerloop_core.EventLoop): ...

    ``ssl=`` and ``start_tls`` put a :class:`~layerloop_transports._tls.TLSLayer` over
    the stream transport.  ``happy_eyeballs_delay`` races staggered connection
    attempts (RFC 8305, ``_eyeballs.py``).
    """

    __slots__ = ()

    # The loop's own sock_* implementations (the next class after this mixin in the
    # MRO of the concrete loop class), found once per class by __init_subclass__: what
    # super().sock_recv would find, without the cost of a super() lookup per call
    # (a super() lookup measured ~300 ns here, a dict lookup ~50 ns, on a path that
    # costs a few microseconds).
    _next_sock_recv: Callable[..., Coroutine[Any, Any, bytes]]
    _next_sock_recv_into: Callable[..., Coroutine[Any, Any, int]]
    _next_sock_recvfrom: Callable[..., Coroutine[Any, Any, tuple[bytes, Any]]]
    _next_sock_recvfrom_into: Callable[..., Coroutine[Any, Any, tuple[int, Any]]]
    _next_sock_sendall: Callable[..., Coroutine[Any, Any, None]]
    _next_sock_sendto: Callable[..., Coroutine[Any, Any, int]]
    _next_sock_connect: Callable[..., Coroutine[Any, Any, None]]
    _next_sock_accept: Callable[..., Coroutine[Any, Any, tuple[socket.socket, Any]]]
    _next_sock_sendfile: Callable[..., Coroutine[Any, Any, int]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        mro = cls.__mro__
        after = mro[mro.index(TransportsMixin) + 1 :]
        for name in _GUARDED_SOCK_METHODS:
            for klass in after:
                if name in vars(klass):
                    setattr(cls, f"_next_{name}", vars(klass)[name])
                    break

    def _stream_backend(self) -> StreamBackend:
        backend = cast(_Host, self).backend
        kind = type(backend)
        if kind not in _STREAM_BACKEND_CLASSES:
            if not isinstance(backend, StreamBackend):
                raise NotImplementedError(
                    f"the backend {backend!r} does not implement "
                    "layerloop_core.abc.StreamBackend, which transports need"
                )
            _STREAM_BACKEND_CLASSES.add(kind)
        return cast(StreamBackend, backend)

    async def _connect_sock_to(self, sock: socket.socket, address: Address) -> None:
        """Connect *sock* through the backend.  On any failure *sock* is closed (now, or
        by the backend's report when the connect was cancelled in flight)."""
        backend = self._stream_backend()
        future: asyncio.Future[None] = cast(_Host, self).create_future()
        done = _Connecting(future, sock)
        operation: Operation = backend.connect(sock, address, done)
        try:
            await future
        except BaseException:
            if done.ran:
                sock.close()
            else:
                # Still in the backend's hands: its report closes the socket.
                done.close_when_done = True
                operation.cancel()
            raise

    async def _open_connection_sock(
        self,
        errors: list[OSError],
        info: AddrInfo,
        local_infos: list[AddrInfo] | None,
    ) -> socket.socket | None:
        """One attempt of ``create_connection``; errors are appended to *errors*."""
        family, type_, proto, _, address = info
        try:
            sock = socket.socket(family=family, type=type_, proto=proto)
        except OSError as exc:
            errors.append(exc)
            return None
        try:
            sock.setblocking(False)
            if local_infos is not None:
                bound = False
                bind_errors: list[OSError] = []
                for lfamily, _, _, _, laddr in local_infos:
                    if lfamily != family:
                        continue  # a local address of another family cannot serve
                    try:
                        sock.bind(laddr)
                    except OSError as exc:
                        bind_errors.append(
                            OSError(
                                exc.errno,
                                f"error while attempting to bind on address {laddr!r}: "
                                f"{str(exc).lower()}",
                            )
                        )
                        continue
                    bound = True
                    break
                if not bound:
                    errors.extend(bind_errors[:-1])
                    if bind_errors:
                        raise bind_errors[-1]
                    raise OSError(f"no matching local address with family={family!r} found")
        except OSError as exc:
            errors.append(exc)
            sock.close()
            return None
        except BaseException:
            sock.close()
            raise
        try:
            await self._connect_sock_to(sock, address)
        except OSError as exc:
            errors.append(exc)
            return None
        return sock

    async def _race_connections(
        self,
        errors: list[OSError],
        infos: list[AddrInfo],
        local_infos: list[AddrInfo] | None,
        delay: float,
    ) -> socket.socket | None:
        """Happy eyeballs over *infos*; errors land in *errors* in the order the
        attempts started, whatever order they failed in."""
        per_attempt: list[list[OSError]] = [[] for _ in infos]

        def attempt(index: int) -> Coroutine[Any, Any, socket.socket | None]:
            return self._open_connection_sock(per_attempt[index], infos[index], local_infos)

        try:
            return await staggered_connect(
                cast(asyncio.AbstractEventLoop, self), attempt, len(infos), delay
            )
        finally:
            for attempt_errors in per_attempt:
                errors.extend(attempt_errors)

    async def _resolve_stream(
        self, host: Any, port: Any, family: int, proto: int, flags: int
    ) -> list[AddrInfo]:
        infos = await cast(_Host, self).getaddrinfo(
            host, port, family=family, type=socket.SOCK_STREAM, proto=proto, flags=flags
        )
        return cast("list[AddrInfo]", infos)

    async def _make_transport(
        self,
        sock: socket.socket,
        protocol_factory: Callable[[], _P],
        extra: dict[str, Any] | None = None,
    ) -> tuple[asyncio.Transport, _P]:
        sock.setblocking(False)
        loop = cast(asyncio.AbstractEventLoop, self)
        protocol = protocol_factory()
        waiter: asyncio.Future[None] = loop.create_future()
        transport = StreamTransport(loop, sock, protocol, waiter, extra=extra)
        try:
            await waiter
        except BaseException:
            transport.close()
            raise
        return transport, protocol

    async def create_connection(
        self,
        protocol_factory: Callable[[], _P],
        host: str | None = None,
        port: int | str | None = None,
        *,
        ssl: Any = None,
        family: int = 0,
        proto: int = 0,
        flags: int = 0,
        sock: socket.socket | None = None,
        local_addr: tuple[str, int] | None = None,
        server_hostname: str | None = None,
        ssl_handshake_timeout: float | None = None,
        ssl_shutdown_timeout: float | None = None,
        happy_eyeballs_delay: float | None = None,
        interleave: int | None = None,
        all_errors: bool = False,
    ) -> tuple[asyncio.Transport, _P]:
        """Open a TCP connection to *host*:*port* (or wrap the connected *sock*) and
        return ``(transport, protocol)``; addresses are tried in the resolver's order."""
        if server_hostname is not None and not ssl:
            raise ValueError("server_hostname is only meaningful with ssl")
        if server_hostname is None and ssl and not host:
            raise ValueError("You must set server_hostname when using ssl without a host")
        if ssl_handshake_timeout is not None and not ssl:
            raise ValueError("ssl_handshake_timeout is only meaningful with ssl")
        if ssl_shutdown_timeout is not None and not ssl:
            raise ValueError("ssl_shutdown_timeout is only meaningful with ssl")
        if sock is not None:
            _check_ssl_socket(sock)
        tls: TLSSetup | None = None
        if ssl:
            tls = TLSSetup.client(
                ssl,
                host if server_hostname is None else server_hostname,
                ssl_handshake_timeout,
                ssl_shutdown_timeout,
            )
        if happy_eyeballs_delay is not None and interleave is None:
            interleave = 1  # RFC 8305: alternate families by default when racing
        if host is not None or port is not None:
            if sock is not None:
                raise ValueError("host/port and sock can not be specified at the same time")
            infos = await self._resolve_stream(host, port, family, proto, flags)
            if not infos:
                raise OSError("getaddrinfo() returned empty list")
            local_infos: list[AddrInfo] | None = None
            if local_addr is not None:
                local_infos = await self._resolve_stream(
                    local_addr[0], local_addr[1], family, proto, flags
                )
                if not local_infos:
                    raise OSError("getaddrinfo() returned empty list")
            if interleave:
                infos = _interleave(infos, interleave)
            errors: list[OSError] = []
            connected: socket.socket | None = None
            if happy_eyeballs_delay is None:
                for info in infos:
                    connected = await self._open_connection_sock(errors, info, local_infos)
                    if connected is not None:
                        break
            else:
                connected = await self._race_connections(
                    errors, infos, local_infos, happy_eyeballs_delay
                )
            if connected is None:
                _raise_connect_errors(errors, all_errors)
            sock = connected
        else:
            if sock is None:
                raise ValueError("host and port was not specified and no sock specified")
            if sock.type != socket.SOCK_STREAM:
                raise ValueError(f"A Stream Socket was expected, got {sock!r}")
        assert sock is not None
        if tls is not None:
            return await self._make_tls_transport(sock, protocol_factory, tls)
        return await self._make_transport(sock, protocol_factory)

    async def create_datagram_endpoint(
        self,
        protocol_factory: Callable[[], _P],
        local_addr: Any = None,
        remote_addr: Any = None,
        *,
        family: int = 0,
        proto: int = 0,
        flags: int = 0,
        reuse_address: Any = _NOT_GIVEN,
        reuse_port: bool | None = None,
        allow_broadcast: bool | None = None,
        sock: socket.socket | None = None,
    ) -> tuple[asyncio.DatagramTransport, _P]:
        """A datagram endpoint bound to *local_addr* and/or connected to *remote_addr*
        (host/port tuples, or paths with ``family=AF_UNIX``), or on the given *sock*
        (``_datagram.py``).

        *reuse_address* is in the signature only because typeshed still lists it: as in
        CPython 3.11+, passing it at all is a ``TypeError``."""
        if reuse_address is not _NOT_GIVEN:
            raise TypeError(
                f"{type(self).__name__}.create_datagram_endpoint() got an unexpected "
                "keyword argument 'reuse_address'"
            )
        self._stream_backend()
        return await open_datagram_endpoint(
            cast(asyncio.AbstractEventLoop, self),
            protocol_factory,
            local_addr=local_addr,
            remote_addr=remote_addr,
            family=family,
            proto=proto,
            flags=flags,
            reuse_port=reuse_port,
            allow_broadcast=allow_broadcast,
            sock=sock,
        )

    # -- fd watches: refused on an fd a live transport drives, as CPython does -----------

    def add_reader(
        self, fd: FileDescriptorLike, callback: Callable[[*_Ts], Any], *args: *_Ts
    ) -> None:
        """As the loop's, but ``RuntimeError`` if a transport uses *fd*."""
        check_fd_free(cast(asyncio.AbstractEventLoop, self), fd)
        cast(asyncio.AbstractEventLoop, super()).add_reader(fd, callback, *args)

    def add_writer(
        self, fd: FileDescriptorLike, callback: Callable[[*_Ts], Any], *args: *_Ts
    ) -> None:
        """As the loop's, but ``RuntimeError`` if a transport uses *fd*."""
        check_fd_free(cast(asyncio.AbstractEventLoop, self), fd)
        cast(asyncio.AbstractEventLoop, super()).add_writer(fd, callback, *args)

    def remove_reader(self, fd: FileDescriptorLike) -> bool:
        """As the loop's, but ``RuntimeError`` if a transport uses *fd*."""
        check_fd_free(cast(asyncio.AbstractEventLoop, self), fd)
        return cast(asyncio.AbstractEventLoop, super()).remove_reader(fd)

    def remove_writer(self, fd: FileDescriptorLike) -> bool:
        """As the loop's, but ``RuntimeError`` if a transport uses *fd*."""
        check_fd_free(cast(asyncio.AbstractEventLoop, self), fd)
        return cast(asyncio.AbstractEventLoop, super()).remove_writer(fd)

    # -- sock_*: refused on a socket a live transport drives ------------------------------
    #
    # Plain methods returning the loop's coroutine (no extra coroutine frame per call),
    # found without super() (see _next_sock_recv above).
    # The cost is one dict lookup (OWNERS_BY_LOOP, keyed by id(loop)) while the loop has
    # no transport, plus fileno() and a second lookup while it has.  A refusal is a
    # coroutine that raises, so the error comes on await, as on CPython.  CPython checks
    # only once the operation has to wait (after a first try that would block); here the
    # check comes first, so a call that would have completed at once on a transport's
    # socket (a send with room in the socket buffer) is refused too.

    def sock_recv(self, sock: socket.socket, nbytes: int) -> Coroutine[Any, Any, bytes]:
        """As the loop's, but ``RuntimeError`` if a transport uses *sock*."""
        owners = OWNERS_BY_LOOP.get(id(self))
        if owners and (refusal := refuse_if_owned(owners, sock)) is not None:
            return refusal
        return self._next_sock_recv(sock, nbytes)

    def sock_recv_into(self, sock: socket.socket, buf: Any) -> Coroutine[Any, Any, int]:
        """As the loop's, but ``RuntimeError`` if a transport uses *sock*."""
        owners = OWNERS_BY_LOOP.get(id(self))
        if owners and (refusal := refuse_if_owned(owners, sock)) is not None:
            return refusal
        return self._next_sock_recv_into(sock, buf)

    def sock_recvfrom(
        self, sock: socket.socket, bufsize: int
    ) -> Coroutine[Any, Any, tuple[bytes, Any]]:
        """As the loop's, but ``RuntimeError`` if a transport uses *sock*."""
        owners = OWNERS_BY_LOOP.get(id(self))
        if owners and (refusal := refuse_if_owned(owners, sock)) is not None:
            return refusal
        return self._next_sock_recvfrom(sock, bufsize)

    def sock_recvfrom_into(
        self, sock: socket.socket, buf: Any, nbytes: int = 0
    ) -> Coroutine[Any, Any, tuple[int, Any]]:
        """As the loop's, but ``RuntimeError`` if a transport uses *sock*."""
        owners = OWNERS_BY_LOOP.get(id(self))
        if owners and (refusal := refuse_if_owned(owners, sock)) is not None:
            return refusal
        return self._next_sock_recvfrom_into(sock, buf, nbytes)

    def sock_sendall(self, sock: socket.socket, data: Any) -> Coroutine[Any, Any, None]:
        """As the loop's, but ``RuntimeError`` if a transport uses *sock*."""
        owners = OWNERS_BY_LOOP.get(id(self))
        if owners and (refusal := refuse_if_owned(owners, sock)) is not None:
            return refusal
        return self._next_sock_sendall(sock, data)

    def sock_sendto(self, sock: socket.socket, data: Any, address: Any) -> Coroutine[Any, Any, int]:
        """As the loop's, but ``RuntimeError`` if a transport uses *sock*."""
        owners = OWNERS_BY_LOOP.get(id(self))
        if owners and (refusal := refuse_if_owned(owners, sock)) is not None:
            return refusal
        return self._next_sock_sendto(sock, data, address)

    def sock_connect(self, sock: socket.socket, address: Any) -> Coroutine[Any, Any, None]:
        """As the loop's, but ``RuntimeError`` if a transport uses *sock*."""
        owners = OWNERS_BY_LOOP.get(id(self))
        if owners and (refusal := refuse_if_owned(owners, sock)) is not None:
            return refusal
        return self._next_sock_connect(sock, address)

    def sock_accept(self, sock: socket.socket) -> Coroutine[Any, Any, tuple[socket.socket, Any]]:
        """As the loop's, but ``RuntimeError`` if a transport uses *sock*."""
        owners = OWNERS_BY_LOOP.get(id(self))
        if owners and (refusal := refuse_if_owned(owners, sock)) is not None:
            return refusal
        return self._next_sock_accept(sock)

    def sock_sendfile(
        self,
        sock: socket.socket,
        file: IO[bytes],
        offset: int = 0,
        count: int | None = None,
        *,
        fallback: bool | None = True,
    ) -> Coroutine[Any, Any, int]:
        """As the loop's, but ``RuntimeError`` if a transport uses *sock*."""
        owners = OWNERS_BY_LOOP.get(id(self))
        if owners and (refusal := refuse_if_owned(owners, sock)) is not None:
            return refusal
        return self._next_sock_sendfile(sock, file, offset, count, fallback=fallback)

    async def sendfile(
        self,
        transport: asyncio.WriteTransport,
        file: IO[bytes],
        offset: int = 0,
        count: int | None = None,
        *,
        fallback: bool = True,
    ) -> int:
        """Send *file* over *transport*: zero-copy through the backend for a plain
        stream transport, by reads and writes otherwise (``_sendfile.py``)."""
        return await _sendfile(
            cast(asyncio.AbstractEventLoop, self),
            transport,
            file,
            offset,
            count,
            fallback=fallback,
        )

    async def create_server(
        self,
        protocol_factory: Callable[[], asyncio.BaseProtocol],
        host: str | Iterable[str] | None = None,
        port: int | str | None = None,
        *,
        family: int = socket.AF_UNSPEC,
        flags: int = socket.AI_PASSIVE,
        sock: socket.socket | None = None,
        backlog: int = 100,
        ssl: Any = None,
        reuse_address: bool | None = None,
        reuse_port: bool | None = None,
        keep_alive: bool | None = None,
        ssl_handshake_timeout: float | None = None,
        ssl_shutdown_timeout: float | None = None,
        start_serving: bool = True,
    ) -> Server:
        """Listen on every address of *host* (``None`` or ``""``: all interfaces; a
        sequence: each) and *port*, or on the bound *sock*; return a :class:`Server`."""
        if isinstance(ssl, bool):
            raise TypeError("ssl argument must be an SSLContext or None")
        if ssl_handshake_timeout is not None and ssl is None:
            raise ValueError("ssl_handshake_timeout is only meaningful with ssl")
        if ssl_shutdown_timeout is not None and ssl is None:
            raise ValueError("ssl_shutdown_timeout is only meaningful with ssl")
        if sock is not None:
            _check_ssl_socket(sock)
        if ssl is not None:
            setup = TLSSetup.server(ssl, ssl_handshake_timeout, ssl_shutdown_timeout)
            protocol_factory = TLSServerFactory(
                cast(asyncio.AbstractEventLoop, self), protocol_factory, setup
            )
        if host is not None or port is not None:
            if sock is not None:
                raise ValueError("host/port and sock can not be specified at the same time")
            if reuse_address is None:
                reuse_address = os.name == "posix" and sys.platform != "cygwin"
            hosts: Iterable[Any]
            if host == "":
                hosts = [None]
            elif isinstance(host, str) or not isinstance(host, collections.abc.Iterable):
                hosts = [host]
            else:
                hosts = host
            answers = await asyncio.gather(
                *(self._server_infos(one, port, family, flags) for one in hosts)
            )
            # The same address from two hosts is bound once; order is kept.
            infos = list(dict.fromkeys(itertools.chain.from_iterable(answers)))
            sockets = self._bind_server_sockets(infos, bool(reuse_address), reuse_port, keep_alive)
        else:
            if sock is None:
                raise ValueError("Neither host/port nor sock were specified")
            if sock.type != socket.SOCK_STREAM:
                raise ValueError(f"A Stream Socket was expected, got {sock!r}")
            sockets = [sock]
        for one in sockets:
            one.setblocking(False)
        server = Server(cast(asyncio.AbstractEventLoop, self), sockets, protocol_factory, backlog)
        if start_serving:
            server._start_serving()
            await asyncio.sleep(0)
        if cast(_Host, self).get_debug():
            logger.info("%r is serving", server)
        return server

    async def _server_infos(self, host: Any, port: Any, family: int, flags: int) -> list[AddrInfo]:
        infos = await self._resolve_stream(host, port, family, 0, flags)
        if not infos:
            raise OSError(f"getaddrinfo({host!r}) returned empty list")
        return infos

    def _bind_server_sockets(
        self,
        infos: list[AddrInfo],
        reuse_address: bool,
        reuse_port: bool | None,
        keep_alive: bool | None,
    ) -> list[socket.socket]:
        sockets: list[socket.socket] = []
        completed = False
        try:
            for family, type_, proto, _, address in infos:
                try:
                    sock = socket.socket(family, type_, proto)
                except OSError:
                    # A family/type/protocol this host cannot make: skip it.
                    if cast(_Host, self).get_debug():
                        logger.warning(
                            "create_server() failed to create socket.socket(%r, %r, %r)",
                            family,
                            type_,
                            proto,
                            exc_info=True,
                        )
                    continue
                sockets.append(sock)
                if reuse_address:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if reuse_port:
                    set_reuseport(sock)
                if keep_alive:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
                if _HAS_IPV6 and family == socket.AF_INET6 and hasattr(socket, "IPPROTO_IPV6"):
                    # Linux listens on both families from an AF_INET6 socket by default;
                    # the AF_INET address has its own socket here.
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                try:
                    sock.bind(address)
                except OSError as err:
                    message = (
                        f"error while attempting to bind on address {address!r}: {str(err).lower()}"
                    )
                    if err.errno == errno.EADDRNOTAVAIL:
                        # The family is not configured on this host (bpo-30945).
                        sockets.pop()
                        sock.close()
                        if cast(_Host, self).get_debug():
                            logger.warning(message)
                        continue
                    raise OSError(err.errno, message) from None
            if not sockets:
                raise OSError(
                    f"could not bind on any address out of {[info[4] for info in infos]!r}"
                )
            completed = True
        finally:
            if not completed:
                for sock in sockets:
                    sock.close()
        return sockets

    async def connect_accepted_socket(
        self,
        protocol_factory: Callable[[], _P],
        sock: socket.socket,
        *,
        ssl: Any = None,
        ssl_handshake_timeout: float | None = None,
        ssl_shutdown_timeout: float | None = None,
    ) -> tuple[asyncio.Transport, _P]:
        """Wrap a connection accepted elsewhere in a transport."""
        if sock.type != socket.SOCK_STREAM:
            raise ValueError(f"A Stream Socket was expected, got {sock!r}")
        if ssl_handshake_timeout is not None and not ssl:
            raise ValueError("ssl_handshake_timeout is only meaningful with ssl")
        if ssl_shutdown_timeout is not None and not ssl:
            raise ValueError("ssl_shutdown_timeout is only meaningful with ssl")
        _check_ssl_socket(sock)
        if ssl:
            setup = TLSSetup.server(ssl, ssl_handshake_timeout, ssl_shutdown_timeout)
            return await self._make_tls_transport(sock, protocol_factory, setup)
        return await self._make_transport(sock, protocol_factory)

    async def create_unix_connection(
        self,
        protocol_factory: Callable[[], _P],
        path: str | bytes | os.PathLike[str] | os.PathLike[bytes] | None = None,
        *,
        ssl: Any = None,
        sock: socket.socket | None = None,
        server_hostname: str | None = None,
        ssl_handshake_timeout: float | None = None,
        ssl_shutdown_timeout: float | None = None,
    ) -> tuple[asyncio.Transport, _P]:
        """Connect to the Unix socket *path* (or wrap the connected *sock*)."""
        if ssl:
            if server_hostname is None:
                raise ValueError("you have to pass server_hostname when using ssl")
        else:
            if server_hostname is not None:
                raise ValueError("server_hostname is only meaningful with ssl")
            if ssl_handshake_timeout is not None:
                raise ValueError("ssl_handshake_timeout is only meaningful with ssl")
            if ssl_shutdown_timeout is not None:
                raise ValueError("ssl_shutdown_timeout is only meaningful with ssl")
        if path is not None:
            if sock is not None:
                raise ValueError("path and sock can not be specified at the same time")
            tls = self._unix_client_tls(
                ssl, server_hostname, ssl_handshake_timeout, ssl_shutdown_timeout
            )
            address = os.fspath(path)
            sock = socket.socket(cast(int, _AF_UNIX), socket.SOCK_STREAM, 0)
            try:
                sock.setblocking(False)
            except BaseException:
                sock.close()
                raise
            await self._connect_sock_to(sock, address)
        else:
            if sock is None:
                raise ValueError("no path and sock were specified")
            if sock.family != _AF_UNIX or sock.type != socket.SOCK_STREAM:
                raise ValueError(f"A UNIX Domain Stream Socket was expected, got {sock!r}")
            tls = self._unix_client_tls(
                ssl, server_hostname, ssl_handshake_timeout, ssl_shutdown_timeout
            )
        if tls is not None:
            return await self._make_tls_transport(sock, protocol_factory, tls)
        return await self._make_transport(sock, protocol_factory)

    async def create_unix_server(
        self,
        protocol_factory: Callable[[], asyncio.BaseProtocol],
        path: str | bytes | os.PathLike[str] | os.PathLike[bytes] | None = None,
        *,
        sock: socket.socket | None = None,
        backlog: int = 100,
        ssl: Any = None,
        ssl_handshake_timeout: float | None = None,
        ssl_shutdown_timeout: float | None = None,
        start_serving: bool = True,
        cleanup_socket: bool = _CLEANUP_DEFAULT,
    ) -> Server:
        """Listen on the Unix socket *path* (str, bytes, path-like, or abstract when it
        starts with a NUL) or on the bound *sock*.  With *cleanup_socket* (the default
        from Python 3.13 on) closing the server removes the socket file, if it is still
        the one bound here."""
        if isinstance(ssl, bool):
            raise TypeError("ssl argument must be an SSLContext or None")
        if ssl_handshake_timeout is not None and not ssl:
            raise ValueError("ssl_handshake_timeout is only meaningful with ssl")
        if ssl_shutdown_timeout is not None and not ssl:
            raise ValueError("ssl_shutdown_timeout is only meaningful with ssl")
        if ssl is not None:
            setup = TLSSetup.server(ssl, ssl_handshake_timeout, ssl_shutdown_timeout)
            protocol_factory = TLSServerFactory(
                cast(asyncio.AbstractEventLoop, self), protocol_factory, setup
            )
        if path is not None:
            if sock is not None:
                raise ValueError("path and sock can not be specified at the same time")
            address = os.fspath(path)
            sock = socket.socket(cast(int, _AF_UNIX), socket.SOCK_STREAM)
            if not _is_abstract(address):
                remove_stale_socket(address)
            try:
                sock.bind(address)
            except OSError as exc:
                sock.close()
                if exc.errno == errno.EADDRINUSE:
                    raise OSError(
                        errno.EADDRINUSE, f"Address {address!r} is already in use"
                    ) from None
                raise
            except BaseException:
                sock.close()
                raise
        else:
            if sock is None:
                raise ValueError("path was not specified, and no sock specified")
            if sock.family != _AF_UNIX or sock.type != socket.SOCK_STREAM:
                raise ValueError(f"A UNIX Domain Stream Socket was expected, got {sock!r}")
        cleanup: dict[socket.socket, tuple[Any, int]] = {}
        if cleanup_socket:
            bound = sock.getsockname()
            if bound and not _is_abstract(bound):
                with contextlib.suppress(FileNotFoundError):
                    cleanup[sock] = (bound, os.stat(bound).st_ino)
        sock.setblocking(False)
        server = Server(
            cast(asyncio.AbstractEventLoop, self), [sock], protocol_factory, backlog, cleanup
        )
        if start_serving:
            server._start_serving()
            await asyncio.sleep(0)
        return server

    # -- TLS (layerloop_transports._tls) ----------------------------------------------

    def _unix_client_tls(
        self,
        ssl: Any,
        server_hostname: str | None,
        ssl_handshake_timeout: float | None,
        ssl_shutdown_timeout: float | None,
    ) -> TLSSetup | None:
        if not ssl:
            return None
        return TLSSetup.client(ssl, server_hostname, ssl_handshake_timeout, ssl_shutdown_timeout)

    async def _make_tls_transport(
        self, sock: socket.socket, protocol_factory: Callable[[], _P], tls: TLSSetup
    ) -> tuple[asyncio.Transport, _P]:
        """A stream transport on *sock* with a TLS layer as its protocol; returns once
        the handshake has succeeded (its error otherwise)."""
        loop = cast(asyncio.AbstractEventLoop, self)
        try:
            sock.setblocking(False)
            protocol = protocol_factory()
            waiter: asyncio.Future[None] = loop.create_future()
            layer = tls.layer(loop, protocol, waiter)
        except BaseException:
            sock.close()
            raise
        app_transport = layer.app_transport
        transport = StreamTransport(loop, sock, layer)
        try:
            await waiter
        except BaseException:
            layer.abandon()
            transport.close()
            raise
        return app_transport, protocol

    async def start_tls(
        self,
        transport: asyncio.BaseTransport,
        protocol: asyncio.BaseProtocol,
        sslcontext: Any,
        *,
        server_side: bool = False,
        server_hostname: str | None = None,
        ssl_handshake_timeout: float | None = None,
        ssl_shutdown_timeout: float | None = None,
    ) -> asyncio.Transport:
        """Upgrade the connection of *transport* to TLS and return the new transport
        for *protocol* (whose ``connection_made`` is not called again).  *transport*
        must not be used afterwards; bytes it had queued are sent before the handshake.
        """
        if not isinstance(sslcontext, _ssl_module.SSLContext):
            raise TypeError(
                f"sslcontext is expected to be an instance of ssl.SSLContext, got {sslcontext!r}"
            )
        if not isinstance(transport, (StreamTransport, SSLTransport)):
            raise TypeError(f"transport {transport!r} is not supported by start_tls()")
        setup = TLSSetup(
            sslcontext,
            server_side=server_side,
            server_hostname=server_hostname,
            handshake_timeout=ssl_handshake_timeout,
            shutdown_timeout=ssl_shutdown_timeout,
        )
        loop = cast(asyncio.AbstractEventLoop, self)
        waiter: asyncio.Future[None] = loop.create_future()
        layer = setup.layer(loop, protocol, waiter, call_connection_made=False)
        app_transport = layer.app_transport
        # Nothing may reach the layer before its connection_made: pause first.  Bytes
        # still queued in *transport* go out before the layer's first record.
        transport.pause_reading()
        transport.set_protocol(layer)
        made = loop.call_soon(layer.connection_made, transport)
        resumed = loop.call_soon(transport.resume_reading)
        try:
            await waiter
        except BaseException:
            layer.abandon()
            transport.close()
            made.cancel()
            resumed.cancel()
            raise
        return app_transport

    # -- pipes (layerloop_transports._pipes) ------------------------------------------

    async def connect_read_pipe(
        self, protocol_factory: Callable[[], _P], pipe: Any
    ) -> tuple[asyncio.ReadTransport, _P]:
        """Read the pipe, socket or character device *pipe* (a file-like object, which
        the transport owns and closes) into ``protocol_factory()``."""
        loop = cast(asyncio.AbstractEventLoop, self)
        protocol = protocol_factory()
        waiter: asyncio.Future[None] = loop.create_future()
        transport = ReadPipeTransport(loop, pipe, protocol, waiter)
        try:
            await waiter
        except BaseException:
            transport.close()
            raise
        if loop.get_debug():
            logger.debug("Read pipe %r connected: (%r, %r)", transport._fd, transport, protocol)
        return transport, protocol

    async def connect_write_pipe(
        self, protocol_factory: Callable[[], _P], pipe: Any
    ) -> tuple[asyncio.WriteTransport, _P]:
        """Write to the pipe, socket or character device *pipe* (a file-like object,
        which the transport owns and closes) for ``protocol_factory()``."""
        loop = cast(asyncio.AbstractEventLoop, self)
        protocol = protocol_factory()
        waiter: asyncio.Future[None] = loop.create_future()
        transport = WritePipeTransport(loop, pipe, protocol, waiter)
        try:
            await waiter
        except BaseException:
            transport.close()
            raise
        if loop.get_debug():
            logger.debug("Write pipe %r connected: (%r, %r)", transport._fd, transport, protocol)
        return transport, protocol


def _is_abstract(path: str | bytes) -> bool:
    return path[0] in (0, "\x00")


def _raise_connect_errors(errors: list[OSError], all_errors: bool) -> None:
    """Raise what CPython raises when every address failed."""
    try:
        if all_errors:
            raise ExceptionGroup("create_connection failed", errors)
        if len(errors) == 1:
            raise errors[0]
        first = str(errors[0])
        if all(str(exc) == first for exc in errors):
            raise errors[0]
        raise OSError(f"Multiple exceptions: {', '.join(str(exc) for exc in errors)}")
    finally:
        del errors[:]  # the raised exceptions keep their frames: break the cycle
