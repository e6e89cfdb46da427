"""run_forever, run_until_complete, stop, close and their errors."""

from __future__ import annotations

import asyncio
import concurrent.futures
import sys
import threading
import time
import weakref
from typing import Any

import pytest

from core_fakes import FakeBackend, LoopFactory, new_layerloop
from layerloop_core import EventLoop


def test_run_until_complete_coroutine_result(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> int:
        await asyncio.sleep(0)
        return 7

    assert loop.run_until_complete(main()) == 7
    assert not loop.is_running()


def test_run_until_complete_wraps_coroutine_in_task(loop: asyncio.AbstractEventLoop) -> None:
    seen: list[Any] = []

    async def main() -> None:
        seen.append(asyncio.current_task())

    loop.run_until_complete(main())
    assert isinstance(seen[0], asyncio.Task)
    assert seen[0].get_loop() is loop


def test_run_until_complete_raises_exception(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        raise ZeroDivisionError("boom")

    with pytest.raises(ZeroDivisionError, match="boom"):
        loop.run_until_complete(main())


def test_run_until_complete_future(loop: asyncio.AbstractEventLoop) -> None:
    fut = loop.create_future()
    loop.call_soon(fut.set_result, "x")
    assert loop.run_until_complete(fut) == "x"


def test_run_until_complete_future_of_other_loop(loop_factory: LoopFactory) -> None:
    loop = loop_factory()
    other = loop_factory()
    fut = other.create_future()
    with pytest.raises(ValueError, match="different loop"):
        loop.run_until_complete(fut)


def test_run_until_complete_stopped_early(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        asyncio.get_running_loop().stop()
        await asyncio.sleep(10)

    coro = main()
    with pytest.raises(RuntimeError, match=r"^Event loop stopped before Future completed.$"):
        loop.run_until_complete(coro)
    # finish the task so nothing is left pending
    for task in asyncio.all_tasks(loop):
        task.cancel()
    loop.run_until_complete(asyncio.sleep(0))


def test_run_until_complete_keyboard_interrupt_propagates(
    loop: asyncio.AbstractEventLoop,
) -> None:
    async def main() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        loop.run_until_complete(main())
    assert not loop.is_running()


def test_run_forever_runs_until_stop(loop: asyncio.AbstractEventLoop) -> None:
    calls: list[int] = []
    loop.call_soon(calls.append, 1)
    loop.call_later(0.01, loop.stop)
    loop.run_forever()
    assert calls == [1]
    assert not loop.is_running()


def test_stop_runs_current_batch_then_exits(loop: asyncio.AbstractEventLoop) -> None:
    calls: list[str] = []

    def first() -> None:
        calls.append("first")
        loop.stop()
        loop.call_soon(calls.append, "next-iteration")

    loop.call_soon(first)
    loop.call_soon(calls.append, "same-batch")
    loop.run_forever()
    assert calls == ["first", "same-batch"]
    # the callback scheduled during the stopping batch runs on the next run
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert calls == ["first", "same-batch", "next-iteration"]


def test_stop_before_run_polls_once(loop: asyncio.AbstractEventLoop) -> None:
    calls: list[int] = []
    loop.stop()
    loop.call_soon(calls.append, 1)
    loop.call_later(3600, calls.append, 2)
    loop.run_forever()  # must return at once, not wait for the timer
    assert calls == [1]


def test_stop_before_run_poll_has_zero_timeout(ours: EventLoop) -> None:
    backend = ours.backend
    assert isinstance(backend, FakeBackend)
    backend.record_polls = True
    ours.call_later(3600, lambda: None)
    ours.stop()
    ours.run_forever()
    assert backend.polls == [0]


def test_poll_timeout_follows_earliest_timer(ours: EventLoop) -> None:
    backend = ours.backend
    assert isinstance(backend, FakeBackend)
    ours.call_later(0.2, ours.stop)
    ours.call_later(5, lambda: None)
    backend.record_polls = True
    ours.run_forever()
    assert backend.polls
    first = backend.polls[0]
    assert first is not None
    assert 0.1 < first <= 0.2


def test_poll_blocks_without_timers(ours: EventLoop) -> None:
    backend = ours.backend
    assert isinstance(backend, FakeBackend)
    backend.record_polls = True
    threading.Timer(0.05, ours.call_soon_threadsafe, (ours.stop,)).start()
    ours.run_forever()
    assert backend.polls[0] is None


def test_is_running_inside(loop: asyncio.AbstractEventLoop) -> None:
    states: list[bool] = []
    loop.call_soon(lambda: states.append(loop.is_running()))
    loop.call_soon(loop.stop)
    assert not loop.is_running()
    loop.run_forever()
    assert states == [True]
    assert not loop.is_running()


def test_run_forever_twice_nested(loop: asyncio.AbstractEventLoop) -> None:
    errors: list[BaseException] = []

    def nested() -> None:
        try:
            loop.run_forever()
        except RuntimeError as exc:
            errors.append(exc)
        loop.stop()

    loop.call_soon(nested)
    loop.run_forever()
    assert str(errors[0]) == "This event loop is already running"


def test_run_until_complete_nested(loop: asyncio.AbstractEventLoop) -> None:
    async def inner() -> None:
        pass

    async def main() -> None:
        coro = inner()
        try:
            with pytest.raises(RuntimeError, match=r"^This event loop is already running$"):
                loop.run_until_complete(coro)
        finally:
            coro.close()

    loop.run_until_complete(main())


def test_other_loop_running_in_thread(loop_factory: LoopFactory) -> None:
    loop = loop_factory()
    other = loop_factory()

    async def main() -> None:
        with pytest.raises(
            RuntimeError, match=r"^Cannot run the event loop while another loop is running$"
        ):
            other.run_forever()

    loop.run_until_complete(main())


def test_running_loop_is_set(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    assert loop.run_until_complete(main()) is loop
    assert asyncio._get_running_loop() is None


def test_close_is_idempotent(loop: asyncio.AbstractEventLoop) -> None:
    loop.close()
    loop.close()
    assert loop.is_closed()


def test_close_while_running(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        with pytest.raises(RuntimeError, match=r"^Cannot close a running event loop$"):
            loop.close()

    loop.run_until_complete(main())
    assert not loop.is_closed()


def test_closed_loop_refuses_work(loop: asyncio.AbstractEventLoop) -> None:
    loop.close()
    with pytest.raises(RuntimeError, match=r"^Event loop is closed$"):
        loop.call_soon(print)
    with pytest.raises(RuntimeError, match=r"^Event loop is closed$"):
        loop.call_soon_threadsafe(print)
    with pytest.raises(RuntimeError, match=r"^Event loop is closed$"):
        loop.call_later(1, print)
    with pytest.raises(RuntimeError, match=r"^Event loop is closed$"):
        loop.call_at(1, print)
    with pytest.raises(RuntimeError, match=r"^Event loop is closed$"):
        loop.run_forever()
    coro = asyncio.sleep(0)
    with pytest.raises(RuntimeError, match=r"^Event loop is closed$"):
        loop.run_until_complete(coro)
    coro.close()
    coro2 = asyncio.sleep(0)
    with pytest.raises(RuntimeError, match=r"^Event loop is closed$"):
        loop.create_task(coro2)
    coro2.close()
    with pytest.raises(RuntimeError, match=r"^Event loop is closed$"):
        loop.run_in_executor(None, print)


def test_close_drops_pending_callbacks(loop: asyncio.AbstractEventLoop) -> None:
    calls: list[int] = []
    loop.call_soon(calls.append, 1)
    loop.call_later(0, calls.append, 2)
    loop.close()
    assert calls == []


def test_close_shuts_executor_down_without_waiting(loop: asyncio.AbstractEventLoop) -> None:
    release = threading.Event()
    started = threading.Event()

    def block() -> None:
        started.set()
        release.wait(10)

    fut = loop.run_in_executor(None, block)
    assert started.wait(10)
    loop.close()  # must not wait for block()
    assert not release.is_set()
    release.set()
    del fut


def test_close_executor_shutdown_wait_false() -> None:
    loop = new_layerloop()

    waits: list[bool] = []

    class Recording(concurrent.futures.ThreadPoolExecutor):
        def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
            waits.append(wait)
            super().shutdown(wait=wait, cancel_futures=cancel_futures)

    executor = Recording()
    loop.set_default_executor(executor)
    loop.close()
    assert waits == [False]
    with pytest.raises(RuntimeError, match=r"Executor shutdown has been called|closed"):
        loop.run_in_executor(None, print)


def test_close_closes_backend_and_resolver() -> None:
    backend = FakeBackend()

    class Resolver:
        closed = 0

        def attach(self, loop: asyncio.AbstractEventLoop) -> None:
            self.loop = loop

        async def getaddrinfo(self, *a: Any, **k: Any) -> Any:
            raise AssertionError

        async def getnameinfo(self, *a: Any, **k: Any) -> Any:
            raise AssertionError

        def close(self) -> None:
            self.closed += 1

    resolver = Resolver()
    loop = EventLoop(backend, resolver=resolver)
    assert loop.backend is backend
    assert loop.resolver is resolver
    assert resolver.loop is loop
    assert backend.loop is loop
    loop.close()
    loop.close()
    assert backend.closed
    assert resolver.closed == 1


def test_unclosed_loop_warns() -> None:
    loop = new_layerloop()
    with pytest.warns(ResourceWarning, match="unclosed event loop"):
        loop.__del__()
    assert loop.is_closed()


def test_repr(ours: EventLoop) -> None:
    assert repr(ours) == "<EventLoop running=False closed=False debug=False backend=fake>"
    seen: list[str] = []
    ours.call_soon(lambda: seen.append(repr(ours)))
    ours.call_soon(ours.stop)
    ours.run_forever()
    assert seen == ["<EventLoop running=True closed=False debug=False backend=fake>"]
    ours.set_debug(True)
    ours.close()
    assert repr(ours) == "<EventLoop running=False closed=True debug=True backend=fake>"


def test_repr_like_asyncio(loop: asyncio.AbstractEventLoop) -> None:
    text = repr(loop)
    assert text.startswith("<") and text.endswith(">")
    assert "running=False closed=False debug=False" in text


def test_time_is_monotonic(loop: asyncio.AbstractEventLoop) -> None:
    before = time.monotonic()
    t = loop.time()
    after = time.monotonic()
    assert before <= t <= after


def test_abstract_event_loop_subclass(ours: EventLoop) -> None:
    assert isinstance(ours, asyncio.AbstractEventLoop)
    assert asyncio.BaseEventLoop not in type(ours).__mro__


def test_runner_and_asyncio_run() -> None:
    async def main() -> str:
        assert isinstance(asyncio.get_running_loop(), EventLoop)
        await asyncio.sleep(0.001)
        return "ok"

    with asyncio.Runner(loop_factory=new_layerloop) as runner:
        assert runner.run(main()) == "ok"
    if sys.version_info >= (3, 12):
        assert asyncio.run(main(), loop_factory=new_layerloop) == "ok"


def test_exception_in_callback_does_not_stop_batch(loop: asyncio.AbstractEventLoop) -> None:
    calls: list[int] = []
    loop.set_exception_handler(lambda lp, ctx: calls.append(-1))

    def bad() -> None:
        raise ValueError

    loop.call_soon(calls.append, 1)
    loop.call_soon(bad)
    loop.call_soon(calls.append, 2)
    loop.call_soon(bad)
    loop.call_soon(calls.append, 3)
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert calls == [1, -1, 2, -1, 3]


@pytest.mark.parametrize("exc_type", [KeyboardInterrupt, SystemExit])
def test_base_exceptions_escape_run_forever(
    loop: asyncio.AbstractEventLoop, exc_type: type[BaseException]
) -> None:
    calls: list[int] = []

    def bad() -> None:
        raise exc_type

    loop.call_soon(bad)
    loop.call_soon(calls.append, 1)
    with pytest.raises(exc_type):
        loop.run_forever()
    assert not loop.is_running()
    # the remaining callback is still queued and runs on the next run
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert calls == [1]


def test_loop_does_not_keep_last_callback_alive(loop: asyncio.AbstractEventLoop) -> None:
    """While the loop sleeps, the callbacks it ran are released with their arguments."""

    class Payload:
        pass

    def consume(payload: Payload) -> None:
        pass

    alive_while_sleeping: list[bool] = []
    payload = Payload()
    ref = weakref.ref(payload)

    def probe() -> None:
        time.sleep(0.1)  # the loop is asleep in poll by now
        alive_while_sleeping.append(ref() is not None)
        loop.call_soon_threadsafe(loop.stop)

    loop.call_soon(consume, payload)
    del payload
    threading.Thread(target=probe).start()
    loop.run_forever()
    assert alive_while_sleeping == [False]
