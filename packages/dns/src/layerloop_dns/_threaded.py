"""The threaded resolver: ``getaddrinfo``/``getnameinfo`` with numeric fast paths.

Facts this module relies on
---------------------------

* ``getaddrinfo`` parses the host as an address literal *before* it considers any name
  service: glibc tries ``inet_aton`` (so ``127.1`` and ``0x7f.1`` are literals too), then
  ``inet_pton(AF_INET6)`` on the text before the first ``%``, whose remainder is a
  zone, and only then NSS (files, DNS, ...).  ``AI_NUMERICHOST`` does not change that
  parse; it only forbids the NSS step when the parse fails.  ``AI_NUMERICSERV``
  likewise only forbids the ``/etc/services`` lookup for a port that is not a number.
  So for any input where the call *with* both flags succeeds, the call without them
  takes the same code path and returns the same list, in the same order, canonical
  name included.  When it fails, we know nothing and make the ordinary call instead,
  so errors are always the ordinary call's errors.
* With both flags the call makes no system call for a literal without a zone (a zone
  costs one ``SIOCGIFINDEX`` ioctl), but it is not cheap either (4-10 µs): about 2 µs
  in the C library and the C wrapper, the rest in :mod:`socket`'s Python wrapper, which
  converts every entry's family and type to enum members one call at a time.  (glibc
  sorts an answer by RFC 3484 only when it holds more than one distinct address; that
  sort connects a UDP socket per address to learn its source address.)
* For the common queries glibc's answer is a pure function of the arguments, and
  :func:`_synthesise` builds it in Python (the rules below are glibc's; other C
  libraries order and filter entries differently, so elsewhere the inline call
  answers).  Host: an IPv4 literal that ``inet_pton`` accepts (dotted quad, no
  leading zeros: then ``inet_aton`` reads it the same way and ``inet_ntop`` gives it
  back unchanged), an IPv6 literal (given back in ``inet_ntop``'s form, flow info 0)
  with an optional zone, or ``None`` with a family (``AI_PASSIVE``: the wildcard
  address, else loopback).  The zone of a link-local or link/node-local multicast
  address is first looked up as an interface name (``if_nametoindex``, a live
  syscall: interfaces come and go), for any address it may be a decimal number up to
  2**32-1, and anything else is an error.  Entries, per ``(socktype, protocol)``:
  ``(0, 0)`` gives ``STREAM/6, DGRAM/17, RAW/0`` in that order; ``(0 or STREAM, 6)``
  and ``(STREAM, 0)`` give ``STREAM/6``; ``(0 or DGRAM, 17)`` and ``(DGRAM, 0)``
  give ``DGRAM/17``; ``(RAW, p)`` gives ``RAW/p`` but only without a port.  One
  address is never reordered.  ``AI_CANONNAME`` puts the host text, as given, on the
  first entry.
  ``AI_PASSIVE`` matters only without a host; the ``NUMERIC`` flags change nothing
  on success.
* Not synthesised (the inline call or the executor answers, as exactly as ever):
  other flags (``AI_ADDRCONFIG`` depends on the configured addresses, the
  ``AI_V4MAPPED`` family), ``None`` without a family (two addresses, whose order the
  RFC 3484 sort takes from the routing table and ``/etc/gai.conf``), a literal of the
  other family than the one asked for, ports outside 0-65535 (glibc truncates them to
  16 bits), other socket types and protocols, and every query that is an error.
* ``getnameinfo`` with ``NI_NUMERICHOST | NI_NUMERICSERV`` formats the address and port
  without any lookup (the :mod:`socket` wrapper itself insists on a numeric host).
  ``NI_NAMEREQD`` is left to the executor: asking for a name and forbidding its lookup
  is contradictory and libcs disagree on what it means.

Nothing is cached: a synthesised answer (about 1 µs) costs little more than a lookup in
a dictionary of answers would, and every other answer depends on the machine's state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import sys
import time
from typing import cast

from layerloop_core import ExecutorResolver
from layerloop_core.abc import AddrInfo

__all__ = ["ThreadedResolver"]

logger = logging.getLogger("asyncio")

# Plain ints: arithmetic on the socket module's IntFlag members runs enum code in Python.
_AI_NUMERIC = int(socket.AI_NUMERICHOST | socket.AI_NUMERICSERV)
_AI_CANONNAME = int(socket.AI_CANONNAME)
_AI_PASSIVE = int(socket.AI_PASSIVE)
#: Every flag that changes nothing in a synthesised answer or is handled by it.
_AI_NOT_SYNTHESISED = ~(_AI_NUMERIC | _AI_CANONNAME | _AI_PASSIVE)
_NI_NUMERIC = int(socket.NI_NUMERICHOST | socket.NI_NUMERICSERV)
_NI_INLINE_MASK = _NI_NUMERIC | int(socket.NI_NAMEREQD)
_DIGITS = frozenset("0123456789")
_BYTE_DIGITS = frozenset(b"0123456789")

_AF_INET = socket.AddressFamily.AF_INET
_AF_INET6 = socket.AddressFamily.AF_INET6
#: The families a literal of each kind answers to (plain ints, compared by ``in``).
_FOR_V4 = (0, int(_AF_INET))
_FOR_V6 = (0, int(_AF_INET6))
_inet_pton = socket.inet_pton
_inet_ntop = socket.inet_ntop

#: One entry of an answer before the address is known: (family, type, protocol).
_Shape = tuple[socket.AddressFamily, socket.SocketKind, int]


def _is_glibc() -> bool:
    libc = ""
    if sys.platform == "linux":
        with contextlib.suppress(ValueError, OSError):  # musl has no such name
            libc = os.confstr("CS_GNU_LIBC_VERSION") or ""
    return libc.startswith("glibc")


#: Whether :func:`_synthesise` may answer (its rules are glibc's).
_SYNTHESIS = _is_glibc()


def _shapes(
    family: socket.AddressFamily, *, with_port: bool
) -> dict[tuple[int, int], tuple[_Shape, ...]]:
    stream = (family, socket.SocketKind.SOCK_STREAM, socket.IPPROTO_TCP)
    dgram = (family, socket.SocketKind.SOCK_DGRAM, socket.IPPROTO_UDP)
    # Plain int keys: a lookup compares keys, and int == IntEnum member is slow.
    tcp, udp = int(socket.IPPROTO_TCP), int(socket.IPPROTO_UDP)
    sock_stream, sock_dgram, raw = (
        int(socket.SOCK_STREAM),
        int(socket.SOCK_DGRAM),
        int(socket.SOCK_RAW),
    )
    shapes: dict[tuple[int, int], tuple[_Shape, ...]] = {
        (0, 0): (stream, dgram, (family, socket.SocketKind.SOCK_RAW, 0)),
        (0, tcp): (stream,),
        (0, udp): (dgram,),
        (sock_stream, 0): (stream,),
        (sock_stream, tcp): (stream,),
        (sock_dgram, 0): (dgram,),
        (sock_dgram, udp): (dgram,),
    }
    if not with_port:  # a raw socket has no port: glibc refuses one (EAI_SERVICE)
        for proto in (0, tcp, udp):
            shapes[raw, proto] = ((family, socket.SocketKind.SOCK_RAW, proto),)
    return shapes


# The answer's entries by (type, proto), per address family and port presence.  Keys
# are plain ints; IntEnum members hash and compare equal to them.
_V4_PORT = _shapes(_AF_INET, with_port=True)
_V4_NO_PORT = _shapes(_AF_INET, with_port=False)
_V6_PORT = _shapes(_AF_INET6, with_port=True)
_V6_NO_PORT = _shapes(_AF_INET6, with_port=False)
#: The same tables by ``(family, port given)``, for answers built from resolved addresses.
_SHAPES_BY_FAMILY = {
    (int(_AF_INET), True): _V4_PORT,
    (int(_AF_INET), False): _V4_NO_PORT,
    (int(_AF_INET6), True): _V6_PORT,
    (int(_AF_INET6), False): _V6_NO_PORT,
}


def _scope_id(packed: bytes, zone: str) -> int:
    """glibc's reading of an IPv6 zone, or -1 where getaddrinfo fails."""
    first, second = packed[0], packed[1]
    if (first == 0xFE and second & 0xC0 == 0x80) or (first == 0xFF and second & 0x0F in (1, 2)):
        # Link-local unicast, node- or link-local multicast: an interface name first.
        try:
            return socket.if_nametoindex(zone)
        except (OSError, ValueError):
            pass
    if zone.isdigit():  # ASCII digits: the host was checked ASCII
        digits = zone.lstrip("0")
        if len(digits) <= 10:  # else too big, and int() might refuse the length
            number = int(digits or "0")
            if number <= 0xFFFFFFFF:
                return number
    return -1


