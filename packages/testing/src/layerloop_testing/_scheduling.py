"""Scheduling conformance: callbacks, timers, run/stop/close, errors, threads, contexts."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import logging
import sys
import threading
import time
import unittest
from collections.abc import AsyncGenerator
from typing import Any

from ._base import LoopSuite

__all__ = ["SchedulingSuite"]

_var: contextvars.ContextVar[str] = contextvars.ContextVar("layerloop_testing_var", default="unset")

#: Slack for timer assertions: a loop may run a timer up to its clock resolution early
#: (CPython's does), and a loaded machine may run it late.
_EARLY = 0.01
_LATE = 2.0


class _Boom(Exception):
    pass


class SchedulingSuite(LoopSuite):
    """Everything a loop schedules without I/O.

    Covers ``call_soon`` (order, arguments, cancellation), ``call_later``/``call_at``
    (timing, ordering, handles), ``time()``, ``run_forever``/``run_until_complete``/
    ``stop``/``close`` rules, the exception handler API, ``call_soon_threadsafe``
    wakeups, ``contextvars`` propagation, task factories and eager tasks (3.12+),
    executors and async generator shutdown.
    """

    # -- call_soon -----------------------------------------------------------------------

    def test_call_soon_runs_callbacks_in_fifo_order(self) -> None:
        order: list[int] = []
        for i in range(20):
            self.loop.call_soon(order.append, i)
        self.run_briefly()
        self.assertEqual(order, list(range(20)))

    def test_call_soon_returns_an_asyncio_handle(self) -> None:
        seen: list[tuple[Any, ...]] = []
        handle = self.loop.call_soon(lambda *args: seen.append(args), 1, "two")
        self.assertIsInstance(handle, asyncio.Handle)
        self.assertFalse(handle.cancelled())
        self.run_briefly()
        self.assertEqual(seen, [(1, "two")])

    def test_cancelled_handle_does_not_run(self) -> None:
        ran: list[str] = []
        handle = self.loop.call_soon(ran.append, "cancelled")
        self.loop.call_soon(ran.append, "kept")
        handle.cancel()
        self.assertTrue(handle.cancelled())
        self.run_briefly()
        self.assertEqual(ran, ["kept"])

    def test_callback_scheduled_by_callback_runs_in_next_iteration(self) -> None:
        order: list[str] = []

        def first() -> None:
            order.append("first")
            self.loop.call_soon(order.append, "child")

        self.loop.call_soon(first)
        self.loop.call_soon(order.append, "second")
        self.run_briefly(2)
        self.assertEqual(order, ["first", "second", "child"])

    def test_debug_mode_rejects_non_callables_and_coroutine_functions(self) -> None:
        async def coro_func() -> None:
            pass

        self.loop.set_debug(True)
        self.assertTrue(self.loop.get_debug())
        with self.assertRaises(TypeError):
            self.loop.call_soon(None)  # type: ignore[arg-type]
        with self.assertRaises(TypeError):
            self.loop.call_later(0.1, coro_func)
        with self.assertRaises(TypeError):
            self.loop.call_at(self.loop.time(), 42)  # type: ignore[arg-type]
        self.loop.set_debug(False)
        self.assertFalse(self.loop.get_debug())

    # -- timers --------------------------------------------------------------------------

    def test_time_is_monotonic_and_follows_real_time(self) -> None:
        samples = [self.loop.time() for _ in range(1000)]
        self.assertEqual(samples, sorted(samples))
        start = self.loop.time()
        time.sleep(0.05)
        self.assertGreaterEqual(self.loop.time() - start, 0.05 - _EARLY)

    def test_call_later_runs_after_its_delay(self) -> None:
        delay = 0.05
        fired: list[float] = []
        start = self.loop.time()
        handle = self.loop.call_later(delay, lambda: fired.append(self.loop.time()))
        self.assertIsInstance(handle, asyncio.TimerHandle)
        self.run_until(lambda: bool(fired))
        self.assertGreaterEqual(fired[0] - start, delay - _EARLY)
        self.assertLess(fired[0] - start, delay + _LATE)

    def test_call_at_runs_at_its_deadline(self) -> None:
        when = self.loop.time() + 0.05
        fired: list[float] = []
        handle = self.loop.call_at(when, lambda: fired.append(self.loop.time()))
        self.assertEqual(handle.when(), when)
        self.run_until(lambda: bool(fired))
        self.assertGreaterEqual(fired[0], when - _EARLY)

    def test_timers_run_in_deadline_order(self) -> None:
        order: list[int] = []
        now = self.loop.time()
        for i in (5, 1, 4, 2, 3):
            self.loop.call_at(now + i * 0.01, order.append, i)
        self.run_until(lambda: len(order) == 5)
        self.assertEqual(order, [1, 2, 3, 4, 5])

    def test_call_later_handle_when_and_cancel(self) -> None:
        ran: list[str] = []
        before = self.loop.time()
        handle = self.loop.call_later(0.02, ran.append, "cancelled")
        after = self.loop.time()
        self.assertGreaterEqual(handle.when(), before + 0.02)
        self.assertLessEqual(handle.when(), after + 0.02)
        self.loop.call_later(0.04, ran.append, "kept")
        handle.cancel()
        self.assertTrue(handle.cancelled())
        self.run_until(lambda: bool(ran))
        self.run_coro(asyncio.sleep(0.03))
        self.assertEqual(ran, ["kept"])

    def test_non_positive_delays_run_promptly(self) -> None:
        order: list[str] = []
        self.loop.call_later(-1, order.append, "negative")
        self.loop.call_later(0, order.append, "zero")
        self.loop.call_soon(order.append, "soon")
        self.run_until(lambda: len(order) == 3, timeout=1.0)
        self.assertEqual(sorted(order), ["negative", "soon", "zero"])

    def test_call_later_rejects_none_delay(self) -> None:
        with self.assertRaises(TypeError):
            self.loop.call_later(None, lambda: None)  # type: ignore[arg-type]

    def test_many_cancelled_timers_do_not_fire(self) -> None:
        fired: list[int] = []
        handles = [self.loop.call_later(0.001 * (i % 10), fired.append, i) for i in range(500)]
        for handle in handles[::2]:
            handle.cancel()
        self.run_coro(asyncio.sleep(0.05))
        self.assertEqual(sorted(fired), list(range(1, 500, 2)))

    def test_asyncio_sleep_waits_on_the_loop_clock(self) -> None:
        start = self.loop.time()
        result = self.run_coro(asyncio.sleep(0.03, result="slept"))
        self.assertEqual(result, "slept")
        self.assertGreaterEqual(self.loop.time() - start, 0.03 - _EARLY)

    # -- run / stop ----------------------------------------------------------------------

    def test_stop_finishes_the_current_batch_then_returns(self) -> None:
        order: list[str] = []

        def late() -> None:
            order.append("late")

        def second() -> None:
            order.append("second")
            self.loop.call_soon(late)

        self.loop.call_soon(order.append, "first")
        self.loop.call_soon(self.loop.stop)
        self.loop.call_soon(second)
        self.loop.run_forever()
        self.assertEqual(order, ["first", "second"])
        self.assertFalse(self.loop.is_running())
        # What the batch scheduled waits for the next run.
        self.loop.call_soon(self.loop.stop)
        self.loop.run_forever()
        self.assertEqual(order, ["first", "second", "late"])

    def test_stop_before_run_forever_runs_one_iteration(self) -> None:
        order: list[str] = []

        def first() -> None:
            order.append("first")
            self.loop.call_soon(order.append, "next")

        self.loop.call_soon(first)
        self.loop.stop()
        self.loop.run_forever()
        self.assertEqual(order, ["first"])
        self.loop.stop()
        self.loop.run_forever()
        self.assertEqual(order, ["first", "next"])

    def test_stop_does_not_wait_for_pending_timers(self) -> None:
        fired: list[bool] = []
        self.loop.call_later(30, fired.append, True)
        self.loop.call_soon(self.loop.stop)
        started = time.monotonic()
        self.loop.run_forever()
        self.assertLess(time.monotonic() - started, _LATE)
        self.assertEqual(fired, [])

    def test_is_running_inside_and_outside(self) -> None:
        seen: list[bool] = []
        self.assertFalse(self.loop.is_running())
        self.loop.call_soon(lambda: seen.append(self.loop.is_running()))
        self.run_briefly()
        self.assertEqual(seen, [True])
        self.assertFalse(self.loop.is_running())

    def test_get_running_loop_inside_callbacks_and_tasks(self) -> None:
        seen: list[asyncio.AbstractEventLoop] = []
        self.loop.call_soon(lambda: seen.append(asyncio.get_running_loop()))

        async def in_task() -> None:
            seen.append(asyncio.get_running_loop())

        self.run_coro(in_task())
        self.assertEqual(seen, [self.loop, self.loop])
        with self.assertRaises(RuntimeError):
            asyncio.get_running_loop()

    def test_run_until_complete_returns_the_result(self) -> None:
        async def answer() -> int:
            await asyncio.sleep(0)
            return 42

        self.assertEqual(self.loop.run_until_complete(answer()), 42)
        fut = self.loop.create_future()
        self.loop.call_soon(fut.set_result, "done")
        self.assertEqual(self.loop.run_until_complete(fut), "done")

    def test_run_until_complete_raises_the_exception(self) -> None:
        async def fail() -> None:
            await asyncio.sleep(0)
            raise _Boom("from the coroutine")

        with self.assertRaisesRegex(_Boom, "from the coroutine"):
            self.loop.run_until_complete(fail())

    def test_run_until_complete_rejects_a_future_of_another_loop(self) -> None:
        other = self.new_loop()
        try:
            fut = other.create_future()
            with self.assertRaises(ValueError):
                self.loop.run_until_complete(fut)
        finally:
            other.close()

    def test_run_until_complete_when_stopped_early_raises(self) -> None:
        async def stop_and_hang() -> None:
            self.loop.stop()
            await asyncio.sleep(30)

        task = self.loop.create_task(stop_and_hang())
        with self.assertRaisesRegex(RuntimeError, "stopped before"):
            self.loop.run_until_complete(task)
        task.cancel()
        with self.assertRaises(asyncio.CancelledError):
            self.loop.run_until_complete(task)

    def test_running_the_loop_from_inside_itself_raises(self) -> None:
        errors: list[BaseException] = []

        async def nested() -> None:
            coro = asyncio.sleep(0)
            try:
                self.loop.run_until_complete(coro)
            except RuntimeError as exc:
                errors.append(exc)
            finally:
                coro.close()
            try:
                self.loop.run_forever()
            except RuntimeError as exc:
                errors.append(exc)

        self.run_coro(nested())
        self.assertEqual(len(errors), 2)

    def test_running_a_second_loop_inside_a_running_loop_raises(self) -> None:
        other = self.new_loop()
        raised: list[bool] = []

        async def nested() -> None:
            coro = asyncio.sleep(0)
            try:
                other.run_until_complete(coro)
            except RuntimeError:
                raised.append(True)
            finally:
                coro.close()

        try:
            self.run_coro(nested())
        finally:
            other.close()
        self.assertEqual(raised, [True])

    def test_keyboard_interrupt_in_a_callback_propagates_out_of_run(self) -> None:
        def interrupt() -> None:
            raise KeyboardInterrupt

        self.loop.call_soon(interrupt)
        with self.assertRaises(KeyboardInterrupt):
            self.loop.run_forever()
        self.assertFalse(self.loop.is_running())
        # The loop is still usable afterwards.
        self.run_briefly()

    # -- close ---------------------------------------------------------------------------

    def test_close_is_idempotent(self) -> None:
        self.assertFalse(self.loop.is_closed())
        self.loop.close()
        self.assertTrue(self.loop.is_closed())
        self.loop.close()
        self.assertTrue(self.loop.is_closed())

    def test_close_while_running_raises(self) -> None:
        async def close_me() -> None:
            self.loop.close()

        with self.assertRaises(RuntimeError):
            self.run_coro(close_me())
        self.assertFalse(self.loop.is_closed())

    def test_closed_loop_refuses_work(self) -> None:
        async def coro() -> None:
            pass

        self.loop.close()
        c = coro()
        self.addCleanup(c.close)
        with self.assertRaises(RuntimeError):
            self.loop.run_forever()
        with self.assertRaises(RuntimeError):
            self.loop.call_soon(lambda: None)
        with self.assertRaises(RuntimeError):
            self.loop.call_soon_threadsafe(lambda: None)
        with self.assertRaises(RuntimeError):
            self.loop.call_later(1, lambda: None)
        with self.assertRaises(RuntimeError):
            self.loop.call_at(self.loop.time() + 1, lambda: None)
        with self.assertRaises(RuntimeError):
            self.loop.create_task(c)
        with self.assertRaises(RuntimeError):
            self.loop.run_until_complete(c)

    # -- exception handler ---------------------------------------------------------------

    def test_callback_exception_goes_to_the_exception_handler(self) -> None:
        def fail() -> None:
            raise _Boom("callback failed")

        after: list[bool] = []
        with self.expect_exception_reports() as reports:
            handle = self.loop.call_soon(fail)
            self.loop.call_soon(after.append, True)
            self.run_briefly()
        self.assertEqual(after, [True])
        self.assertEqual(len(reports), 1)
        context = reports[0]
        self.assertIsInstance(context["exception"], _Boom)
        self.assertIsInstance(context["message"], str)
        self.assertIs(context["handle"], handle)

    def test_exception_handler_get_set_and_validation(self) -> None:
        def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
            pass

        self.loop.set_exception_handler(handler)
        self.assertIs(self.loop.get_exception_handler(), handler)
        self.loop.set_exception_handler(None)
        self.assertIsNone(self.loop.get_exception_handler())
        with self.assertRaises(TypeError):
            self.loop.set_exception_handler("not callable")  # type: ignore[arg-type]

    def test_default_exception_handler_logs_to_the_asyncio_logger(self) -> None:
        self.loop.set_exception_handler(None)
        with self.assertLogs("asyncio", logging.ERROR) as logs:
            self.loop.call_exception_handler(
                {"message": "custom failure", "exception": _Boom("detail")}
            )
        self.assertIn("custom failure", logs.output[0])
        self.assertIn("_Boom", "\n".join(logs.output))

    def test_failing_exception_handler_is_contained(self) -> None:
        def broken(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
            raise _Boom("handler is broken")

        def fail() -> None:
            raise ValueError("callback failed")

        self.loop.set_exception_handler(broken)
        after: list[bool] = []
        with self.assertLogs("asyncio", logging.ERROR) as logs:
            self.loop.call_soon(fail)
            self.loop.call_soon(after.append, True)
            self.run_briefly()
        self.assertEqual(after, [True])
        self.assertIn("handler is broken", "\n".join(logs.output))

    def test_unretrieved_task_exception_is_reported(self) -> None:
        async def fail() -> None:
            raise _Boom("never retrieved")

        with self.expect_exception_reports() as reports:
            task = self.loop.create_task(fail())
            self.run_briefly(2)
            self.assertTrue(task.done())
            del task
            gc.collect()
        self.assertEqual(len(reports), 1)
        self.assertIsInstance(reports[0]["exception"], _Boom)

    # -- threads -------------------------------------------------------------------------

    def test_call_soon_threadsafe_wakes_a_sleeping_loop(self) -> None:
        def later() -> None:
            time.sleep(0.05)
            self.loop.call_soon_threadsafe(self.loop.stop)

        thread = threading.Thread(target=later)
        started = time.monotonic()
        thread.start()
        try:
            self.loop.run_forever()  # nothing scheduled: only the wakeup ends it
        finally:
            thread.join()
        self.assertLess(time.monotonic() - started, _LATE)

    def test_call_soon_threadsafe_from_many_threads_loses_nothing(self) -> None:
        per_thread, threads = 300, 4
        received: list[int] = []
        done = threading.Barrier(threads + 1)

        def producer(base: int) -> None:
            for i in range(per_thread):
                handle = self.loop.call_soon_threadsafe(received.append, base + i)
                assert isinstance(handle, asyncio.Handle)
            done.wait()

        workers = [
            threading.Thread(target=producer, args=(n * per_thread,)) for n in range(threads)
        ]
        for worker in workers:
            worker.start()

        async def wait() -> None:
            await self.loop.run_in_executor(None, done.wait)
            while len(received) < per_thread * threads:
                await asyncio.sleep(0.001)

        try:
            self.run_coro(wait())
        finally:
            for worker in workers:
                worker.join()
        self.assertEqual(sorted(received), list(range(per_thread * threads)))
        # Each producer's callbacks run in the order it scheduled them.
        for n in range(threads):
            mine = [v for v in received if n * per_thread <= v < (n + 1) * per_thread]
            self.assertEqual(mine, sorted(mine))

    def test_call_soon_threadsafe_before_run_is_kept(self) -> None:
        ran: list[bool] = []
        thread = threading.Thread(target=lambda: self.loop.call_soon_threadsafe(ran.append, True))
        thread.start()
        thread.join()
        self.run_briefly()
        self.assertEqual(ran, [True])

    def test_debug_mode_detects_call_soon_from_another_thread(self) -> None:
        self.loop.set_debug(True)
        errors: list[BaseException] = []

        def misuse() -> None:
            try:
                self.loop.call_soon(lambda: None)
            except RuntimeError as exc:
                errors.append(exc)

        async def main() -> None:
            await self.loop.run_in_executor(None, misuse)

        # Slow-callback reports are part of debug mode; this test is about threads only.
        self.loop.slow_callback_duration = 60.0
        self.run_coro(main())
        self.assertEqual(len(errors), 1)

    def test_run_in_executor_returns_the_result(self) -> None:
        def work(a: int, b: int) -> tuple[int, str]:
            return a + b, threading.current_thread().name

        result, name = self.run_coro(self.loop.run_in_executor(None, work, 2, 3))
        self.assertEqual(result, 5)
        self.assertNotEqual(name, threading.current_thread().name)

    def test_run_in_executor_propagates_exceptions(self) -> None:
        def fail() -> None:
            raise _Boom("in a thread")

        with self.assertRaisesRegex(_Boom, "in a thread"):
            self.run_coro(self.loop.run_in_executor(None, fail))

    # -- contexts ------------------------------------------------------------------------

    def test_callbacks_run_in_the_given_context(self) -> None:
        seen: list[str] = []
        ctx = contextvars.copy_context()
        ctx.run(_var.set, "in ctx")
        self.loop.call_soon(lambda: seen.append(_var.get()), context=ctx)
        self.loop.call_later(0.001, lambda: seen.append(_var.get()), context=ctx)
        self.loop.call_at(self.loop.time(), lambda: seen.append(_var.get()), context=ctx)
        self.loop.call_soon_threadsafe(lambda: seen.append(_var.get()), context=ctx)
        self.run_until(lambda: len(seen) == 4)
        self.assertEqual(seen, ["in ctx"] * 4)

    def test_callbacks_run_in_a_copy_of_the_current_context(self) -> None:
        seen: list[str] = []

        def change() -> None:
            seen.append(_var.get())
            _var.set("changed in callback")

        token = _var.set("scheduled")
        try:
            self.loop.call_soon(change)
            self.loop.call_soon(lambda: seen.append(_var.get()))
        finally:
            _var.reset(token)
        self.run_briefly()
        self.assertEqual(seen, ["scheduled", "scheduled"])
        self.assertEqual(_var.get(), "unset")

    @unittest.skipIf(
        sys.version_info < (3, 12), "the handler runs in the handle's context since Python 3.12"
    )
    def test_exception_handler_runs_in_the_handle_context(self) -> None:
        seen: list[str] = []

        def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
            seen.append(_var.get())

        def fail() -> None:
            raise _Boom

        ctx = contextvars.copy_context()
        ctx.run(_var.set, "handle context")
        self.loop.set_exception_handler(handler)
        self.loop.call_soon(fail, context=ctx)
        self.run_briefly()
        self.assertEqual(seen, ["handle context"])

    @unittest.skipIf(sys.version_info < (3, 12), "Handle.get_context() is new in Python 3.12")
    def test_handle_get_context(self) -> None:
        ctx = contextvars.copy_context()
        handle = self.loop.call_soon(lambda: None, context=ctx)
        timer = self.loop.call_later(1, lambda: None, context=ctx)
        if sys.version_info >= (3, 12):  # (for the type checker: the test skips before)
            self.assertIs(handle.get_context(), ctx)
            self.assertIs(timer.get_context(), ctx)
        timer.cancel()

    def test_tasks_copy_or_use_the_given_context(self) -> None:
        async def read() -> str:
            return _var.get()

        token = _var.set("outer")
        try:
            copied = self.loop.create_task(read())
        finally:
            _var.reset(token)
        ctx = contextvars.copy_context()
        ctx.run(_var.set, "explicit")
        explicit = self.loop.create_task(read(), context=ctx)
        self.assertEqual(self.run_coro(copied), "outer")
        self.assertEqual(self.run_coro(explicit), "explicit")

    # -- tasks and futures ---------------------------------------------------------------

    def test_create_future_is_bound_to_the_loop(self) -> None:
        fut = self.loop.create_future()
        self.assertIsInstance(fut, asyncio.Future)
        self.assertIs(fut.get_loop(), self.loop)
        self.loop.call_soon(fut.set_result, 7)
        self.assertEqual(self.run_coro(fut), 7)

    def test_create_task_returns_a_named_asyncio_task(self) -> None:
        async def work() -> str:
            await asyncio.sleep(0)
            return "done"

        task = self.loop.create_task(work(), name="worker")
        self.assertIsInstance(task, asyncio.Task)
        self.assertIs(task.get_loop(), self.loop)
        self.assertEqual(task.get_name(), "worker")
        self.assertEqual(self.run_coro(task), "done")

    def test_task_factory_is_used_and_can_be_reset(self) -> None:
        made: list[asyncio.Task[Any]] = []

        def factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
            task: asyncio.Task[Any] = asyncio.Task(coro, loop=loop, **kwargs)
            made.append(task)
            return task

        async def work() -> int:
            return 1

        self.assertIsNone(self.loop.get_task_factory())
        self.loop.set_task_factory(factory)
        self.assertIs(self.loop.get_task_factory(), factory)
        task = self.loop.create_task(work(), name="through factory")
        self.assertEqual(made, [task])  # before run_coro, whose own tasks use it too
        self.assertEqual(task.get_name(), "through factory")
        self.assertEqual(self.run_coro(task), 1)
        self.loop.set_task_factory(None)
        self.assertIsNone(self.loop.get_task_factory())
        made.clear()
        self.run_coro(self.loop.create_task(work()))
        self.assertEqual(made, [])
        with self.assertRaises(TypeError):
            self.loop.set_task_factory(42)  # type: ignore[arg-type]

    @unittest.skipIf(sys.version_info < (3, 12), "asyncio.eager_task_factory is new in Python 3.12")
    def test_eager_task_factory_starts_tasks_synchronously(self) -> None:
        steps: list[str] = []

        async def quick() -> str:
            steps.append("quick ran")
            return "quick"

        async def slow() -> str:
            steps.append("slow started")
            await asyncio.sleep(0)
            steps.append("slow finished")
            return "slow"

        async def main() -> None:
            if sys.version_info >= (3, 12):  # (for the type checker: the test skips before)
                self.loop.set_task_factory(asyncio.eager_task_factory)
            t1 = self.loop.create_task(quick())
            self.assertTrue(t1.done())
            self.assertEqual(t1.result(), "quick")
            t2 = self.loop.create_task(slow())
            self.assertEqual(steps, ["quick ran", "slow started"])
            self.assertFalse(t2.done())
            self.assertEqual(await t2, "slow")

        self.run_coro(main())
        self.assertEqual(steps, ["quick ran", "slow started", "slow finished"])

    def test_shutdown_asyncgens_finalizes_suspended_generators(self) -> None:
        finalized: list[bool] = []

        async def gen() -> AsyncGenerator[int, None]:
            try:
                yield 1
                yield 2
            finally:
                finalized.append(True)

        async def start() -> AsyncGenerator[int, None]:
            g = gen()
            await g.__anext__()
            return g

        g = self.run_coro(start())
        self.assertEqual(finalized, [])
        self.run_coro(self.loop.shutdown_asyncgens())
        self.assertEqual(finalized, [True])
        del g

    def test_shutdown_default_executor_then_close(self) -> None:
        self.assertEqual(self.run_coro(self.loop.run_in_executor(None, int, "5")), 5)
        self.run_coro(self.loop.shutdown_default_executor())
        self.loop.close()
        self.assertTrue(self.loop.is_closed())
