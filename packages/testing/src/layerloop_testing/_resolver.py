"""Resolver conformance: answers identical to ``socket.getaddrinfo``/``getnameinfo``.

A resolver with numeric fast paths (answering IP literals without a thread) must agree
with the C library on every literal it claims, including the odd ones: ``"127.1"``
(``inet_aton`` shorthand), ``"0x7f.1"``, ``"017.0.0.1"`` (octal), ports above 65535
(truncated to 16 bits), ``" 80"`` and ``"080"`` as services, IPv6 scope ids.  The cases
below are compared against :func:`socket.getaddrinfo` called in the test itself, so
they hold on any platform: whatever the C library answers is the expected answer.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from typing import Any

from layerloop_core.abc import Resolver

from ._base import LoopSuite

__all__ = ["GETADDRINFO_CASES", "GETNAMEINFO_CASES", "LoopResolverSuite", "ResolverSuite"]

_NUMERIC = socket.NI_NUMERICHOST | socket.NI_NUMERICSERV

#: ``(description, (host, port), keyword arguments)``.  Only literals, ``localhost`` and
#: the wildcard: nothing here needs a DNS server.
GETADDRINFO_CASES: list[tuple[str, tuple[Any, Any], dict[str, int]]] = [
    ("ipv4, int port", ("127.0.0.1", 80), {}),
    ("ipv4, str port", ("127.0.0.1", "80"), {}),
    ("ipv4, bytes host and port", (b"127.0.0.1", b"80"), {}),
    ("ipv4, stream", ("127.0.0.1", 80), {"type": socket.SOCK_STREAM}),
    ("ipv4, datagram", ("127.0.0.1", 53), {"type": socket.SOCK_DGRAM}),
    ("ipv4, udp proto", ("127.0.0.1", 53), {"proto": socket.IPPROTO_UDP}),
    ("ipv4, family", ("10.1.2.3", 1), {"family": socket.AF_INET}),
    ("ipv4, no port", ("127.0.0.1", None), {}),
    ("ipv4, empty port", ("127.0.0.1", ""), {"type": socket.SOCK_STREAM}),
    ("ipv4, port 0", ("127.0.0.1", 0), {}),
    ("ipv4, port above 65535", ("127.0.0.1", 70000), {}),
    ("ipv4, port 65536", ("1.2.3.4", 65536), {"type": socket.SOCK_STREAM}),
    ("ipv4, negative port", ("127.0.0.1", -1), {}),
    ("ipv4, float port", ("127.0.0.1", 1.5), {}),
    ("ipv4, service with space", ("127.0.0.1", " 80"), {"type": socket.SOCK_STREAM}),
    ("ipv4, service with zero", ("127.0.0.1", "080"), {"type": socket.SOCK_STREAM}),
    ("ipv4, hex service", ("127.0.0.1", "0x50"), {"type": socket.SOCK_STREAM}),
    ("ipv4, service name", ("127.0.0.1", "http"), {}),
    ("ipv4, unknown service", ("127.0.0.1", "no-such-service-name"), {}),
    ("ipv4, numeric service flag", ("127.0.0.1", "80"), {"flags": socket.AI_NUMERICSERV}),
    ("ipv4, shorthand 127.1", ("127.1", 80), {"type": socket.SOCK_STREAM}),
    ("ipv4, hex component", ("0x7f.1", 80), {"type": socket.SOCK_STREAM}),
    ("ipv4, octal component", ("017.0.0.1", 80), {"type": socket.SOCK_STREAM}),
    ("ipv4, out of range", ("300.1.1.1", 80), {"flags": socket.AI_NUMERICHOST}),
    ("ipv4, canonname", ("127.0.0.1", 80), {"flags": socket.AI_CANONNAME}),
    ("ipv4, asked as ipv6", ("127.0.0.1", 80), {"family": socket.AF_INET6}),
    ("ipv6 loopback", ("::1", 443), {}),
    ("ipv6, family", ("::1", 443), {"family": socket.AF_INET6}),
    ("ipv6, asked as ipv4", ("::1", 443), {"family": socket.AF_INET}),
    ("ipv6, upper case mapped", ("::FFFF:1.2.3.4", 80), {"type": socket.SOCK_STREAM}),
    ("ipv6, numeric scope id", ("fe80::1%1", 80), {}),
    ("ipv6, loopback scope id", ("::1%1", 80), {"type": socket.SOCK_STREAM}),
    ("wildcard, passive", (None, 8080), {"flags": socket.AI_PASSIVE}),
    ("wildcard, active", (None, 8080), {}),
    ("wildcard, passive ipv6", (None, 0), {"flags": socket.AI_PASSIVE, "family": socket.AF_INET6}),
    ("no host, no port", (None, None), {}),
    ("localhost", ("localhost", 80), {}),
    ("localhost, stream", ("localhost", 0), {"type": socket.SOCK_STREAM}),
    ("localhost, numeric host flag", ("localhost", 80), {"flags": socket.AI_NUMERICHOST}),
]

#: ``(description, sockaddr, flags)``.
GETNAMEINFO_CASES: list[tuple[str, tuple[Any, ...], int]] = [
    ("ipv4 numeric", ("127.0.0.1", 80), _NUMERIC),
    ("ipv6 numeric", ("::1", 443, 0, 0), _NUMERIC),
    ("ipv4 service name", ("127.0.0.1", 80), socket.NI_NUMERICHOST),
    ("ipv4 loopback name", ("127.0.0.1", 80), socket.NI_NUMERICSERV),
    ("datagram service", ("127.0.0.1", 53), socket.NI_NUMERICHOST | socket.NI_DGRAM),
]


def _outcome(call: Callable[..., object], *args: Any, **kwargs: Any) -> tuple[str, object]:
    try:
        return "ok", call(*args, **kwargs)
    except Exception as exc:
        return _error_signature(exc)


def _error_signature(exc: BaseException) -> tuple[str, object]:
    # Same type, and for OSError (gaierror included) the same errno: that is what
    # callers branch on.  Messages may differ (an executor adds nothing, C-ares might).
    errno = exc.args[0] if isinstance(exc, OSError) and exc.args else None
    return "error", (type(exc).__name__, errno)


class _ResolutionChecks(LoopSuite):
    """The comparisons, given a way to call ``getaddrinfo``/``getnameinfo``."""

    def resolve(self, host: Any, port: Any, **kwargs: int) -> Awaitable[list[Any]]:
        raise NotImplementedError

    def reverse(self, sockaddr: tuple[Any, ...], flags: int) -> Awaitable[tuple[str, str]]:
        raise NotImplementedError

    async def _async_outcome(
        self, call: Callable[..., Awaitable[object]], *args: Any, **kwargs: Any
    ) -> tuple[str, object]:
        try:
            return "ok", await call(*args, **kwargs)
        except Exception as exc:
            return _error_signature(exc)

    def _check_getaddrinfo_cases(self) -> None:
        for description, (host, port), kwargs in GETADDRINFO_CASES:
            with self.subTest(description, host=host, port=port, **kwargs):
                expected = _outcome(socket.getaddrinfo, host, port, **kwargs)
                actual = self.run_coro(self._async_outcome(self.resolve, host, port, **kwargs))
                self.assertEqual(actual, expected)
                if actual[0] == "ok":
                    assert isinstance(actual[1], list)
                    for entry in actual[1]:
                        # The same enum types as the socket module returns.
                        self.assertIsInstance(entry[0], socket.AddressFamily)
                        self.assertIsInstance(entry[1], socket.SocketKind)

    def _check_getnameinfo_cases(self) -> None:
        for description, sockaddr, flags in GETNAMEINFO_CASES:
            with self.subTest(description, sockaddr=sockaddr, flags=flags):
                expected = _outcome(socket.getnameinfo, sockaddr, flags)
                actual = self.run_coro(self._async_outcome(self.reverse, sockaddr, flags))
                self.assertEqual(actual, expected)

    def _check_concurrent_queries(self) -> None:
        async def many() -> list[list[Any]]:
            return await asyncio.gather(
                *(self.resolve("127.0.0.1", port) for port in range(1000, 1100))
            )

        results = self.run_coro(many())
        for port, result in zip(range(1000, 1100), results, strict=True):
            self.assertEqual(result, socket.getaddrinfo("127.0.0.1", port))


class LoopResolverSuite(_ResolutionChecks):
    """``loop.getaddrinfo``/``loop.getnameinfo`` answer what the ``socket`` module does."""

    def resolve(self, host: Any, port: Any, **kwargs: int) -> Awaitable[list[Any]]:
        return self.loop.getaddrinfo(host, port, **kwargs)

    def reverse(self, sockaddr: tuple[Any, ...], flags: int) -> Awaitable[tuple[str, str]]:
        return self.loop.getnameinfo(sockaddr, flags)

    def test_getaddrinfo_matches_the_socket_module(self) -> None:
        self._check_getaddrinfo_cases()

    def test_getnameinfo_matches_the_socket_module(self) -> None:
        self._check_getnameinfo_cases()

    def test_concurrent_getaddrinfo_calls(self) -> None:
        self._check_concurrent_queries()

    def test_getaddrinfo_can_be_cancelled(self) -> None:
        async def main() -> None:
            task = asyncio.ensure_future(self.loop.getaddrinfo("localhost", 80))
            task.cancel()
            with self.assertRaises(asyncio.CancelledError):
                await task
            # The loop still resolves afterwards.
            self.assertEqual(
                await self.loop.getaddrinfo("127.0.0.1", 80),
                socket.getaddrinfo("127.0.0.1", 80),
            )

        self.run_coro(main())


class ResolverSuite(_ResolutionChecks):
    """A :class:`layerloop_core.abc.Resolver` driven directly.

    Implement :meth:`new_resolver` (and :meth:`new_loop`, the loop it is attached to;
    any loop will do, stdlib asyncio's included).
    """

    resolver: Resolver

    def new_resolver(self) -> Resolver:
        """Return a new, unattached resolver: the resolver under test."""
        raise NotImplementedError(f"{type(self).__qualname__} must implement new_resolver()")

    def setUp(self) -> None:
        super().setUp()
        self.resolver = self.new_resolver()
        self.resolver.attach(self.loop)
        self.addCleanup(self.resolver.close)

    def resolve(self, host: Any, port: Any, **kwargs: int) -> Awaitable[list[Any]]:
        return self.resolver.getaddrinfo(host, port, **kwargs)

    def reverse(self, sockaddr: tuple[Any, ...], flags: int) -> Awaitable[tuple[str, str]]:
        return self.resolver.getnameinfo(sockaddr, flags)

    def test_resolver_satisfies_the_protocol(self) -> None:
        self.assertIsInstance(self.resolver, Resolver)

    def test_getaddrinfo_matches_the_socket_module(self) -> None:
        self._check_getaddrinfo_cases()

    def test_getnameinfo_matches_the_socket_module(self) -> None:
        self._check_getnameinfo_cases()

    def test_concurrent_getaddrinfo_calls(self) -> None:
        self._check_concurrent_queries()

    def test_close_is_idempotent(self) -> None:
        self.resolver.close()
        self.resolver.close()