def _synthesise(  # noqa: PLR0917 - the hot path: positional calls are cheaper
    host: bytes | str | None,
    port: bytes | str | int | None,
    # object: callers pass on whatever they were given, floats included.
    family: object,
    socktype: object,
    proto: object,
    flags: object,
) -> list[AddrInfo] | None:
    """glibc's ``getaddrinfo`` answer when the rules in the module doc cover the query,
    else ``None`` (including every query that would be an error)."""
    if type(port) is int:  # exactly int: the socket module refuses bool and subclasses
        if port < 0 or port > 0xFFFF:
            return None
        number = port
        with_port = True
    elif port is None:
        number = 0
        with_port = False
    elif type(port) is str:
        if not (port.isascii() and port.isdigit() and len(port) <= 5):
            return None
        number = int(port)
        if number > 0xFFFF:
            return None
        with_port = True
    elif type(port) is bytes:
        if not (port.isdigit() and len(port) <= 5):
            return None
        number = int(port)
        if number > 0xFFFF:
            return None
        with_port = True
    else:
        return None
    # isinstance: a float equal to an int would match the tables, the socket module
    # refuses it.
    if not (
        isinstance(flags, int)
        and isinstance(family, int)
        and isinstance(socktype, int)
        and isinstance(proto, int)
    ):
        return None
    if flags & _AI_NOT_SYNTHESISED:
        return None
    if type(host) is str:
        # The socket module IDNA-encodes a str host: ASCII passes unchanged unless a
        # label is 64 characters or longer (then it raises).
        if not host.isascii() or len(host) > 63:
            return None
        text = host
    elif type(host) is bytes:
        try:
            text = host.decode("ascii")
        except UnicodeDecodeError:
            return None
    elif host is None:
        if not with_port or flags & _AI_CANONNAME:
            return None  # EAI_NONAME and EAI_BADFLAGS
        passive = flags & _AI_PASSIVE
        sockaddr: tuple[str, int] | tuple[str, int, int, int]
        if family == _AF_INET:
            shapes = _V4_PORT.get((socktype, proto))
            sockaddr = ("0.0.0.0" if passive else "127.0.0.1", number)
        elif family == _AF_INET6:
            shapes = _V6_PORT.get((socktype, proto))
            sockaddr = ("::" if passive else "::1", number, 0, 0)
        else:
            return None
        if shapes is None:
            return None
        return [(f, k, p, "", sockaddr) for f, k, p in shapes]
    else:
        return None
    if ":" in text:
        if family not in _FOR_V6:
            return None
        address, percent, zone = text.partition("%")
        try:
            packed = _inet_pton(_AF_INET6, address)
        except (OSError, ValueError):
            return None
        if percent:
            scope_id = _scope_id(packed, zone)
            if scope_id < 0:
                return None
        else:
            scope_id = 0
        shapes = (_V6_PORT if with_port else _V6_NO_PORT).get((socktype, proto))
        sockaddr = (_inet_ntop(_AF_INET6, packed), number, 0, scope_id)
    else:
        if family not in _FOR_V4:
            return None
        try:
            _inet_pton(_AF_INET, text)
        except (OSError, ValueError):
            return None  # maybe an inet_aton form ("127.1"): the inline call decides
        shapes = (_V4_PORT if with_port else _V4_NO_PORT).get((socktype, proto))
        sockaddr = (text, number)
    if shapes is None:
        return None
    if len(shapes) == 1:
        f, k, p = shapes[0]
        return [(f, k, p, text if flags & _AI_CANONNAME else "", sockaddr)]
    answer: list[AddrInfo] = [(f, k, p, "", sockaddr) for f, k, p in shapes]
    if flags & _AI_CANONNAME:
        f, k, p = shapes[0]
        answer[0] = (f, k, p, text, sockaddr)
    return answer


