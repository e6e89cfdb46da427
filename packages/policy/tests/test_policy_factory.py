"""LoopFactory, loop_factory() and run(): factories for asyncio.Runner/asyncio.run."""

from __future__ import annotations

import asyncio
import concurrent.futures
import sys
import threading
from typing import Any

import pytest

import layerloop_core
from layerloop_core.abc import Resolver
from layerloop_policy import LoopFactory, loop_factory, run
from policy_fakes import SleepBackend


def new_core_loop() -> layerloop_core.EventLoop:
    return layerloop_core.EventLoop(SleepBackend())


async def current_loop() -> asyncio.AbstractEventLoop:
    await asyncio.sleep(0)
    return asyncio.get_running_loop()


def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    pass


def task_factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
    return asyncio.Task(coro, loop=loop, **kwargs)


def test_settings_are_applied_to_every_new_loop() -> None:
    executors: list[concurrent.futures.ThreadPoolExecutor] = []

    def make_executor() -> concurrent.futures.ThreadPoolExecutor:
        executors.append(concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="mine"))
        return executors[-1]

    factory = LoopFactory(
        new_core_loop,
        debug=True,
        slow_callback_duration=0.25,
        task_factory=task_factory,
        exception_handler=handler,
        executor_factory=make_executor,
    )
    loops = [factory(), factory()]
    try:
        assert loops[0] is not loops[1]
        for loop in loops:
            assert isinstance(loop, layerloop_core.EventLoop)
            assert loop.get_debug() is True
            assert loop.slow_callback_duration == 0.25
            assert loop.get_task_factory() is task_factory
            assert loop.get_exception_handler() is handler
        name = loops[0].run_until_complete(
            loops[0].run_in_executor(None, lambda: threading.current_thread().name)
        )
        assert name.startswith("mine")
        assert len(executors) == 2  # one executor per loop
    finally:
        for loop in loops:
            loop.close()


def test_unset_settings_are_left_alone() -> None:
    loop = LoopFactory(new_core_loop)()
    try:
        assert loop.get_debug() is False
        assert loop.get_task_factory() is None
        assert loop.get_exception_handler() is None
        assert loop.slow_callback_duration == 0.1
    finally:
        loop.close()
    loop = LoopFactory(new_core_loop, debug=False)()
    try:
        assert loop.get_debug() is False
    finally:
        loop.close()


def test_a_failing_setting_closes_the_new_loop() -> None:
    made: list[asyncio.AbstractEventLoop] = []

    def make() -> asyncio.AbstractEventLoop:
        made.append(new_core_loop())
        return made[-1]

    def broken_executor() -> concurrent.futures.ThreadPoolExecutor:
        raise RuntimeError("no threads today")

    with pytest.raises(RuntimeError, match="no threads today"):
        LoopFactory(make, executor_factory=broken_executor)()
    assert len(made) == 1
    assert made[0].is_closed()


def test_arguments_are_validated() -> None:
    with pytest.raises(TypeError, match="make must be callable"):
        LoopFactory(None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="task_factory must be callable"):
        LoopFactory(new_core_loop, task_factory=1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="exception_handler must be callable"):
        LoopFactory(new_core_loop, exception_handler="x")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="slow_callback_duration"):
        LoopFactory(new_core_loop, slow_callback_duration=-1)


def test_repr_names_the_settings() -> None:
    text = repr(LoopFactory(new_core_loop, debug=True))
    assert "new_core_loop" in text
    assert "debug=True" in text
    assert "task_factory" not in text


def test_works_with_asyncio_runner() -> None:
    factory = LoopFactory(new_core_loop, debug=True)
    with asyncio.Runner(loop_factory=factory) as runner:
        loop = runner.run(current_loop())
        assert isinstance(loop, layerloop_core.EventLoop)
        assert loop.get_debug()
        assert runner.get_loop() is loop
    assert loop.is_closed()


@pytest.mark.skipif(sys.version_info < (3, 12), reason="asyncio.run takes loop_factory from 3.12")
def test_works_with_asyncio_run() -> None:
    loop = asyncio.run(current_loop(), loop_factory=LoopFactory(new_core_loop))  # type: ignore[call-arg,unused-ignore]
    assert isinstance(loop, layerloop_core.EventLoop)
    assert loop.is_closed()


