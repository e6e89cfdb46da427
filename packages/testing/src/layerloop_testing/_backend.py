"""Backend conformance: an :class:`~layerloop_core.abc.IOBackend` driven without a loop.

The suite attaches the backend to a minimal host (:class:`BackendHost`) whose ready
queue is a plain list, then calls :meth:`~layerloop_core.abc.IOBackend.poll` itself.
That isolates the backend's half of the contract: timeouts honoured (and never rounded
down into a busy loop), wakeups from other threads and before ``poll``, coalesced
wakeups, watch handles enqueued (the same objects, level-triggered, replaced and
cancelled as documented), ``close`` idempotent.  The loop-level suites then prove the
backend inside a real loop: combine them with :class:`LoopFromBackend`.
"""

from __future__ import annotations

import asyncio
import contextvars
import socket
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVarTuple

from layerloop_core.abc import IOBackend

from ._guard import StandardSuite

_Ts = TypeVarTuple("_Ts")

__all__ = ["BackendHost", "BackendSuite", "LoopFromBackend"]

#: A backend that returns this much sooner than asked was not honouring the timeout.
_TOLERANCE = 0.002
#: Anything slower than this is not "promptly".
_PROMPT = 1.0


class BackendHost(asyncio.AbstractEventLoop):
    """The loop services a backend may use, with a list for a ready queue.

    ``call_soon`` and the backend's *enqueue* both append to :attr:`ready`; exception
    reports land in :attr:`reports`.  Nothing is ever run: the suite inspects the
    handles.  Every other loop method raises ``NotImplementedError``.
    """

    def __init__(self) -> None:
        self.ready: list[asyncio.Handle] = []
        self.reports: list[dict[str, Any]] = []

    def time(self) -> float:
        return time.monotonic()

    def get_debug(self) -> bool:
        return False

    def is_closed(self) -> bool:
        return False

    def is_running(self) -> bool:
        return False

    def call_soon(
        self,
        callback: Callable[[*_Ts], object],
        *args: *_Ts,
        context: contextvars.Context | None = None,
    ) -> asyncio.Handle:
        handle = asyncio.Handle(callback, args, self, context)
        self.ready.append(handle)
        return handle

    def call_exception_handler(self, context: dict[str, Any]) -> None:
        self.reports.append(context)

    def create_future(self) -> asyncio.Future[Any]:
        return asyncio.Future(loop=self)


def _noop() -> None:
    pass


