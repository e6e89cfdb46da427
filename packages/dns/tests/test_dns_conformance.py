"""ThreadedResolver through the shipped conformance kit (layerloop-testing).

The kit's ResolverSuite is what a third-party resolver would run to prove itself; this
resolver runs it too, attached to a stdlib asyncio loop (any loop will do).
"""

from __future__ import annotations

import asyncio
import unittest

import layerloop_testing
from dns_test_server import DNSTestServer
from layerloop_core.abc import Resolver
from layerloop_dns import CaresResolver, ThreadedResolver


class TestThreadedResolverConformance(layerloop_testing.ResolverSuite, unittest.TestCase):
    def new_loop(self) -> asyncio.AbstractEventLoop:
        return asyncio.new_event_loop()

    def new_resolver(self) -> Resolver:
        return ThreadedResolver()


class TestCaresResolverConformance(layerloop_testing.ResolverSuite, unittest.TestCase):
    """The same kit, for the c-ares resolver pointed at the loopback test DNS server."""

    server: DNSTestServer

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls.server = DNSTestServer().__enter__()
        cls.addClassCleanup(cls.server.__exit__, None, None, None)

    def new_loop(self) -> asyncio.AbstractEventLoop:
        return asyncio.new_event_loop()

    def new_resolver(self) -> Resolver:
        return CaresResolver(servers=[self.server.address])
