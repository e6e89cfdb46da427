"""The datagram transport (UDP and ``AF_UNIX`` datagrams), written once over
:class:`layerloop_core.abc.DatagramEndpoint`.

The transport is the :class:`~layerloop_core.abc.DatagramOwner` of one backend endpoint:
the backend receives (into its own reused buffer) and reports each datagram, the
transport tries each ``sendto`` synchronously and queues what the kernel would not take,
handing the backend one queued datagram at a time.

Invariants:

* **Order.**  A datagram is sent at once only when nothing is queued or outstanding,
  so datagrams leave in ``sendto`` order.
* **Buffer size.**  ``_wsize`` counts every queued datagram (including the one lent to
  the backend) as its length plus :data:`DATAGRAM_OVERHEAD` bytes on Python 3.13
  (CPython's accounting for the per-datagram header; 0 before), and drops back to 0
  when the queue is empty.  Flow control compares it with the water marks after
  queueing (pause) and after each backend send reports (resume), as CPython does.
* **Errors.**  An ``OSError`` from a send or a receive (ICMP port unreachable on a
  connected socket, ``EMSGSIZE``...) goes to ``protocol.error_received`` and the
  endpoint carries on; anything else is fatal.
* **Closing.**  ``close`` stops receiving and closes the endpoint once the queue has
  drained; ``abort`` drops the queue and closes at once.  ``connection_lost`` runs once,
  from the backend's close completion.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import socket
import stat
import sys
import warnings
from collections.abc import Callable
from typing import Any, Final, TypeVar, cast

from layerloop_core.abc import Address, DatagramEndpoint, StreamBackend

from ._fdowners import claim_fd
from ._flowcontrol import FlowControlledTransport

__all__ = ["DatagramTransport", "open_datagram_endpoint", "remove_stale_socket", "set_reuseport"]

_P = TypeVar("_P", bound=asyncio.BaseProtocol)
_AF_UNIX: int | None = getattr(socket, "AF_UNIX", None)
#: Python 3.11/3.12.1 want ``SOCK_DGRAM`` for ``sock=``; 3.13 refuses only ``SOCK_STREAM``.
_SOCK_CHECK_IS_DGRAM: Final = sys.version_info < (3, 13)

logger = logging.getLogger("asyncio")

# The version switches below follow the CPython releases the tests compare with
# (3.11.7 and 3.12.1 behave alike; 3.13.0 changed these three points).
#: Bytes counted per queued datagram on top of its length (CPython 3.13 counts 8).
DATAGRAM_OVERHEAD: Final = 8 if sys.version_info >= (3, 13) else 0
#: Python 3.11/3.12.1 drop empty datagrams in ``sendto``; 3.13 sends them.
_SEND_EMPTY: Final = sys.version_info >= (3, 13)

_BYTES_LIKE = (bytes, bytearray, memoryview)


def _resolve_waiter(waiter: asyncio.Future[None]) -> None:
    if not waiter.cancelled():
        waiter.set_result(None)


class DatagramTransport(FlowControlledTransport, asyncio.DatagramTransport, asyncio.Transport):
    """A datagram socket as an :class:`asyncio.DatagramTransport`.

    Also an :class:`asyncio.Transport`, as CPython's datagram transports are (code and
    CPython's tests check ``isinstance(transport, asyncio.Transport)``); the stream
    methods it does not have (``write``, ``writelines``, ``write_eof``) raise
    ``NotImplementedError`` from the base classes, as there.

    Takes ownership of the bound (and possibly connected) non-blocking *sock*;
    *address* is the remote address given to ``create_datagram_endpoint`` (every
    ``sendto`` goes there, and another address is refused).  Schedules
    ``connection_made``, then starts receiving, then resolves *waiter*.
    """

    __slots__ = (
        "__weakref__",
        "_address",
        "_connected",
        "_endpoint",
        "_endpoint_closed",
        "_info",
        "_paused",
        "_sending",
        "_sock",
        "_started",
        "_wqueue",
    )

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        protocol: asyncio.BaseProtocol,
        address: Address | None = None,
        waiter: asyncio.Future[None] | None = None,
    ) -> None:
        super().__init__(loop, protocol)
        self._sock = sock
        self._address = address
        info: dict[str, Any] = {"socket": sock}
        try:
            info["sockname"] = sock.getsockname()
        except OSError:
            info["sockname"] = None
        try:
            info["peername"] = sock.getpeername()
        except OSError:
            info["peername"] = None
        self._info = info
        # Connected sockets send with send(); an address given with allow_broadcast
        # (not connected) is used with sendto().
        self._connected = bool(info["peername"])
        self._paused = False
        self._started = False
        self._endpoint_closed = False
        self._wqueue: collections.deque[tuple[bytes, Address | None]] = collections.deque()
        self._sending = False
        backend = cast(StreamBackend, getattr(loop, "backend", None))
        self._endpoint: DatagramEndpoint = backend.open_datagram(sock, self)
        self._fd = sock.fileno()
        claim_fd(loop, self._fd, self)
        loop.call_soon(protocol.connection_made, self)
        loop.call_soon(self._start_receiving)
        if waiter is not None:
            loop.call_soon(_resolve_waiter, waiter)

    def __repr__(self) -> str:
        parts = [type(self).__name__]
        if self._endpoint_closed:
            parts.append("closed")
        elif self._closing:
            parts.append("closing")
        if not self._endpoint_closed:
            parts.append(f"fd={self._sock.fileno()}")
            parts.append(f"write=<bufsize={self._wsize}>")
        return f"<{' '.join(parts)}>"

    def __del__(self, _warn: Any = warnings.warn) -> None:
        if not getattr(self, "_endpoint_closed", True):
            _warn(f"unclosed transport {self!r}", ResourceWarning, source=self)
            self._endpoint_closed = True
            with contextlib.suppress(Exception):
                self._endpoint.close(_nothing)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """``socket`` (the socket object itself), ``sockname``, ``peername``."""
        return self._info.get(name, default)

    # -- receiving: the DatagramOwner side ------------------------------------------------

    def _start_receiving(self) -> None:
        self._started = True
        if not self._closing and not self._paused:
            self._endpoint.start_receiving()

    def is_reading(self) -> bool:
        """Whether datagrams are being delivered (not paused, not closing)."""
        return not self._closing and not self._paused

    def pause_reading(self) -> None:
        """Stop delivering datagrams until :meth:`resume_reading` (the kernel keeps
        queueing them, and drops them once its buffer is full)."""
        if self._closing or self._paused:
            return
        self._paused = True
        self._endpoint.stop_receiving()

    def resume_reading(self) -> None:
        """Deliver datagrams again."""
        if self._closing or not self._paused:
            return
        self._paused = False
        if self._started:
            self._endpoint.start_receiving()

    def datagram_received(self, data: bytes, address: Address) -> None:
        """DatagramOwner: hand one datagram to the protocol."""
        if self._conn_lost:
            return
        try:
            self._protocol.datagram_received(data, address)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal error: protocol.datagram_received() call failed.")

    def receive_failed(self, exc: OSError) -> None:
        """DatagramOwner: a receive error (ICMP) goes to ``error_received``."""
        if self._conn_lost:
            return
        self._error_received(exc)

    def _error_received(self, exc: OSError) -> None:
        try:
            self._protocol.error_received(exc)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as error:
            self._fatal_error(error, "Fatal error: protocol.error_received() call failed.")

    # -- sending ---------------------------------------------------------------------------

    def sendto(self, data: bytes | bytearray | memoryview, addr: Address | None = None) -> None:
        """Send one datagram to *addr* (the remote address when connected)."""
        if not isinstance(data, _BYTES_LIKE):
            raise TypeError(
                f"data argument must be a bytes-like object, not {type(data).__name__!r}"
            )
        if not _SEND_EMPTY and not data:
            return
        if self._address:
            if addr not in (None, self._address):
                raise ValueError(f"Invalid address: must be None or {self._address}")
            addr = self._address
        if self._conn_lost:
            self._drop_write("socket.send() raised exception.")
            return
        target = None if self._connected else addr
        if not self._sending and not self._wqueue:
            try:
                if self._endpoint.try_send(memoryview(data), target):
                    return
            except OSError as exc:
                self._error_received(exc)
                return
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._fatal_error(exc, "Fatal write error on datagram transport")
                return
            self._wqueue.append((bytes(data), target))
            self._wsize += len(data) + DATAGRAM_OVERHEAD
            self._send_next()
        else:
            self._wqueue.append((bytes(data), target))
            self._wsize += len(data) + DATAGRAM_OVERHEAD
        self._maybe_pause_protocol()

    def _send_next(self) -> None:
        data, target = self._wqueue[0]
        self._sending = True
        try:
            self._endpoint.send(memoryview(data), target, self._send_done)
        except BaseException:
            self._sending = False
            raise

    def _send_done(self, exc: BaseException | None, /) -> None:
        """Operation callback of the outstanding backend send (the queue's head)."""
        self._sending = False
        if self._endpoint_closed:
            return  # cancelled by the close
        data, _ = self._wqueue.popleft()
        self._wsize -= len(data) + DATAGRAM_OVERHEAD
        if exc is not None:
            if not isinstance(exc, OSError):
                self._fatal_error(exc, "Fatal write error on datagram transport")
                return
            self._error_received(exc)
            if self._conn_lost:
                return
        self._maybe_resume_protocol()  # may send more
        if self._sending or self._conn_lost:
            return
        if self._wqueue:
            self._send_next()
        elif self._closing:
            self._conn_lost += 1
            self._close_endpoint(None)

    def abort(self) -> None:
        """Close now, dropping queued datagrams; ``connection_lost(None)`` follows."""
        self._force_close(None)

    # -- closing ---------------------------------------------------------------------------

    def close(self) -> None:
        """Stop receiving, send what is queued, then close; ``connection_lost(None)``
        follows once.  Idempotent."""
        if self._closing:
            return
        self._closing = True
        self._endpoint.stop_receiving()
        if not self._sending and not self._wqueue and not self._conn_lost:
            self._conn_lost += 1
            self._close_endpoint(None)

    def _force_close(self, exc: BaseException | None) -> None:
        if self._conn_lost:
            return
        self._wqueue.clear()
        self._wsize = 0
        self._closing = True
        self._conn_lost += 1
        self._close_endpoint(exc)

    def _close_endpoint(self, exc: BaseException | None) -> None:
        self._lost_exc = exc
        self._endpoint_closed = True
        self._endpoint.close(self._connection_gone)


def _nothing() -> None:
    pass


def set_reuseport(sock: socket.socket) -> None:
    """Set ``SO_REUSEPORT``; ``ValueError`` (CPython's messages) where it is missing."""
    option = getattr(socket, "SO_REUSEPORT", None)
    if option is None:
        raise ValueError("reuse_port not supported by socket module")
    try:
        sock.setsockopt(socket.SOL_SOCKET, option, 1)
    except OSError:
        raise ValueError(
            "reuse_port not supported by socket module, SO_REUSEPORT defined but not implemented."
        ) from None


def remove_stale_socket(path: str | bytes) -> None:
    """Remove the Unix socket file left at *path* by an earlier process, if any."""
    try:
        if stat.S_ISSOCK(os.stat(path).st_mode):
            os.remove(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        # The directory may allow creating the socket but not inspecting it.
        logger.error("Unable to check or remove stale UNIX socket %r: %r", path, exc)


#: One candidate of ``create_datagram_endpoint``: (family, proto), (local, remote).
_Candidate = tuple[tuple[int, int], tuple[Any, Any]]


async def _datagram_candidates(
    loop: asyncio.AbstractEventLoop,
    *,
    local_addr: Any,
    remote_addr: Any,
    family: int,
    proto: int,
    flags: int,
) -> list[_Candidate]:
    """The (family, proto) pairs to try, each with its local and remote address."""
    if not (local_addr or remote_addr):
        if family == 0:
            raise ValueError("unexpected address family")
        return [((family, proto), (None, None))]
    if _AF_UNIX is not None and family == _AF_UNIX:
        for addr in (local_addr, remote_addr):
            if addr is not None and not isinstance(addr, str):
                raise TypeError("string is expected")
        if local_addr and local_addr[0] not in (0, "\x00"):
            remove_stale_socket(local_addr)
        return [((family, proto), (local_addr, remote_addr))]
    # Addresses grouped by (family, proto), in the resolver's order.
    pairs: dict[tuple[int, int], list[Any]] = {}
    for index, addr in ((0, local_addr), (1, remote_addr)):
        if addr is None:
            continue
        if not (isinstance(addr, tuple) and len(addr) == 2):
            raise TypeError("2-tuple is expected")
        infos = await loop.getaddrinfo(
            addr[0], addr[1], family=family, type=socket.SOCK_DGRAM, proto=proto, flags=flags
        )
        if not infos:
            raise OSError("getaddrinfo() returned empty list")
        for info_family, _, info_proto, _, address in infos:
            pairs.setdefault((info_family, info_proto), [None, None])[index] = address
    # Only pairs that have an address for every side that was asked for.
    candidates: list[_Candidate] = [
        (key, (pair[0], pair[1]))
        for key, pair in pairs.items()
        if not ((local_addr and pair[0] is None) or (remote_addr and pair[1] is None))
    ]
    if not candidates:
        raise ValueError("can not get address information")
    return candidates


async def open_datagram_endpoint(
    loop: asyncio.AbstractEventLoop,
    protocol_factory: Callable[[], _P],
    *,
    local_addr: Any,
    remote_addr: Any,
    family: int,
    proto: int,
    flags: int,
    reuse_port: bool | None,
    allow_broadcast: bool | None,
    sock: socket.socket | None,
) -> tuple[DatagramTransport, _P]:
    """``loop.create_datagram_endpoint``: CPython's checks, in its order."""
    remote: Any = None
    if sock is not None:
        if _SOCK_CHECK_IS_DGRAM:
            if sock.type != socket.SOCK_DGRAM:
                raise ValueError(f"A UDP Socket was expected, got {sock!r}")
        elif sock.type == socket.SOCK_STREAM:
            raise ValueError(f"A datagram socket was expected, got {sock!r}")
        modifiers = {
            "local_addr": local_addr,
            "remote_addr": remote_addr,
            "family": family,
            "proto": proto,
            "flags": flags,
            "reuse_port": reuse_port,
            "allow_broadcast": allow_broadcast,
        }
        if any(modifiers.values()):
            problems = ", ".join(f"{key}={value}" for key, value in modifiers.items() if value)
            raise ValueError(
                "socket modifier keyword arguments can not be used "
                f"when sock is specified. ({problems})"
            )
        sock.setblocking(False)
    else:
        candidates = await _datagram_candidates(
            loop,
            local_addr=local_addr,
            remote_addr=remote_addr,
            family=family,
            proto=proto,
            flags=flags,
        )
        errors: list[OSError] = []
        for (cand_family, cand_proto), (local, remote_address) in candidates:
            made: socket.socket | None = None
            try:
                made = socket.socket(family=cand_family, type=socket.SOCK_DGRAM, proto=cand_proto)
                if reuse_port:
                    set_reuseport(made)
                if allow_broadcast:
                    made.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
                made.setblocking(False)
                if local_addr:
                    made.bind(local)
                if remote_addr:
                    if not allow_broadcast:
                        await loop.sock_connect(made, remote_address)
                    remote = remote_address
            except OSError as exc:
                if made is not None:
                    made.close()
                errors.append(exc)
                continue
            except BaseException:
                if made is not None:
                    made.close()
                raise
            sock = made
            break
        else:
            try:
                raise errors[0]
            finally:
                del errors[:]
    assert sock is not None
    protocol = protocol_factory()
    waiter: asyncio.Future[None] = loop.create_future()
    transport = DatagramTransport(loop, sock, protocol, remote, waiter)
    if loop.get_debug():
        logger.debug(
            "Datagram endpoint local_addr=%r remote_addr=%r created: (%r, %r)",
            local_addr,
            remote_addr,
            transport,
            protocol,
        )
    try:
        await waiter
    except BaseException:
        transport.close()
        raise
    return transport, protocol
