"""Signal handler conformance: ``add_signal_handler``/``remove_signal_handler``."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
import time
import unittest

from ._base import LoopSuite

__all__ = ["SignalSuite"]

_SIGKILL: int = getattr(signal, "SIGKILL", 9)
_SIG = getattr(signal, "SIGUSR1", None)
_SIG2 = getattr(signal, "SIGUSR2", None)


@unittest.skipIf(sys.platform == "win32" or _SIG is None, "POSIX signals only")
class SignalSuite(LoopSuite):
    """Unix signal handlers.

    Handlers run as loop callbacks (in the loop's thread, with their arguments); a
    signal arriving while the loop sleeps wakes it; ``remove_signal_handler`` reports
    whether a handler was installed and restores the default disposition; bad
    arguments raise the documented ``TypeError``/``ValueError``/``RuntimeError``;
    closing the loop removes its handlers.  Must run in the main thread.
    """

    def setUp(self) -> None:
        super().setUp()
        for sig in (_SIG, _SIG2, signal.SIGINT):
            if sig is not None:
                self.addCleanup(signal.signal, sig, signal.getsignal(sig))

    def test_handler_runs_as_a_loop_callback_with_its_arguments(self) -> None:
        assert _SIG is not None
        calls: list[tuple[str, int, bool]] = []

        def handler(tag: str, number: int) -> None:
            calls.append((tag, number, self.loop.is_running()))

        self.loop.add_signal_handler(_SIG, handler, "tag", 7)
        os.kill(os.getpid(), _SIG)
        self.run_until(lambda: bool(calls))
        self.assertEqual(calls, [("tag", 7, True)])

    def test_signal_wakes_a_sleeping_loop(self) -> None:
        assert _SIG is not None
        self.loop.add_signal_handler(_SIG, self.loop.stop)

        def later() -> None:
            time.sleep(0.05)
            os.kill(os.getpid(), _SIG)

        thread = threading.Thread(target=later)
        started = time.monotonic()
        thread.start()
        try:
            self.loop.run_forever()  # nothing else scheduled: only the signal ends it
        finally:
            thread.join()
        self.assertLess(time.monotonic() - started, 2.0)

    def test_remove_signal_handler_reports_and_restores_the_default(self) -> None:
        assert _SIG is not None
        self.assertFalse(self.loop.remove_signal_handler(_SIG))
        self.loop.add_signal_handler(_SIG, lambda: None)
        self.assertNotEqual(signal.getsignal(_SIG), signal.SIG_DFL)
        self.assertTrue(self.loop.remove_signal_handler(_SIG))
        self.assertEqual(signal.getsignal(_SIG), signal.SIG_DFL)
        self.assertFalse(self.loop.remove_signal_handler(_SIG))

    def test_removing_the_sigint_handler_restores_keyboard_interrupt(self) -> None:
        self.loop.add_signal_handler(signal.SIGINT, lambda: None)
        self.assertTrue(self.loop.remove_signal_handler(signal.SIGINT))
        self.assertIs(signal.getsignal(signal.SIGINT), signal.default_int_handler)

    def test_a_second_handler_replaces_the_first(self) -> None:
        assert _SIG is not None
        calls: list[str] = []
        self.loop.add_signal_handler(_SIG, calls.append, "first")
        self.loop.add_signal_handler(_SIG, calls.append, "second")
        os.kill(os.getpid(), _SIG)
        self.run_until(lambda: bool(calls))
        self.run_briefly(2)
        self.assertEqual(calls, ["second"])

    def test_distinct_signals_reach_distinct_handlers(self) -> None:
        assert _SIG is not None and _SIG2 is not None
        calls: list[str] = []
        self.loop.add_signal_handler(_SIG, calls.append, "usr1")
        self.loop.add_signal_handler(_SIG2, calls.append, "usr2")
        os.kill(os.getpid(), _SIG2)
        os.kill(os.getpid(), _SIG)
        self.run_until(lambda: len(calls) == 2)
        self.assertEqual(sorted(calls), ["usr1", "usr2"])

    def test_invalid_arguments_raise(self) -> None:
        async def coroutine_function() -> None:
            pass

        with self.assertRaises(TypeError):
            self.loop.add_signal_handler("SIGUSR1", lambda: None)  # type: ignore[arg-type]
        with self.assertRaises(ValueError):
            self.loop.add_signal_handler(signal.NSIG + 1, lambda: None)
        with self.assertRaises(TypeError):
            self.loop.add_signal_handler(signal.SIGINT, coroutine_function)
        with self.assertRaises(RuntimeError):
            self.loop.add_signal_handler(_SIGKILL, lambda: None)
        with self.assertRaises(TypeError):
            self.loop.remove_signal_handler("SIGUSR1")  # type: ignore[arg-type]
        with self.assertRaises(ValueError):
            self.loop.remove_signal_handler(signal.NSIG + 1)

    def test_only_the_main_thread_may_add_handlers(self) -> None:
        assert _SIG is not None
        errors: list[BaseException] = []

        def from_thread() -> None:
            try:
                self.loop.add_signal_handler(_SIG, lambda: None)
            except BaseException as exc:
                errors.append(exc)

        thread = threading.Thread(target=from_thread)
        thread.start()
        thread.join()
        self.assertEqual(len(errors), 1)
        self.assertIsInstance(errors[0], RuntimeError)

    def test_close_removes_the_handlers(self) -> None:
        assert _SIG is not None
        self.loop.add_signal_handler(_SIG, lambda: None)
        self.loop.close()
        self.assertEqual(signal.getsignal(_SIG), signal.SIG_DFL)
        with self.assertRaises(RuntimeError):
            self.loop.add_signal_handler(_SIG, lambda: None)

    def test_handler_exception_goes_to_the_exception_handler(self) -> None:
        assert _SIG is not None

        def broken() -> None:
            raise ZeroDivisionError

        with self.expect_exception_reports() as reports:
            self.loop.add_signal_handler(_SIG, broken)
            os.kill(os.getpid(), _SIG)
            self.run_until(lambda: bool(self.exception_contexts))
        self.assertIsInstance(reports[0]["exception"], ZeroDivisionError)

    def test_handlers_see_a_running_loop(self) -> None:
        assert _SIG is not None
        seen: list[asyncio.AbstractEventLoop] = []
        self.loop.add_signal_handler(_SIG, lambda: seen.append(asyncio.get_running_loop()))
        os.kill(os.getpid(), _SIG)
        self.run_until(lambda: bool(seen))
        self.assertIs(seen[0], self.loop)
