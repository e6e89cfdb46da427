"""Type-checked only (``mypy --strict``), never run: layerloop's loop is accepted
wherever typeshed expects ``asyncio.AbstractEventLoop``.

``test_type_tests.py`` runs mypy on this file and requires it to be clean.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import sys
import unittest
from collections.abc import Callable

import layerloop
import layerloop_core
import layerloop_selector


def uses_a_loop(loop: asyncio.AbstractEventLoop) -> float:
    return loop.time()


def wants_a_factory(factory: Callable[[], asyncio.AbstractEventLoop]) -> None:
    pass


async def main() -> int:
    return 42


def check() -> None:
    loop = layerloop.new_event_loop()
    uses_a_loop(loop)
    uses_a_loop(layerloop.new_event_loop(backend="poll"))
    uses_a_loop(layerloop_core.EventLoop(layerloop_selector.new_backend("auto")))
    as_abstract: asyncio.AbstractEventLoop = loop
    wants_a_factory(layerloop.new_event_loop)

    asyncio.set_event_loop(loop)
    fut: asyncio.Future[int] = loop.create_future()
    task: asyncio.Task[int] = loop.create_task(main(), name="main")
    handle: asyncio.Handle = loop.call_soon(print, "soon")
    timer: asyncio.TimerHandle = loop.call_later(1.0, print, "later")
    result: int = loop.run_until_complete(task)
    in_thread: asyncio.Future[int] = loop.run_in_executor(None, int, "7")
    loop.set_default_executor(concurrent.futures.ThreadPoolExecutor())
    concurrent_future: concurrent.futures.Future[int] = asyncio.run_coroutine_threadsafe(
        main(), loop
    )
    ensured: asyncio.Future[int] = asyncio.ensure_future(main(), loop=loop)
    wrapped: asyncio.Future[int] = asyncio.wrap_future(concurrent_future, loop=loop)
    print(as_abstract, fut, handle, timer, result, in_thread, ensured, wrapped)

    with asyncio.Runner(loop_factory=layerloop.new_event_loop) as runner:
        runner_result: int = runner.run(main())
        uses_a_loop(runner.get_loop())
        print(runner_result)

    if sys.version_info >= (3, 12):
        run_result: int = asyncio.run(main(), loop_factory=layerloop.new_event_loop)
        print(run_result)

    if sys.version_info >= (3, 13):

        class Case(unittest.IsolatedAsyncioTestCase):
            loop_factory = layerloop.new_event_loop

        print(Case)

    loop.close()
