"""call_soon, call_later, call_at, handles, contexts and the timer heap."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import sys
import time

import pytest

from layerloop_core import EventLoop, Handle, TimerHandle

var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")


def run_briefly(loop: asyncio.AbstractEventLoop, seconds: float = 0.0) -> None:
    loop.run_until_complete(asyncio.sleep(seconds))


def test_call_soon_fifo_and_args(loop: asyncio.AbstractEventLoop) -> None:
    calls: list[tuple[int, ...]] = []
    for i in range(5):
        loop.call_soon(lambda *a: calls.append(a), i, i * 2)
    run_briefly(loop)
    assert calls == [(i, i * 2) for i in range(5)]


def test_call_soon_returns_handle(loop: asyncio.AbstractEventLoop) -> None:
    h = loop.call_soon(print)
    assert isinstance(h, asyncio.Handle)
    assert not isinstance(h, asyncio.TimerHandle)
    h.cancel()


@pytest.mark.parametrize("debug", [False, True])
def test_our_handle_types(ours: EventLoop, debug: bool) -> None:
    ours.set_debug(debug)
    h = ours.call_soon(print)
    t = ours.call_later(1, print)
    # Checked at run time, whatever the annotations say.
    made: list[object] = [h, t, ours.call_soon_threadsafe(print), ours.call_at(1e9, print)]
    assert [isinstance(x, Handle) for x in made] == [True, False, True, False]
    assert [isinstance(x, asyncio.Handle) for x in made] == [True, True, True, True]
    assert [isinstance(x, TimerHandle) for x in made] == [False, True, False, True]
    assert [isinstance(x, asyncio.TimerHandle) for x in made] == [False, True, False, True]
    # The loop builds private subclasses (cheaper to allocate); reprs and messages
    # still name the public classes, exactly as asyncio's do.
    assert repr(h).startswith("<Handle print()")
    assert repr(t).startswith("<TimerHandle when=")
    assert type(h).__name__ == "Handle" and type(t).__name__ == "TimerHandle"
    h.cancel()
    t.cancel()
    assert repr(h).startswith("<Handle cancelled")


def test_handle_cancel(loop: asyncio.AbstractEventLoop) -> None:
    calls: list[int] = []
    h = loop.call_soon(calls.append, 1)
    assert not h.cancelled()
    h.cancel()
    assert h.cancelled()
    h.cancel()
    assert h.cancelled()
    run_briefly(loop)
    assert calls == []


def test_handle_repr_mentions_callback(loop: asyncio.AbstractEventLoop) -> None:
    def target() -> None:
        pass

    h = loop.call_soon(target)
    assert "target()" in repr(h)
    assert repr(h).startswith("<Handle ")
    h.cancel()
    assert "cancelled" in repr(h)
    t = loop.call_later(10, target)
    assert repr(t).startswith("<TimerHandle when=")
    t.cancel()


def test_handle_cancelled_in_same_batch(loop: asyncio.AbstractEventLoop) -> None:
    calls: list[str] = []
    second: list[asyncio.Handle] = []

    def cancel_second() -> None:
        second[0].cancel()

    loop.call_soon(cancel_second)
    second.append(loop.call_soon(calls.append, "second"))
    loop.call_soon(calls.append, "third")
    run_briefly(loop)
    assert calls == ["third"]


def test_callbacks_scheduled_during_batch_run_next_iteration(
    loop: asyncio.AbstractEventLoop,
) -> None:
    order: list[str] = []

    def a() -> None:
        order.append("a")
        loop.call_soon(order.append, "c")

    loop.call_soon(a)
    loop.call_soon(order.append, "b")
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert order == ["a", "b"]
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert order == ["a", "b", "c"]


def test_call_later_order_and_delay(loop: asyncio.AbstractEventLoop) -> None:
    calls: list[int] = []
    start = loop.time()
    loop.call_later(0.03, calls.append, 3)
    loop.call_later(0.01, calls.append, 1)
    loop.call_later(0.02, calls.append, 2)
    loop.call_later(0.04, loop.stop)
    loop.run_forever()
    assert calls == [1, 2, 3]
    assert loop.time() - start >= 0.04 - 0.005


def test_call_later_returns_timer_handle_with_when(loop: asyncio.AbstractEventLoop) -> None:
    before = loop.time()
    t = loop.call_later(5, print)
    after = loop.time()
    assert isinstance(t, asyncio.TimerHandle)
    assert before + 5 <= t.when() <= after + 5
    t.cancel()
    assert t.cancelled()


def test_call_at(loop: asyncio.AbstractEventLoop) -> None:
    calls: list[float] = []
    when = loop.time() + 0.02
    t = loop.call_at(when, lambda: calls.append(loop.time()))
    assert t.when() == when
    loop.call_at(when + 0.01, loop.stop)
    loop.run_forever()
    assert calls and calls[0] >= when - 0.002


def test_same_deadline_runs_in_scheduling_order(ours: EventLoop) -> None:
    calls: list[int] = []
    when = ours.time() + 0.01
    for i in range(50):
        ours.call_at(when, calls.append, i)
    ours.call_at(when + 0.005, ours.stop)
    ours.run_forever()
    assert calls == list(range(50))


def test_zero_and_negative_delay(loop: asyncio.AbstractEventLoop) -> None:
    calls: list[int] = []
    loop.call_later(0, calls.append, 1)
    loop.call_later(-5, calls.append, 2)
    loop.call_at(0, calls.append, 3)
    run_briefly(loop, 0.001)
    assert sorted(calls) == [1, 2, 3]


def test_timer_cancel(loop: asyncio.AbstractEventLoop) -> None:
    calls: list[int] = []
    t = loop.call_later(0.01, calls.append, 1)
    t.cancel()
    run_briefly(loop, 0.03)
    assert calls == []


def test_none_delay_and_when(loop: asyncio.AbstractEventLoop) -> None:
    with pytest.raises(TypeError, match=r"^delay must not be None$"):
        loop.call_later(None, print)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^when cannot be None$"):
        loop.call_at(None, print)  # type: ignore[arg-type]


def test_context_argument(loop: asyncio.AbstractEventLoop) -> None:
    ctx = contextvars.copy_context()
    ctx.run(var.set, "in-ctx")
    seen: list[str] = []
    h1 = loop.call_soon(lambda: seen.append(var.get()), context=ctx)
    h2 = loop.call_later(0, lambda: seen.append(var.get()), context=ctx)
    h3 = loop.call_at(0, lambda: seen.append(var.get()), context=ctx)
    h4 = loop.call_soon_threadsafe(lambda: seen.append(var.get()), context=ctx)
    run_briefly(loop, 0.001)
    assert seen == ["in-ctx"] * 4
    if sys.version_info >= (3, 12) or isinstance(loop, EventLoop):
        for h in (h1, h2, h3, h4):
            assert h.get_context() is ctx  # type: ignore[attr-defined,unused-ignore]


def test_default_context_is_a_copy(loop: asyncio.AbstractEventLoop) -> None:
    seen: list[str] = []
    token = var.set("outer")
    try:
        loop.call_soon(lambda: seen.append(var.get()))
        loop.call_soon(var.set, "changed-inside")
    finally:
        var.reset(token)
    loop.call_soon(lambda: seen.append(var.get()))
    run_briefly(loop)
    assert seen == ["outer", "unset"]
    assert var.get() == "unset"


def test_get_context_on_311(ours: EventLoop) -> None:
    ctx = contextvars.Context()
    h = ours.call_soon(print, context=ctx)
    assert h.get_context() is ctx
    t = ours.call_later(1, print, context=ctx)
    assert t.get_context() is ctx
    h.cancel()
    t.cancel()


def test_many_timers_cancelled_are_pruned(ours: EventLoop) -> None:
    timers = [ours.call_later(100 + i, print) for i in range(1000)]
    for t in timers[:900]:
        t.cancel()
    assert ours._timer_cancelled_count == 900
    run_briefly(ours)
    # more than half cancelled and >= 100 timers: the heap was rebuilt
    assert len(ours._timers) == 100
    assert ours._timer_cancelled_count == 0
    assert all(not t._scheduled for t in timers[:900])
    assert all(t._scheduled for t in timers[900:])
    for t in timers[900:]:
        t.cancel()


def test_cancelled_timers_at_heap_top_dropped(ours: EventLoop) -> None:
    early = [ours.call_later(50 + i, print) for i in range(10)]
    late = [ours.call_later(1000, print) for _ in range(40)]
    for t in early:
        t.cancel()
    run_briefly(ours)
    assert len(ours._timers) == 40
    assert ours._timer_cancelled_count == 0
    for t in late:
        t.cancel()
    assert ours._timer_cancelled_count == 40


def test_cancel_after_timer_ran_not_counted(ours: EventLoop) -> None:
    calls: list[int] = []
    t = ours.call_later(0, calls.append, 1)
    run_briefly(ours, 0.001)
    assert calls == [1]
    t.cancel()
    assert ours._timer_cancelled_count == 0


def test_timer_cancelled_while_due_in_ready_queue(ours: EventLoop) -> None:
    calls: list[int] = []
    t2: list[asyncio.TimerHandle] = []

    def cancel_t2() -> None:
        t2[0].cancel()

    ours.call_at(0, cancel_t2)
    t2.append(ours.call_at(0, calls.append, 2))
    run_briefly(ours, 0.001)
    assert calls == []
    assert ours._timer_cancelled_count == 0


def test_timer_accuracy(loop: asyncio.AbstractEventLoop) -> None:
    fired: list[float] = []
    start = time.monotonic()
    loop.call_later(0.05, lambda: fired.append(time.monotonic()))
    run_briefly(loop, 0.07)
    assert fired and 0.045 <= fired[0] - start < 0.5


@pytest.mark.parametrize("debug", [False, True])
def test_callback_with_partial_repr_in_error(loop: asyncio.AbstractEventLoop, debug: bool) -> None:
    loop.set_debug(debug)
    contexts: list[dict[str, object]] = []
    loop.set_exception_handler(lambda lp, ctx: contexts.append(ctx))

    def fail(a: int, b: int) -> None:
        raise ValueError(a + b)

    loop.call_soon(functools.partial(fail, 1), 2)
    run_briefly(loop)
    message = contexts[0]["message"]
    # 3.13 stopped printing callback arguments outside debug mode (they may be secrets)
    shown = "(1)(2)" if debug or sys.version_info < (3, 13) else "()()"
    line = fail.__code__.co_firstlineno
    assert message == f"Exception in callback {fail.__qualname__}{shown} at {__file__}:{line}"
