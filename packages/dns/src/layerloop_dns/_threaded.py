"""The threaded resolver: ``getaddrinfo``/``getnameinfo`` with numeric fast paths.

Facts this module relies on
---------------------------

* ``getaddrinfo`` parses the host as an address literal *before* it considers any name
  service: glibc tries ``inet_aton`` (so ``127.1`` and ``0x7f.1`` are literals too), then
  ``inet_pton(AF_INET6)`` with an optional ``%zone`` suffix, and only then NSS (files,
  DNS, ...).  ``AI_NUMERICHOST`` does not change that parse; it only forbids the NSS step
  when the parse fails.  ``AI_NUMERICSERV`` likewise only forbids the ``/etc/services``
  lookup for a port that is not a number.  So for any input where the call *with* both
  flags succeeds, the call without them takes the same code path and returns the same
  list, in the same order, canonical name included.  When it fails, we know nothing and
  make the ordinary call instead, so errors are always the ordinary call's errors.
* With both flags the call does no blocking I/O: a literal is parsed in memory, and a
  zone suffix (``fe80::1%eth0``) costs one ``if_nametoindex`` syscall.  It takes a few
  microseconds; a hop to the default executor and back costs tens.
* What the C library answers for a literal without a zone suffix, without
  ``AI_ADDRCONFIG``, is a pure function of the arguments: one address, expanded into
  the socket types asked for, in a fixed order (glibc's RFC 3484 sort compares
  addresses only, and keeps equal ones in order).  Those answers are memoised per
  resolver, which makes a repeated lookup of the same literal (every connection to
  ``127.0.0.1:6379``...) cost a dict lookup instead of the libc call and the socket
  module's enum conversions.  Everything else can change under us and is never
  cached: zone suffixes map to interface indexes, which change as interfaces come and
  go; ``AI_ADDRCONFIG`` depends on the configured addresses; the wildcard (``None``)
  answer is ordered by ``/etc/gai.conf``; names and services come from files and
  servers that are edited at run time.  Errors are never cached either.
* ``getnameinfo`` with ``NI_NUMERICHOST | NI_NUMERICSERV`` formats the address and port
  without any lookup (the :mod:`socket` wrapper itself insists on a numeric host).
  ``NI_NAMEREQD`` is left to the executor: asking for a name and forbidding its lookup
  is contradictory and libcs disagree on what it means.

The cheap pre-checks below (:func:`_maybe_numeric_host`, :func:`_maybe_numeric_port`)
only decide whether the inline attempt is worth making; they never decide the answer.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from typing import cast

from layerloop_core import ExecutorResolver
from layerloop_core.abc import AddrInfo

__all__ = ["ThreadedResolver"]

logger = logging.getLogger("asyncio")

_AI_NUMERIC = socket.AI_NUMERICHOST | socket.AI_NUMERICSERV
_NI_NUMERIC = socket.NI_NUMERICHOST | socket.NI_NUMERICSERV
_NI_INLINE_MASK = _NI_NUMERIC | socket.NI_NAMEREQD
_DIGITS = frozenset("0123456789")
_BYTE_DIGITS = frozenset(b"0123456789")
#: Memoised inline answers kept per resolver, oldest dropped first.
_MEMO_SIZE = 256


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


def _is_pure(host: bytes | str | None, flags: int) -> bool:
    """Whether an inline answer for *host* depends on nothing but the arguments.

    Not so for a zone suffix (interface indexes change as interfaces come and go), for
    ``AI_ADDRCONFIG`` (the configured addresses change), or for the wildcard ``None``
    (two addresses, ordered by ``/etc/gai.conf``, which libc re-reads when it changes).
    """
    if host is None or flags & socket.AI_ADDRCONFIG:
        return False
    if isinstance(host, str):
        return "%" not in host
    return b"%" not in host


def _all_ints(family: object, type: object, proto: object, flags: object) -> bool:
    # A float or a Decimal equal to an int would share its memo key, but the socket
    # module refuses them: only real ints (enums included) take the fast path.
    return (
        isinstance(family, int)
        and isinstance(type, int)
        and isinstance(proto, int)
        and isinstance(flags, int)
    )


class ThreadedResolver:
    """A :class:`layerloop_core.abc.Resolver` that answers numeric queries inline.

    * ``getaddrinfo`` with an IP literal (IPv4, IPv6, IPv6 with a ``%zone`` suffix) or
      ``None`` as the host, and a number or ``None`` as the port, is answered by
      :func:`socket.getaddrinfo` with ``AI_NUMERICHOST | AI_NUMERICSERV`` added, on the
      loop's thread, without suspending.  Anything else, and any numeric query that
      fails, runs :func:`socket.getaddrinfo` unchanged in the loop's default executor.
    * ``getnameinfo`` with ``NI_NUMERICHOST | NI_NUMERICSERV`` (and without
      ``NI_NAMEREQD``) is answered inline; the rest runs in the default executor.

    Either way the result, or the exception, is exactly what the :mod:`socket` function
    gives for the same arguments.  Hosts and ports may be ``str`` or ``bytes`` (and the
    port an ``int``) as :func:`socket.getaddrinfo` accepts them.  In debug mode every
    lookup is logged on the ``asyncio`` logger, as CPython's loop does.
    """

    __slots__ = ("_executor", "_loop", "_memo")

    def __init__(self) -> None:
        self._executor = ExecutorResolver()
        self._loop: asyncio.AbstractEventLoop | None = None
        # Inline answers that are pure functions of the arguments (see _is_pure), oldest
        # first.  Touched only from the loop's thread.
        self._memo: dict[tuple[object, ...], list[AddrInfo]] = {}

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
        if (
            _maybe_numeric_host(host)
            and _maybe_numeric_port(port)
            and _all_ints(family, type, proto, flags)
        ):
            loop = self._loop
            if loop is None:
                raise RuntimeError("resolver is not attached to a loop")
            try:
                if loop.get_debug():
                    return _getaddrinfo_inline_logged(
                        host, port, family=family, type=type, proto=proto, flags=flags
                    )
                key = (host, port, family, type, proto, flags)
                memo = self._memo
                answer = memo.get(key)
                if answer is not None:
                    return answer.copy()
                # typeshed's element type is narrower than AddrInfo and a list is
                # invariant: the values are the same, so cast rather than convert.
                answer = cast(
                    "list[AddrInfo]",
                    socket.getaddrinfo(host, port, family, type, proto, flags | _AI_NUMERIC),
                )
            except socket.gaierror:
                # Not a literal after all (``1.2.3.4.5``, an unknown zone, a family
                # mismatch...): the ordinary call decides, and reports its own error.
                pass
            else:
                if _is_pure(host, flags):
                    if len(memo) >= _MEMO_SIZE:
                        del memo[next(iter(memo))]
                    memo[key] = answer
                    return answer.copy()
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


def _getaddrinfo_inline_logged(
    host: bytes | str | None,
    port: bytes | str | int | None,
    *,
    family: int,
    type: int,
    proto: int,
    flags: int,
) -> list[AddrInfo]:
    started = time.monotonic()
    answer = socket.getaddrinfo(host, port, family, type, proto, flags | _AI_NUMERIC)
    took = time.monotonic() - started
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
    return cast("list[AddrInfo]", answer)