class BackendSuite(StandardSuite):
    """Drive an :class:`IOBackend` directly.  Implement :meth:`new_backend`."""

    backend: IOBackend
    host: BackendHost

    def new_backend(self) -> IOBackend:
        """Return a new, unattached backend: the backend under test."""
        raise NotImplementedError(f"{type(self).__qualname__} must implement new_backend()")

    def setUp(self) -> None:
        super().setUp()
        # typeshed marks every AbstractEventLoop method abstract; at run time the class is
        # not an ABC, and the methods the host lacks raise NotImplementedError, as wanted.
        self.host = BackendHost()  # type: ignore[abstract]
        self.backend = self.new_backend()
        self.backend.attach(self.host, self.host.ready.append)
        self.addCleanup(self.backend.close)

    # -- helpers -------------------------------------------------------------------------

    def poll(self, timeout: float | None) -> tuple[list[asyncio.Handle], float]:
        """Poll once; return what was enqueued and how long the call took."""
        self.host.ready.clear()
        started = time.monotonic()
        self.backend.poll(timeout)
        elapsed = time.monotonic() - started
        ready = list(self.host.ready)
        self.host.ready.clear()
        return ready, elapsed

    def handle(self) -> asyncio.Handle:
        return asyncio.Handle(_noop, (), self.host)

    def socketpair(self) -> tuple[socket.socket, socket.socket]:
        a, b = socket.socketpair()
        self.addCleanup(a.close)
        self.addCleanup(b.close)
        a.setblocking(False)
        b.setblocking(False)
        return a, b

    # -- identity ------------------------------------------------------------------------

    def test_backend_satisfies_the_protocol(self) -> None:
        self.assertIsInstance(self.backend, IOBackend)
        self.assertIsInstance(self.backend.name, str)
        self.assertTrue(self.backend.name)
        self.assertIn(self.backend.kind, ("readiness", "completion"))

    # -- timeouts ------------------------------------------------------------------------

    def test_poll_zero_does_not_block(self) -> None:
        ready, elapsed = self.poll(0)
        self.assertEqual(ready, [])
        self.assertLess(elapsed, _PROMPT)

    def test_poll_timeout_is_honoured(self) -> None:
        for timeout in (0.01, 0.05):
            with self.subTest(timeout=timeout):
                ready, elapsed = self.poll(timeout)
                self.assertEqual(ready, [])
                self.assertGreaterEqual(elapsed, timeout - _TOLERANCE)
                self.assertLess(elapsed, timeout + _PROMPT)

    def test_sub_millisecond_timeouts_are_not_rounded_down(self) -> None:
        # A backend whose kernel call takes milliseconds must round up: rounding
        # 0.3 ms down to 0 makes the loop spin until the timer is due.
        timeout = 0.0003
        spins = 0
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.poll(timeout)
            spins += 1
        self.assertLessEqual(spins, 2)

    # -- wakeups -------------------------------------------------------------------------

    def test_wakeup_before_poll_makes_it_return(self) -> None:
        self.backend.wakeup()
        ready, elapsed = self.poll(5.0)
        self.assertLess(elapsed, _PROMPT)
        self.assertEqual(ready, [], "a wakeup must not enqueue handles")

    def test_wakeup_from_another_thread_interrupts_poll(self) -> None:
        def later() -> None:
            time.sleep(0.05)
            self.backend.wakeup()

        thread = threading.Thread(target=later)
        thread.start()
        try:
            ready, elapsed = self.poll(5.0)
        finally:
            thread.join()
        self.assertLess(elapsed, _PROMPT + 0.05)
        self.assertEqual(ready, [])

    def test_wakeup_interrupts_an_unbounded_poll(self) -> None:
        def later() -> None:
            time.sleep(0.05)
            self.backend.wakeup()

        # Safety net: if the wakeup is lost, data on this pair ends the poll instead
        # of hanging the test run; the test then fails on the elapsed time.
        net_r, net_w = self.socketpair()
        net = self.handle()
        self.backend.add_reader(net_r.fileno(), net)
        rescue = threading.Timer(5.0, net_w.send, (b"x",))
        thread = threading.Thread(target=later)
        rescue.start()
        thread.start()
        try:
            ready, elapsed = self.poll(None)
        finally:
            thread.join()
            rescue.cancel()
        self.assertLess(elapsed, _PROMPT + 0.05)
        self.assertEqual(ready, [])

    def test_wakeups_coalesce(self) -> None:
        for _ in range(100):
            self.backend.wakeup()
        _, elapsed = self.poll(5.0)
        self.assertLess(elapsed, _PROMPT)
        # Every pending wakeup was consumed by that one poll.
        _, elapsed = self.poll(0.05)
        self.assertGreaterEqual(elapsed, 0.05 - _TOLERANCE)

    def test_wakeups_from_many_threads(self) -> None:
        def hammer() -> None:
            for _ in range(500):
                self.backend.wakeup()

        threads = [threading.Thread(target=hammer) for _ in range(4)]
        for thread in threads:
            thread.start()
        while any(thread.is_alive() for thread in threads):
            self.poll(0.01)
        for thread in threads:
            thread.join()
        self.poll(0)
        _, elapsed = self.poll(0.05)
        self.assertGreaterEqual(elapsed, 0.05 - _TOLERANCE)

    # -- watches -------------------------------------------------------------------------

    def test_reader_watch_enqueues_its_handle_level_triggered(self) -> None:
        r, w = self.socketpair()
        handle = self.handle()
        self.backend.add_reader(r.fileno(), handle)
        self.assertEqual(self.poll(0)[0], [])
        w.send(b"data")
        ready, _ = self.poll(_PROMPT)
        self.assertEqual(len(ready), 1)
        self.assertIs(ready[0], handle)
        # Not drained: still readable, so enqueued again.
        self.assertIs(self.poll(_PROMPT)[0][0], handle)
        self.assertFalse(handle.cancelled())
        r.recv(100)
        self.assertEqual(self.poll(0)[0], [])

    def test_writer_watch_enqueues_its_handle(self) -> None:
        _, w = self.socketpair()
        handle = self.handle()
        self.backend.add_writer(w.fileno(), handle)
        ready, _ = self.poll(_PROMPT)
        self.assertEqual(len(ready), 1)
        self.assertIs(ready[0], handle)

    def test_reader_and_writer_on_one_fd(self) -> None:
        a, b = self.socketpair()
        reader, writer = self.handle(), self.handle()
        self.backend.add_reader(a.fileno(), reader)
        self.backend.add_writer(a.fileno(), writer)
        ready, _ = self.poll(_PROMPT)
        self.assertEqual(ready, [writer])
        b.send(b"x")
        ready, _ = self.poll(_PROMPT)
        self.assertEqual(len(ready), 2)
        self.assertEqual({id(h) for h in ready}, {id(reader), id(writer)})
        self.assertTrue(self.backend.remove_writer(a.fileno()))
        ready, _ = self.poll(_PROMPT)
        self.assertEqual(ready, [reader])
        self.assertTrue(self.backend.remove_reader(a.fileno()))
        self.assertEqual(self.poll(0)[0], [])

    def test_remove_reports_and_cancels(self) -> None:
        r, w = self.socketpair()
        reader, writer = self.handle(), self.handle()
        self.assertFalse(self.backend.remove_reader(r.fileno()))
        self.assertFalse(self.backend.remove_writer(w.fileno()))
        self.backend.add_reader(r.fileno(), reader)
        self.backend.add_writer(w.fileno(), writer)
        self.assertTrue(self.backend.remove_reader(r.fileno()))
        self.assertTrue(self.backend.remove_writer(w.fileno()))
        self.assertTrue(reader.cancelled())
        self.assertTrue(writer.cancelled())
        self.assertFalse(self.backend.remove_reader(r.fileno()))
        self.assertFalse(self.backend.remove_writer(w.fileno()))
        w.send(b"x")
        self.assertEqual(self.poll(0.01)[0], [])

    def test_a_new_watch_replaces_and_cancels_the_old_one(self) -> None:
        r, w = self.socketpair()
        old, new = self.handle(), self.handle()
        self.backend.add_reader(r.fileno(), old)
        self.backend.add_reader(r.fileno(), new)
        self.assertTrue(old.cancelled())
        self.assertFalse(new.cancelled())
        w.send(b"x")
        self.assertEqual(self.poll(_PROMPT)[0], [new])

    def test_end_of_stream_wakes_a_reader(self) -> None:
        r, w = self.socketpair()
        handle = self.handle()
        self.backend.add_reader(r.fileno(), handle)
        w.close()
        self.assertEqual(self.poll(_PROMPT)[0], [handle])

    def test_many_watches_report_exactly_the_ready_ones(self) -> None:
        pairs = [self.socketpair() for _ in range(100)]
        handles = [self.handle() for _ in pairs]
        for (r, _), handle in zip(pairs, handles, strict=True):
            self.backend.add_reader(r.fileno(), handle)
        for _, w in pairs[::3]:
            w.send(b"x")
        expected = {id(h) for h in handles[::3]}
        seen: set[int] = set()
        deadline = time.monotonic() + 5
        while seen != expected and time.monotonic() < deadline:
            ready, _ = self.poll(0.1)
            seen.update(id(h) for h in ready)
            self.assertLessEqual(seen, expected)
        self.assertEqual(seen, expected)

    def test_watch_on_an_fd_closed_while_watched_can_be_removed(self) -> None:
        r, w = socket.socketpair()
        self.addCleanup(w.close)
        handle = self.handle()
        fd = r.fileno()
        self.backend.add_reader(fd, handle)
        r.close()
        self.assertTrue(self.backend.remove_reader(fd))
        self.poll(0)

    # -- close ---------------------------------------------------------------------------

    def test_close_is_idempotent_and_drops_watches(self) -> None:
        r, w = self.socketpair()
        self.backend.add_reader(r.fileno(), self.handle())
        self.backend.add_writer(w.fileno(), self.handle())
        self.backend.close()
        self.backend.close()

    def test_no_exception_reports_during_normal_operation(self) -> None:
        r, w = self.socketpair()
        self.backend.add_reader(r.fileno(), self.handle())
        w.send(b"x")
        self.poll(_PROMPT)
        self.backend.wakeup()
        self.poll(_PROMPT)
        self.assertEqual(self.host.reports, [])


class LoopFromBackend:
    """Implements ``new_loop()`` as ``layerloop_core.EventLoop(self.new_backend())``.

    Put it first among the bases to run the loop-level suites on a backend::

        class TestMyBackendLoop(LoopFromBackend, SchedulingSuite, SocketSuite,
                                unittest.TestCase):
            def new_backend(self) -> IOBackend:
                return MyBackend()
    """

    def new_backend(self) -> IOBackend:
        raise NotImplementedError(f"{type(self).__qualname__} must implement new_backend()")

    def new_loop(self) -> asyncio.AbstractEventLoop:
        # Lazily: importing the kit (the pytest plugin does) must not import the scheduler.
        from layerloop_core import EventLoop  # noqa: PLC0415

        return EventLoop(self.new_backend())
