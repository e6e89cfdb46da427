"""layerloop-testing: the conformance kit for layerloop backends, resolvers and loops.

Suites are mixins with a factory hook; combine one with ``unittest.TestCase``::

    class TestMyLoop(layerloop_testing.SchedulingSuite, unittest.TestCase):
        def new_loop(self) -> asyncio.AbstractEventLoop:
            return my_loop_factory()

Every ``test_*`` method of a suite is a standard test: replacing one needs
:func:`override_standard_test`, or the suite's guard test fails.  The pytest plugin
(registered under ``pytest11``) adds a ``loop_factory`` fixture parametrised over every
installed backend plus stdlib asyncio.
"""

from ._backend import BackendHost, BackendSuite, LoopFromBackend, StreamBackendSuite
from ._base import DEFAULT_TIMEOUT, LoopSuite
from ._bind import bind_loop_suites
from ._discovery import (
    BACKENDS_ENTRY_POINT_GROUP,
    STDLIB_NAME,
    BackendInfo,
    LoopFactory,
    discover_backends,
    loop_factories,
    new_stdlib_loop,
)
from ._guard import GUARD_TEST_NAME, StandardSuite, override_standard_test, silent_overrides
from ._readers import ReaderWriterSuite
from ._resolver import GETADDRINFO_CASES, GETNAMEINFO_CASES, LoopResolverSuite, ResolverSuite
from ._scheduling import SchedulingSuite
from ._signals import SignalSuite
from ._sockets import SocketSuite
from ._version import __version__

#: Every loop-level suite: what an assembled loop (or ``LoopFromBackend``) runs.
LOOP_SUITES: tuple[type[LoopSuite], ...] = (
    SchedulingSuite,
    ReaderWriterSuite,
    SocketSuite,
    SignalSuite,
    LoopResolverSuite,
)

__all__ = [
    "BACKENDS_ENTRY_POINT_GROUP",
    "DEFAULT_TIMEOUT",
    "GETADDRINFO_CASES",
    "GETNAMEINFO_CASES",
    "GUARD_TEST_NAME",
    "LOOP_SUITES",
    "STDLIB_NAME",
    "BackendHost",
    "BackendInfo",
    "BackendSuite",
    "LoopFactory",
    "LoopFromBackend",
    "LoopResolverSuite",
    "LoopSuite",
    "ReaderWriterSuite",
    "ResolverSuite",
    "SchedulingSuite",
    "SignalSuite",
    "SocketSuite",
    "StandardSuite",
    "StreamBackendSuite",
    "__version__",
    "bind_loop_suites",
    "discover_backends",
    "loop_factories",
    "new_stdlib_loop",
    "override_standard_test",
    "silent_overrides",
]