# -- loop_factory(): core loops from backend and resolver factories ---------------------


class CountingResolver:
    """Any Resolver will do; this one records that it was made and attached."""

    made = 0

    def __init__(self) -> None:
        CountingResolver.made += 1
        self.loop: asyncio.AbstractEventLoop | None = None

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    async def getaddrinfo(self, host: Any, port: Any, **kwargs: int) -> list[Any]:
        return [("answer", host, port)]

    async def getnameinfo(self, sockaddr: Any, flags: int = 0) -> tuple[str, str]:
        return ("name", "service")

    def close(self) -> None:
        pass


def test_loop_factory_builds_core_loops_with_fresh_backends() -> None:
    factory = loop_factory(SleepBackend, resolver=CountingResolver, debug=True)
    before = CountingResolver.made
    loops = [factory(), factory()]
    try:
        for loop in loops:
            assert isinstance(loop, layerloop_core.EventLoop)
            assert isinstance(loop.backend, SleepBackend)
            assert isinstance(loop.resolver, CountingResolver)
            assert loop.resolver.loop is loop
            assert loop.get_debug()
        assert loops[0].backend is not loops[1].backend
        assert loops[0].resolver is not loops[1].resolver
        assert CountingResolver.made == before + 2
        answer: Any = loops[0].run_until_complete(loops[0].getaddrinfo("example.org", 80))
        assert answer == [("answer", "example.org", 80)]
    finally:
        for loop in loops:
            loop.close()
    assert all(loop.backend.closed for loop in loops)  # type: ignore[attr-defined]


def test_loop_factory_without_resolver_uses_the_core_default() -> None:
    loop = loop_factory(SleepBackend)()
    try:
        assert isinstance(loop.resolver, layerloop_core.ExecutorResolver)
    finally:
        loop.close()


def test_loop_factory_wants_factories_not_instances() -> None:
    backend = SleepBackend()
    try:
        with pytest.raises(TypeError, match="backend must be a zero-argument callable"):
            loop_factory(backend)  # type: ignore[arg-type]
    finally:
        backend.close()
    with pytest.raises(TypeError, match="resolver must be a zero-argument callable"):
        loop_factory(SleepBackend, resolver=CountingResolver())  # type: ignore[arg-type]


def test_a_failing_resolver_factory_closes_the_backend() -> None:
    backends: list[SleepBackend] = []

    def backend() -> SleepBackend:
        backends.append(SleepBackend())
        return backends[-1]

    def resolver() -> Resolver:
        raise OSError("resolver unavailable")

    with pytest.raises(OSError, match="resolver unavailable"):
        loop_factory(backend, resolver=resolver)()
    assert len(backends) == 1
    assert backends[0].closed


# -- run() ----------------------------------------------------------------------------


def test_run_returns_the_result_on_a_fresh_loop() -> None:
    factory = loop_factory(SleepBackend)
    loop = run(current_loop(), loop_factory=factory)
    assert isinstance(loop, layerloop_core.EventLoop)
    assert loop.is_closed()
    assert run(current_loop(), loop_factory=factory) is not loop


def test_run_debug_flag() -> None:
    async def debug() -> bool:
        return asyncio.get_running_loop().get_debug()

    assert run(debug(), loop_factory=new_core_loop, debug=True) is True
    assert run(debug(), loop_factory=new_core_loop, debug=False) is False


def test_run_propagates_exceptions_and_cancels_leftovers() -> None:
    leftover: list[asyncio.Task[None]] = []

    async def main() -> None:
        leftover.append(asyncio.ensure_future(asyncio.sleep(3600)))
        await asyncio.sleep(0)
        raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        run(main(), loop_factory=new_core_loop)
    assert leftover[0].cancelled()


def test_run_refuses_a_running_loop() -> None:
    async def outer() -> None:
        inner = current_loop()
        try:
            with pytest.raises(RuntimeError, match="cannot be called from a running event loop"):
                run(inner, loop_factory=new_core_loop)
        finally:
            inner.close()

    run(outer(), loop_factory=new_core_loop)