def _maybe_numeric_host(host: object) -> bool:
    # An IPv4 literal starts with a digit (inet_aton), an IPv6 literal has a colon.
    # ``None`` is the wildcard or loopback address (AI_PASSIVE decides), never a lookup.
    if host is None:
        return True
    if type(host) is str:
        return host.isascii() and (host[:1] in _DIGITS or ":" in host)
    if type(host) is bytes:
        return bool(host) and (host[0] in _BYTE_DIGITS or b":" in host)
    return False


def _maybe_numeric_port(port: object) -> bool:
    if port is None or type(port) is int:
        return True
    if type(port) is str:
        return port.isascii() and port.isdigit()
    if type(port) is bytes:
        return port.isdigit()
    return False


def _getaddrinfo_numeric(  # noqa: PLR0917 - the hot path: positional calls are cheaper
    host: bytes | str | None,
    port: bytes | str | int | None,
    family: int,
    socktype: int,
    proto: int,
    flags: int,
) -> list[AddrInfo] | None:
    """The answer without a thread hop, or ``None`` when it needs the executor."""
    if _SYNTHESIS:
        answer = _synthesise(host, port, family, socktype, proto, flags)
        if answer is not None:
            return answer
    if not (_maybe_numeric_host(host) and _maybe_numeric_port(port)):
        return None
    try:
        # typeshed's element type is narrower than AddrInfo and a list is invariant:
        # the values are the same, so cast rather than convert.
        return cast(
            "list[AddrInfo]",
            socket.getaddrinfo(host, port, family, socktype, proto, flags | _AI_NUMERIC),
        )
    except socket.gaierror:
        # Not a literal after all (``1.2.3.4.5``, an unknown zone, a family mismatch...):
        # the ordinary call decides, and reports its own error.
        return None
    except (TypeError, ValueError, OverflowError, OSError):
        # Bad argument types or values: the ordinary call raises the same, so let it.
        return None


