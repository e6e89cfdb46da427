"""The default resolver (:class:`ExecutorResolver`) and the numeric-address shortcut.

``sock_connect`` and the transports must not pay for a thread hop when the caller
already passes an IP literal and a numeric port: :func:`numeric_address` recognises that
case with :func:`socket.inet_pton` and builds the address ``getaddrinfo`` would have
returned.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from typing import Any, cast

from .abc import Address, AddrInfo

__all__ = ["ExecutorResolver", "numeric_address"]

logger = logging.getLogger("asyncio")

#: A lookup slower than this (seconds) is logged at INFO rather than DEBUG level
#: (asyncio compares with the default slow_callback_duration, also 0.1).
SLOW_LOOKUP = 0.1

_HAS_IPV6 = socket.has_ipv6 and hasattr(socket, "AF_INET6")


def numeric_address(
    host: Any,
    port: Any,
    *,
    family: int,
    type: int,
    proto: int,
    flowinfo: int = 0,
    scopeid: int = 0,
) -> tuple[int, Address] | None:
    """``(family, sockaddr)`` when *host* is an IP literal and *port* a number, else ``None``.

    Mirrors what ``getaddrinfo`` answers for such input, for stream and datagram
    sockets only (other types, non-TCP/UDP protocols, service names and IPv6 zone
    suffixes such as ``fe80::1%eth0`` go to the resolver).
    """
    if host is None or proto not in (0, socket.IPPROTO_TCP, socket.IPPROTO_UDP):
        return None
    if type not in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        return None
    if port is None or port in ("", b""):
        portnum = 0
    else:
        try:
            portnum = int(port)
        except (TypeError, ValueError):
            return None
    if isinstance(host, bytes):
        host = host.decode("idna")
    if not isinstance(host, str) or "%" in host:
        # Linux inet_pton rejects a zone index; getaddrinfo resolves it to a scope id.
        return None
    if family == socket.AF_UNSPEC:
        families: tuple[int, ...] = (
            (socket.AF_INET, socket.AF_INET6) if _HAS_IPV6 else (socket.AF_INET,)
        )
    else:
        families = (family,)
    for fam in families:
        try:
            socket.inet_pton(fam, host)
        except (OSError, ValueError):
            continue
        if _HAS_IPV6 and fam == socket.AF_INET6:
            return fam, (host, portnum, flowinfo, scopeid)
        return fam, (host, portnum)
    return None


class ExecutorResolver:
    """The resolver a loop uses when none is given: the blocking :mod:`socket` calls run
    in the loop's default executor.

    Results and errors are exactly those of :func:`socket.getaddrinfo` and
    :func:`socket.getnameinfo`.  In debug mode each lookup is logged on the
    ``asyncio`` logger, at INFO level when it took longer than the loop's
    ``slow_callback_duration``.  ``layerloop-dns`` provides a faster resolver that
    answers numeric hosts without a thread hop.
    """

    __slots__ = ("_loop",)

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Bind to *loop*; lookups then run in its default executor."""
        if self._loop is not None and self._loop is not loop:
            raise RuntimeError("resolver is already attached to another loop")
        self._loop = loop

    def _attached(self) -> asyncio.AbstractEventLoop:
        loop = self._loop
        if loop is None:
            raise RuntimeError("resolver is not attached to a loop")
        return loop

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
        """As :func:`socket.getaddrinfo`, run in the loop's default executor."""
        loop = self._attached()
        lookup = _getaddrinfo_logged if loop.get_debug() else _getaddrinfo
        return await loop.run_in_executor(None, lookup, host, port, family, type, proto, flags)

    async def getnameinfo(
        self, sockaddr: tuple[str, int] | tuple[str, int, int, int], flags: int = 0
    ) -> tuple[str, str]:
        """As :func:`socket.getnameinfo`, run in the loop's default executor."""
        loop = self._attached()
        return await loop.run_in_executor(None, socket.getnameinfo, sockaddr, flags)

    def close(self) -> None:
        """Nothing to release: the executor belongs to the loop."""


def _getaddrinfo(  # noqa: PLR0917 - run_in_executor passes positionals only
    host: bytes | str | None,
    port: bytes | str | int | None,
    family: int,
    type: int,
    proto: int,
    flags: int,
) -> list[AddrInfo]:
    # socket's stub spells the family as a Literal per tuple shape; the seam's AddrInfo
    # spells the same tuples with a plain AddressFamily.
    return cast("list[AddrInfo]", socket.getaddrinfo(host, port, family, type, proto, flags))


def _getaddrinfo_logged(  # noqa: PLR0917 - run_in_executor passes positionals only
    host: bytes | str | None,
    port: bytes | str | int | None,
    family: int,
    type: int,
    proto: int,
    flags: int,
) -> list[AddrInfo]:
    query = [f"{host!s}:{port!r}"]
    for label, value in (("family", family), ("type", type), ("proto", proto), ("flags", flags)):
        if value:
            query.append(f"{label}={value!r}")
    text = ", ".join(query)
    logger.debug("Get address info %s", text)
    started = time.monotonic()
    answer = _getaddrinfo(host, port, family, type, proto, flags)
    took = time.monotonic() - started
    report = f"Getting address info {text} took {took * 1e3:.3f}ms: {answer!r}"
    if took >= SLOW_LOOKUP:
        logger.info(report)
    else:
        logger.debug(report)
    return answer
