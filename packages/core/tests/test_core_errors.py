"""The exception handler API and debug mode."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import subprocess
import sys
import threading
import time
from typing import Any

import pytest

import layerloop_core
from core_fakes import FakeBackend
from layerloop_core import EventLoop

var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")


def run_briefly(loop: asyncio.AbstractEventLoop) -> None:
    loop.run_until_complete(asyncio.sleep(0))


def failing_callback() -> None:
    raise ZeroDivisionError("from callback")


# -- exception handler ---------------------------------------------------------------------


def test_get_set_exception_handler(loop: asyncio.AbstractEventLoop) -> None:
    assert loop.get_exception_handler() is None

    def handler(lp: asyncio.AbstractEventLoop, ctx: dict[str, Any]) -> None:
        pass

    loop.set_exception_handler(handler)
    assert loop.get_exception_handler() is handler
    loop.set_exception_handler(None)
    assert loop.get_exception_handler() is None
    with pytest.raises(TypeError, match=r"^A callable object or None is expected, got 1$"):
        loop.set_exception_handler(1)  # type: ignore[arg-type]


def test_callback_error_context_keys(loop: asyncio.AbstractEventLoop) -> None:
    contexts: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda lp, ctx: contexts.append(ctx))
    handle = loop.call_soon(failing_callback)
    run_briefly(loop)
    (ctx,) = contexts
    assert set(ctx) == {"message", "exception", "handle"}
    assert ctx["handle"] is handle
    assert isinstance(ctx["exception"], ZeroDivisionError)
    assert ctx["message"].startswith("Exception in callback failing_callback() at ")


def test_callback_error_context_keys_debug(loop: asyncio.AbstractEventLoop) -> None:
    loop.set_debug(True)
    contexts: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda lp, ctx: contexts.append(ctx))
    loop.call_soon(failing_callback)
    run_briefly(loop)
    (ctx,) = contexts
    assert set(ctx) == {"message", "exception", "handle", "source_traceback"}
    # the creation stack ends at the call_soon line in this test
    last = ctx["source_traceback"][-1]
    assert last.filename == __file__
    assert last.name == "test_callback_error_context_keys_debug"


def test_default_handler_logs(
    loop: asyncio.AbstractEventLoop, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="asyncio")
    loop.call_soon(failing_callback)
    run_briefly(loop)
    (record,) = [r for r in caplog.records if r.name == "asyncio"]
    assert record.levelno == logging.ERROR
    assert record.getMessage().startswith("Exception in callback failing_callback()")
    assert "\nhandle: <Handle failing_callback()" in record.getMessage()
    assert record.exc_info is not None
    assert record.exc_info[0] is ZeroDivisionError


def test_default_exception_handler_format(
    loop: asyncio.AbstractEventLoop, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="asyncio")
    loop.default_exception_handler({"zeta": 1, "alpha": "a"})
    loop.default_exception_handler({"message": "custom", "exception": KeyError("k")})
    first, second = (r for r in caplog.records if r.name == "asyncio")
    assert first.getMessage() == "Unhandled exception in event loop\nalpha: 'a'\nzeta: 1"
    assert not first.exc_info
    assert second.getMessage() == "custom"
    assert second.exc_info is not None and second.exc_info[0] is KeyError


def test_source_traceback_formatting(
    loop: asyncio.AbstractEventLoop, caplog: pytest.LogCaptureFixture
) -> None:
    loop.set_debug(True)
    caplog.set_level(logging.ERROR, logger="asyncio")
    loop.call_soon(failing_callback)
    run_briefly(loop)
    (record,) = [r for r in caplog.records if r.name == "asyncio"]
    text = record.getMessage()
    assert "\nsource_traceback: Object created at (most recent call last):\n" in text
    assert "test_source_traceback_formatting" in text


def test_handle_traceback_added_in_debug(
    loop: asyncio.AbstractEventLoop, caplog: pytest.LogCaptureFixture
) -> None:
    loop.set_debug(True)
    caplog.set_level(logging.ERROR, logger="asyncio")

    def report() -> None:
        loop.call_exception_handler({"message": "reported"})

    loop.call_soon(report)
    run_briefly(loop)
    (record,) = [r for r in caplog.records if r.name == "asyncio"]
    text = record.getMessage()
    assert text.startswith("reported\nhandle_traceback: Handle created at (most recent call last):")
    assert "test_handle_traceback_added_in_debug" in text


def test_error_in_custom_handler_is_logged(
    loop: asyncio.AbstractEventLoop, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="asyncio")

    def bad_handler(lp: asyncio.AbstractEventLoop, ctx: dict[str, Any]) -> None:
        raise RuntimeError("handler broke")

    loop.set_exception_handler(bad_handler)
    loop.call_soon(failing_callback)
    run_briefly(loop)
    (record,) = [r for r in caplog.records if r.name == "asyncio"]
    assert record.getMessage().startswith("Unhandled error in exception handler\ncontext: {")
    assert record.exc_info is not None and record.exc_info[0] is RuntimeError


def test_error_in_default_handler_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    class Broken(EventLoop):
        def default_exception_handler(self, context: dict[str, Any]) -> None:
            raise RuntimeError("default broke")

    loop = Broken(FakeBackend())
    caplog.set_level(logging.ERROR, logger="asyncio")
    try:
        loop.call_exception_handler({"message": "x"})
    finally:
        loop.close()
    (record,) = [r for r in caplog.records if r.name == "asyncio"]
    assert record.getMessage() == "Exception in default exception handler"


def test_custom_handler_runs_in_handle_context(loop: asyncio.AbstractEventLoop) -> None:
    if sys.version_info < (3, 12) and not isinstance(loop, EventLoop):
        pytest.skip("asyncio runs the handler in the handle's context only since 3.12")
    seen: list[str] = []
    loop.set_exception_handler(lambda lp, ctx: seen.append(var.get()))
    ctx = contextvars.copy_context()
    ctx.run(var.set, "handle-context")
    loop.call_soon(failing_callback, context=ctx)
    run_briefly(loop)
    assert seen == ["handle-context"]


def test_custom_handler_runs_in_task_context(loop: asyncio.AbstractEventLoop) -> None:
    if sys.version_info < (3, 12):
        pytest.skip("asyncio.Task.get_context() is 3.12+")
    seen: list[str] = []  # type: ignore[unreachable,unused-ignore]
    loop.set_exception_handler(lambda lp, ctx: seen.append(var.get()))

    gate = loop.create_future()

    async def main() -> None:
        var.set("task-context")
        await gate

    task = loop.create_task(main())
    run_briefly(loop)
    # reported from a callback running in another context
    loop.call_soon(loop.call_exception_handler, {"message": "m", "task": task})
    run_briefly(loop)
    assert seen == ["task-context"]
    gate.set_result(None)
    loop.run_until_complete(task)


# -- debug mode ----------------------------------------------------------------------------


def test_get_set_debug(loop: asyncio.AbstractEventLoop) -> None:
    assert loop.get_debug() is False
    loop.set_debug(True)
    assert loop.get_debug() is True


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        ([], {}, "False"),
        ([], {"PYTHONASYNCIODEBUG": "1"}, "True"),
        (["-E"], {"PYTHONASYNCIODEBUG": "1"}, "False"),
        (["-X", "dev"], {}, "True"),
    ],
)
def test_debug_from_environment(args: list[str], env: dict[str, str], expected: str) -> None:
    here = os.path.dirname(__file__)
    code = (
        f"import sys; sys.path.insert(0, {here!r})\n"
        "from core_fakes import FakeBackend\n"
        "from layerloop_core import EventLoop\n"
        "loop = EventLoop(FakeBackend()); print(loop.get_debug()); loop.close()\n"
    )
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONASYNCIODEBUG"}
    clean.update(env)
    if "-E" in args:
        # -E ignores PYTHONPATH too: hand the package path over explicitly
        src = os.path.dirname(os.path.dirname(layerloop_core.__file__))
        code = f"import sys; sys.path.insert(0, {src!r})\n" + code
    out = subprocess.run(
        [sys.executable, *args, "-c", code],
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert out.stdout.strip() == expected


def test_coroutine_origin_tracking(loop: asyncio.AbstractEventLoop) -> None:
    loop.set_debug(True)
    before = sys.get_coroutine_origin_tracking_depth()

    async def main() -> int:
        return sys.get_coroutine_origin_tracking_depth()

    assert loop.run_until_complete(main()) == 10
    assert sys.get_coroutine_origin_tracking_depth() == before


def test_set_debug_while_running_enables_tracking(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> tuple[int, int]:
        first = sys.get_coroutine_origin_tracking_depth()
        asyncio.get_running_loop().set_debug(True)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        return first, sys.get_coroutine_origin_tracking_depth()

    assert loop.run_until_complete(main()) == (0, 10)
    assert sys.get_coroutine_origin_tracking_depth() == 0


@pytest.mark.parametrize("method", ["call_soon", "call_soon_threadsafe", "call_later", "call_at"])
def test_debug_rejects_coroutines_and_non_callables(
    loop: asyncio.AbstractEventLoop, method: str
) -> None:
    loop.set_debug(True)
    schedule = getattr(loop, method)
    lead = (1,) if method in ("call_later", "call_at") else ()
    reported = "call_at" if method == "call_later" else method

    async def coro_func() -> None:
        pass

    with pytest.raises(TypeError, match=rf"^coroutines cannot be used with {reported}\(\)$"):
        schedule(*lead, coro_func)
    coro = coro_func()
    with pytest.raises(TypeError, match=rf"^coroutines cannot be used with {reported}\(\)$"):
        schedule(*lead, coro)
    coro.close()
    with pytest.raises(
        TypeError, match=rf"^a callable object was expected by {reported}\(\), got 'nope'$"
    ):
        schedule(*lead, "nope")


def test_non_debug_accepts_non_callable_lazily(loop: asyncio.AbstractEventLoop) -> None:
    contexts: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda lp, ctx: contexts.append(ctx))
    loop.call_soon("nope")  # type: ignore[arg-type]
    run_briefly(loop)
    assert isinstance(contexts[0]["exception"], TypeError)


def test_debug_detects_call_from_other_thread(loop: asyncio.AbstractEventLoop) -> None:
    loop.set_debug(True)
    errors: list[BaseException] = []

    def from_thread() -> None:
        for schedule in (loop.call_soon, lambda cb: loop.call_later(1, cb)):
            try:
                schedule(print)
            except RuntimeError as exc:
                errors.append(exc)
        loop.call_soon_threadsafe(loop.stop)

    loop.call_soon(threading.Thread(target=from_thread).start)
    loop.run_forever()
    assert [str(e) for e in errors] == [
        "Non-thread-safe operation invoked on an event loop other than the current one"
    ] * 2


def test_slow_callback_names_callback(
    loop: asyncio.AbstractEventLoop, caplog: pytest.LogCaptureFixture
) -> None:
    loop.set_debug(True)
    loop.slow_callback_duration = 0.01
    caplog.set_level(logging.WARNING, logger="asyncio")

    def slow_function() -> None:
        time.sleep(0.03)

    loop.call_soon(slow_function)
    loop.call_soon(lambda: None)  # fast: not reported
    run_briefly(loop)
    slow = [r for r in caplog.records if r.getMessage().startswith("Executing ")]
    assert len(slow) == 1
    text = slow[0].getMessage()
    assert text.startswith(f"Executing <Handle {slow_function.__qualname__}() at {__file__}:")
    assert text.endswith(" seconds")
    assert slow[0].levelno == logging.WARNING


def test_slow_task_step_names_task(
    loop: asyncio.AbstractEventLoop, caplog: pytest.LogCaptureFixture
) -> None:
    loop.set_debug(True)
    loop.slow_callback_duration = 0.01
    caplog.set_level(logging.WARNING, logger="asyncio")

    async def blocking_coroutine() -> None:
        time.sleep(0.03)

    loop.run_until_complete(loop.create_task(blocking_coroutine(), name="the-slow-one"))
    slow = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Executing ")]
    assert len(slow) == 1
    assert slow[0].startswith("Executing <Task ")
    assert "the-slow-one" in slow[0]
    assert "blocking_coroutine" in slow[0]


def test_no_slow_reports_outside_debug(
    loop: asyncio.AbstractEventLoop, caplog: pytest.LogCaptureFixture
) -> None:
    loop.slow_callback_duration = 0.0
    caplog.set_level(logging.DEBUG, logger="asyncio")
    loop.call_soon(time.sleep, 0.01)
    run_briefly(loop)
    assert not [r for r in caplog.records if r.getMessage().startswith("Executing ")]


def test_handle_source_traceback_in_debug(loop: asyncio.AbstractEventLoop) -> None:
    h0 = loop.call_soon(print)
    assert h0._source_traceback is None  # type: ignore[attr-defined]
    h0.cancel()
    loop.set_debug(True)
    for h in (
        loop.call_soon(print),
        loop.call_soon_threadsafe(print),
        loop.call_later(10, print),
        loop.call_at(loop.time() + 10, print),
    ):
        tb = h._source_traceback  # type: ignore[attr-defined]
        assert tb[-1].name == "test_handle_source_traceback_in_debug"
        assert tb[-1].filename == __file__
        assert "created at " + __file__ in repr(h)
        h.cancel()


def test_future_and_task_source_traceback_in_debug(loop: asyncio.AbstractEventLoop) -> None:
    loop.set_debug(True)
    fut = loop.create_future()
    names = [frame.name for frame in fut._source_traceback]  # type: ignore[attr-defined]
    assert "test_future_and_task_source_traceback_in_debug" in names

    async def noop() -> None:
        pass

    task = loop.create_task(noop())
    assert task._source_traceback[-1].name == "test_future_and_task_source_traceback_in_debug"  # type: ignore[attr-defined]
    loop.run_until_complete(task)


def test_cancelled_handle_keeps_repr_in_debug(loop: asyncio.AbstractEventLoop) -> None:
    loop.set_debug(True)

    def target() -> None:
        pass

    h = loop.call_soon(target)
    h.cancel()
    assert "target()" in repr(h)
    t = loop.call_later(5, target)
    t.cancel()
    assert "target()" in repr(t)


def test_close_logs_in_debug(
    loop: asyncio.AbstractEventLoop, caplog: pytest.LogCaptureFixture
) -> None:
    loop.set_debug(True)
    caplog.set_level(logging.DEBUG, logger="asyncio")
    loop.close()
    assert any(r.getMessage().startswith("Close <") for r in caplog.records)