class ThreadedResolver:
    """A :class:`layerloop_core.abc.Resolver` that answers numeric queries inline.

    * ``getaddrinfo`` with an IP literal (IPv4, IPv6, IPv6 with a ``%zone`` suffix) or
      ``None`` as the host, and a number or ``None`` as the port, is answered on the
      loop's thread without suspending: built directly for the common argument
      combinations (with glibc), else by :func:`socket.getaddrinfo` with
      ``AI_NUMERICHOST | AI_NUMERICSERV`` added.  Anything else, and any numeric query
      that fails, runs :func:`socket.getaddrinfo` unchanged in the loop's default
      executor.
    * ``getnameinfo`` with ``NI_NUMERICHOST | NI_NUMERICSERV`` (and without
      ``NI_NAMEREQD``) is answered inline; the rest runs in the default executor.

    Either way the result, or the exception, is exactly what the :mod:`socket` function
    gives for the same arguments.  Hosts and ports may be ``str`` or ``bytes`` (and the
    port an ``int``) as :func:`socket.getaddrinfo` accepts them.  In debug mode every
    lookup is logged on the ``asyncio`` logger, as CPython's loop does.
    """

    __slots__ = ("_executor", "_loop")

    def __init__(self) -> None:
        self._executor = ExecutorResolver()
        self._loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} attached={self._loop is not None}>"

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Bind to *loop*: lookups that need a thread run in its default executor.

        A resolver serves one loop; attaching it to a second one raises
        :class:`RuntimeError`.
        """
        self._executor.attach(loop)
        self._loop = loop

    async def getaddrinfo(
        self,
        host: bytes | str | None,
        port: bytes | str | int | None,
        *,
        family: int = 0,
        type: int = 0,
        proto: int = 0,
        flags: int = 0,
    ) -> list[AddrInfo]:
        """As :func:`socket.getaddrinfo`; numeric hosts and ports never leave the thread."""
        loop = self._loop
        if loop is None:
            raise RuntimeError("resolver is not attached to a loop")
        if loop.get_debug():
            answer = _getaddrinfo_numeric_logged(host, port, family, type, proto, flags)
        else:
            answer = _getaddrinfo_numeric(host, port, family, type, proto, flags)
        if answer is not None:
            return answer
        return await self._executor.getaddrinfo(
            host, port, family=family, type=type, proto=proto, flags=flags
        )

    async def getnameinfo(
        self, sockaddr: tuple[str, int] | tuple[str, int, int, int], flags: int = 0
    ) -> tuple[str, str]:
        """As :func:`socket.getnameinfo`; numeric flags are answered inline."""
        if flags & _NI_INLINE_MASK == _NI_NUMERIC:
            if self._loop is None:
                raise RuntimeError("resolver is not attached to a loop")
            # No lookup happens, so any error is final: it is the error the executor
            # would have reported.
            return socket.getnameinfo(sockaddr, flags)
        return await self._executor.getnameinfo(sockaddr, flags)

    def close(self) -> None:
        """Release the resolver.  Idempotent; the executor belongs to the loop."""
        self._executor.close()


def _getaddrinfo_numeric_logged(  # noqa: PLR0917 - as _getaddrinfo_numeric
    host: bytes | str | None,
    port: bytes | str | int | None,
    family: int,
    type: int,
    proto: int,
    flags: int,
) -> list[AddrInfo] | None:
    started = time.monotonic()
    answer = _getaddrinfo_numeric(host, port, family, type, proto, flags)
    took = time.monotonic() - started
    if answer is not None:
        logger.debug(
            "Getting address info %r:%r, family=%r, type=%r, proto=%r, flags=%r "
            "(numeric, answered inline) took %.3fms: %r",
            host,
            port,
            family,
            type,
            proto,
            flags,
            took * 1e3,
            answer,
        )
    return answer
