"""The loop-factory hook and the helpers every loop-level suite uses."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

from ._guard import StandardSuite

__all__ = ["DEFAULT_TIMEOUT", "LoopSuite"]

_T = TypeVar("_T")

#: Upper bound for any single ``run_coro()`` of a suite: a backend that hangs fails instead.
DEFAULT_TIMEOUT = 10.0


class LoopSuite(StandardSuite):
    """Base of the loop-level suites.

    Subclass a suite together with ``unittest.TestCase`` and implement :meth:`new_loop`::

        class TestMyLoop(layerloop_testing.SchedulingSuite, unittest.TestCase):
            def new_loop(self) -> asyncio.AbstractEventLoop:
                return my_package.new_event_loop()

    ``setUp`` creates ``self.loop``; it is closed after the test (its default executor
    shut down first).  Every call of the loop's exception handler during a test is
    recorded in ``self.exception_contexts``; a test that did not expect any fails in
    ``tearDown`` when there are some, because a loop that reports spurious errors
    ("Task exception was never retrieved", a crashing callback) is not conformant.
    Tests that expect reports clear the list.
    """

    loop: asyncio.AbstractEventLoop
    exception_contexts: list[dict[str, Any]]

    def new_loop(self) -> asyncio.AbstractEventLoop:
        """Return a new, not running, not closed event loop: the loop under test."""
        raise NotImplementedError(f"{type(self).__qualname__} must implement new_loop()")

    def setUp(self) -> None:
        super().setUp()
        # No loop is current while a test runs, as CPython's own suite does: a test
        # that relies on an implicitly created loop cannot pass by accident.
        asyncio.set_event_loop(None)
        self.loop = self.new_loop()
        self.addCleanup(self._close_loop, self.loop)
        self.exception_contexts = []
        self.loop.set_exception_handler(self._record_exception)

    def tearDown(self) -> None:
        contexts, self.exception_contexts = self.exception_contexts, []
        super().tearDown()
        if contexts:
            self.fail(f"unexpected calls of the loop's exception handler: {contexts!r}")

    def _record_exception(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        self.exception_contexts.append(context)

    @staticmethod
    def _close_loop(loop: asyncio.AbstractEventLoop) -> None:
        if loop.is_running():  # pragma: no cover - a test left it running: say so
            raise AssertionError("the loop under test is still running after the test")
        if not loop.is_closed():
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()
        asyncio.set_event_loop(None)

    # -- helpers -------------------------------------------------------------------------

    def run_coro(self, aw: Awaitable[_T], timeout: float = DEFAULT_TIMEOUT) -> _T:
        """Run *aw* to completion on the loop under test, failing after *timeout*."""

        async def bounded() -> _T:
            return await asyncio.wait_for(aw, timeout)

        return self.loop.run_until_complete(bounded())

    def run_briefly(self, iterations: int = 1) -> None:
        """Let the loop run *iterations* rounds of already-ready callbacks."""

        async def spin() -> None:
            for _ in range(iterations):
                await asyncio.sleep(0)

        self.loop.run_until_complete(spin())

    def run_until(self, predicate: Callable[[], bool], timeout: float = DEFAULT_TIMEOUT) -> None:
        """Run the loop until *predicate()* is true, failing after *timeout*."""

        async def wait() -> None:
            while not predicate():
                await asyncio.sleep(0.001)

        self.run_coro(wait(), timeout)

    def socketpair(self, blocking: bool = False) -> tuple[socket.socket, socket.socket]:
        """A connected stream socket pair, closed after the test."""
        a, b = socket.socketpair()
        self.addCleanup(a.close)
        self.addCleanup(b.close)
        a.setblocking(blocking)
        b.setblocking(blocking)
        return a, b

    @contextlib.contextmanager
    def expect_exception_reports(self) -> Iterator[list[dict[str, Any]]]:
        """Collect the exception-handler calls made inside the block.

        The reports are returned to the test instead of failing it in ``tearDown``.
        """
        start = len(self.exception_contexts)
        seen: list[dict[str, Any]] = []
        try:
            yield seen
        finally:
            seen.extend(self.exception_contexts[start:])
            del self.exception_contexts[start:]
