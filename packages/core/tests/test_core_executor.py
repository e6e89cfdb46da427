"""run_in_executor, the default executor, and asynchronous generator hooks."""

from __future__ import annotations

import asyncio
import concurrent.futures
import sys
import threading
import warnings
from collections.abc import AsyncGenerator, AsyncIterator

import pytest


def test_run_in_executor_default(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> tuple[int, str]:
        fut = loop.run_in_executor(None, lambda: (sum([1, 2, 3]), threading.current_thread().name))
        assert isinstance(fut, asyncio.Future)
        return await fut

    total, thread_name = loop.run_until_complete(main())
    assert total == 6
    assert thread_name.startswith("asyncio")


def test_run_in_executor_exception(loop: asyncio.AbstractEventLoop) -> None:
    def fail() -> None:
        raise KeyError("x")

    with pytest.raises(KeyError):
        loop.run_until_complete(loop.run_in_executor(None, fail))


def test_run_in_explicit_executor(loop: asyncio.AbstractEventLoop) -> None:
    with concurrent.futures.ThreadPoolExecutor(thread_name_prefix="mine") as pool:
        name = loop.run_until_complete(
            loop.run_in_executor(pool, lambda: threading.current_thread().name)
        )
    assert name.startswith("mine")


def test_set_default_executor(loop: asyncio.AbstractEventLoop) -> None:
    pool = concurrent.futures.ThreadPoolExecutor(thread_name_prefix="custom-default")
    loop.set_default_executor(pool)
    name = loop.run_until_complete(
        loop.run_in_executor(None, lambda: threading.current_thread().name)
    )
    assert name.startswith("custom-default")
    loop.run_until_complete(loop.shutdown_default_executor())
    pool.shutdown()


def test_set_default_executor_requires_thread_pool(loop: asyncio.AbstractEventLoop) -> None:
    class Other(concurrent.futures.Executor):
        pass

    with pytest.raises(TypeError, match=r"^executor must be ThreadPoolExecutor instance$"):
        loop.set_default_executor(Other())


def test_shutdown_default_executor(loop: asyncio.AbstractEventLoop) -> None:
    loop.run_until_complete(loop.run_in_executor(None, lambda: None))
    loop.run_until_complete(loop.shutdown_default_executor())
    with pytest.raises(RuntimeError, match=r"^Executor shutdown has been called$"):
        loop.run_in_executor(None, lambda: None)


def test_shutdown_default_executor_without_executor(loop: asyncio.AbstractEventLoop) -> None:
    loop.run_until_complete(loop.shutdown_default_executor())
    with pytest.raises(RuntimeError, match=r"^Executor shutdown has been called$"):
        loop.run_in_executor(None, lambda: None)


def test_shutdown_default_executor_timeout(loop: asyncio.AbstractEventLoop) -> None:
    if sys.version_info < (3, 13) and not hasattr(loop, "backend"):
        pytest.skip(
            "asyncio has no timeout before 3.12, and 3.12 applies it only to the final "
            "thread join, after waiting for the shutdown without limit"
        )
    release = threading.Event()
    loop.run_in_executor(None, release.wait, 10)

    async def main() -> None:
        with pytest.warns(
            RuntimeWarning, match=r"did not finishing joining its threads within 0\.05"
        ):
            await loop.shutdown_default_executor(timeout=0.05)  # type: ignore[call-arg]

    try:
        loop.run_until_complete(main())
    finally:
        release.set()


def test_explicit_executor_usable_after_shutdown(loop: asyncio.AbstractEventLoop) -> None:
    loop.run_until_complete(loop.shutdown_default_executor())
    with concurrent.futures.ThreadPoolExecutor() as pool:
        assert loop.run_until_complete(loop.run_in_executor(pool, int, "5")) == 5


def test_run_in_executor_coroutine_function_in_debug(loop: asyncio.AbstractEventLoop) -> None:
    loop.set_debug(True)

    async def coro() -> None:
        pass

    with pytest.raises(TypeError, match=r"^coroutines cannot be used with run_in_executor\(\)$"):
        loop.run_in_executor(None, coro)


# -- asynchronous generators ---------------------------------------------------------------


def test_asyncgen_hooks_installed_and_restored(loop: asyncio.AbstractEventLoop) -> None:
    def firstiter(agen: object) -> None:
        pass

    def finalizer(agen: object) -> None:
        pass

    old = sys.get_asyncgen_hooks()
    sys.set_asyncgen_hooks(firstiter=firstiter, finalizer=finalizer)
    try:
        inside: list[object] = []

        async def main() -> None:
            inside.append(sys.get_asyncgen_hooks())

        loop.run_until_complete(main())
        hooks = inside[0]
        assert hooks.firstiter is not firstiter  # type: ignore[attr-defined]
        assert hooks.finalizer is not finalizer  # type: ignore[attr-defined]
        after = sys.get_asyncgen_hooks()
        assert after.firstiter is firstiter
        assert after.finalizer is finalizer
    finally:
        sys.set_asyncgen_hooks(*old)


def test_shutdown_asyncgens_closes_generators(loop: asyncio.AbstractEventLoop) -> None:
    closed: list[str] = []

    async def gen() -> AsyncIterator[int]:
        try:
            yield 1
            yield 2
        finally:
            await asyncio.sleep(0)
            closed.append("closed")

    agens: list[AsyncIterator[int]] = []

    async def start() -> None:
        g = gen()
        agens.append(g)
        await g.__anext__()

    loop.run_until_complete(start())
    assert closed == []
    loop.run_until_complete(loop.shutdown_asyncgens())
    assert closed == ["closed"]


def test_shutdown_asyncgens_reports_errors(loop: asyncio.AbstractEventLoop) -> None:
    contexts: list[dict[str, object]] = []
    loop.set_exception_handler(lambda lp, ctx: contexts.append(ctx))

    async def gen() -> AsyncIterator[int]:
        try:
            yield 1
        finally:
            raise ZeroDivisionError

    agens: list[AsyncIterator[int]] = []

    async def start() -> None:
        g = gen()
        agens.append(g)
        await g.__anext__()

    loop.run_until_complete(start())
    loop.run_until_complete(loop.shutdown_asyncgens())
    assert len(contexts) == 1
    ctx = contexts[0]
    assert isinstance(ctx["exception"], ZeroDivisionError)
    assert ctx["asyncgen"] is agens[0]
    assert str(ctx["message"]).startswith(
        "an error occurred during closing of asynchronous generator"
    )


def test_asyncgen_after_shutdown_warns(loop: asyncio.AbstractEventLoop) -> None:
    async def gen() -> AsyncGenerator[int, None]:
        yield 1

    async def main() -> None:
        await loop.shutdown_asyncgens()
        g = gen()
        with pytest.warns(ResourceWarning, match=r"was scheduled after loop.shutdown_asyncgens"):
            await g.__anext__()
        await g.aclose()

    loop.run_until_complete(main())


def test_asyncgen_finalizer_schedules_aclose(loop: asyncio.AbstractEventLoop) -> None:
    finalized: list[str] = []

    async def gen() -> AsyncIterator[int]:
        try:
            yield 1
            yield 2
        finally:
            finalized.append("done")

    async def main() -> None:
        g = gen()
        await g.__anext__()
        del g  # the finalizer hook schedules aclose() on the loop
        for _ in range(5):
            await asyncio.sleep(0)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loop.run_until_complete(main())
    assert finalized == ["done"]
