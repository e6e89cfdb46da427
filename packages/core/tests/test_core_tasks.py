"""create_future, create_task (name, context, eager_start, **kwargs), task factories."""

from __future__ import annotations

import asyncio
import contextvars
import sys
from typing import Any

import pytest

from layerloop_core import EventLoop

var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")

needs_312 = pytest.mark.skipif(sys.version_info < (3, 12), reason="eager tasks are 3.12+")
only_311 = pytest.mark.skipif(sys.version_info >= (3, 12), reason="3.11-only behaviour")


async def answer() -> int:
    return 42


def test_create_future(loop: asyncio.AbstractEventLoop) -> None:
    fut = loop.create_future()
    assert isinstance(fut, asyncio.Future)
    assert fut.get_loop() is loop
    assert not fut.done()
    fut.cancel()


def test_create_task_basic(loop: asyncio.AbstractEventLoop) -> None:
    task = loop.create_task(answer())
    assert isinstance(task, asyncio.Task)
    assert task.get_loop() is loop
    assert not task.done()
    assert loop.run_until_complete(task) == 42


def test_create_task_name(loop: asyncio.AbstractEventLoop) -> None:
    task = loop.create_task(answer(), name="named")
    assert task.get_name() == "named"
    unnamed = loop.create_task(answer())
    assert unnamed.get_name().startswith("Task-")
    loop.run_until_complete(asyncio.gather(task, unnamed))


def test_create_task_context(loop: asyncio.AbstractEventLoop) -> None:
    ctx = contextvars.copy_context()
    ctx.run(var.set, "task-ctx")

    async def read() -> str:
        return var.get()

    task = loop.create_task(read(), context=ctx)
    assert loop.run_until_complete(task) == "task-ctx"


def test_task_factory_get_set(loop: asyncio.AbstractEventLoop) -> None:
    assert loop.get_task_factory() is None
    made: list[Any] = []

    def factory(lp: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
        made.append(kwargs)
        return asyncio.Task(coro, loop=lp, **kwargs)

    loop.set_task_factory(factory)
    assert loop.get_task_factory() is factory
    assert loop.run_until_complete(loop.create_task(answer())) == 42
    assert made == [{}]
    loop.set_task_factory(None)
    assert loop.get_task_factory() is None
    with pytest.raises(TypeError, match=r"^task factory must be a callable or None$"):
        loop.set_task_factory(1)  # type: ignore[arg-type]


def test_factory_receives_every_keyword(ours: EventLoop) -> None:
    """3.14 semantics: name, context, eager_start and extra keywords reach the factory."""
    received: list[dict[str, Any]] = []

    def factory(lp: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
        received.append(dict(kwargs))
        kwargs.pop("custom", None)
        kwargs.pop("eager_start", None)
        return asyncio.Task(coro, loop=lp, **kwargs)

    ours.set_task_factory(factory)
    ctx = contextvars.copy_context()
    task = ours.create_task(answer(), name="n", context=ctx, eager_start=False, custom=1)
    assert received == [{"name": "n", "context": ctx, "eager_start": False, "custom": 1}]
    assert task.get_name() == "n"
    # None means "not given": asyncio's helpers on 3.11-3.13 pass it explicitly
    task2 = ours.create_task(answer(), name=None, context=None)
    assert received[-1] == {}
    ours.run_until_complete(asyncio.gather(task, task2))


def test_legacy_factory_still_works_without_keywords(ours: EventLoop) -> None:
    ours.set_task_factory(lambda lp, coro: asyncio.Task(coro, loop=lp))
    assert ours.run_until_complete(ours.create_task(answer())) == 42

    async def main() -> int:
        # asyncio.create_task and TaskGroup pass name=None/context=None on 3.12/3.13
        return await asyncio.create_task(answer())

    assert ours.run_until_complete(main()) == 42


def test_extra_keywords_without_factory_go_to_task(ours: EventLoop) -> None:
    coro = answer()
    with pytest.raises(TypeError):
        ours.create_task(coro, bogus=1)
    coro.close()


@needs_312
def test_eager_start_true(loop: asyncio.AbstractEventLoop) -> None:
    if not isinstance(loop, EventLoop) and sys.version_info < (3, 14):
        pytest.skip("asyncio's create_task has no eager_start before 3.14")
    steps: list[str] = []

    async def child() -> str:
        steps.append("child")
        return "done"

    async def main() -> None:
        task = loop.create_task(child(), eager_start=True)  # type: ignore[call-arg]
        steps.append("after-create")
        assert task.done()
        assert task.result() == "done"

    loop.run_until_complete(main())
    assert steps == ["child", "after-create"]


@needs_312
def test_eager_start_when_not_running_is_lazy(ours: EventLoop) -> None:
    task = ours.create_task(answer(), eager_start=True)
    assert not task.done()
    assert ours.run_until_complete(task) == 42


@needs_312
def test_eager_task_factory(loop: asyncio.AbstractEventLoop) -> None:
    loop.set_task_factory(asyncio.eager_task_factory)  # type: ignore[attr-defined]
    steps: list[str] = []

    async def child() -> None:
        steps.append("child-start")
        await asyncio.sleep(0)
        steps.append("child-end")

    async def main() -> None:
        task = loop.create_task(child())
        steps.append("after-create")
        named = asyncio.create_task(child(), name="x")
        assert named.get_name() == "x"
        await asyncio.gather(task, named)

    loop.run_until_complete(main())
    assert steps[:2] == ["child-start", "after-create"]


@needs_312
def test_eager_factory_with_eager_start_false(ours: EventLoop) -> None:
    ours.set_task_factory(asyncio.eager_task_factory)  # type: ignore[attr-defined]
    steps: list[str] = []

    async def child() -> None:
        steps.append("child")

    async def main() -> None:
        task = ours.create_task(child(), eager_start=False)
        steps.append("after-create")
        await task
        task2 = ours.create_task(child(), eager_start=True)
        steps.append("after-eager")
        assert task2.done()

    ours.run_until_complete(main())
    assert steps == ["after-create", "child", "child", "after-eager"]


@only_311
def test_eager_start_true_on_311_raises(ours: EventLoop) -> None:
    coro = answer()
    with pytest.raises(NotImplementedError, match=r"eager_start=True\) needs Python 3\.12"):
        ours.create_task(coro, eager_start=True)
    coro.close()
    task = ours.create_task(answer(), eager_start=False)
    assert ours.run_until_complete(task) == 42


def test_taskgroup_and_gather(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> list[int]:
        async with asyncio.TaskGroup() as tg:
            tasks = [tg.create_task(answer()) for _ in range(10)]
        pair = await asyncio.gather(answer(), answer())
        return [t.result() for t in tasks] + list(pair)

    assert loop.run_until_complete(main()) == [42] * 12


def test_task_cancellation_and_timeout(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> str:
        try:
            async with asyncio.timeout(0.01):
                await asyncio.sleep(10)
        except TimeoutError:
            return "timed out"
        return "no"

    assert loop.run_until_complete(main()) == "timed out"


def test_all_tasks_and_current_task(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        me = asyncio.current_task()
        assert me is not None
        assert me in asyncio.all_tasks()

    loop.run_until_complete(main())
