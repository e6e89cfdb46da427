"""Fixtures for layerloop-subprocess' tests.

``loop`` is a fresh event loop: layerloop's scheduler with the transports and
subprocess layers on each usable readiness backend (watching children with pidfds),
the epoll one again watching children with threads, and stdlib asyncio's loop, the
oracle.  layerloop-selector is a test dependency only.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import warnings
from collections.abc import Callable, Iterator

import pytest

from layerloop_selector import available_backends, new_backend
from subprocess_helpers import SubprocessLoop, ThreadWatchLoop

LOOP_FACTORIES: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {}
for _name in available_backends():
    LOOP_FACTORIES[f"layerloop-{_name}"] = lambda name=_name: SubprocessLoop(new_backend(name))
LOOP_FACTORIES["layerloop-epoll-thread"] = lambda: ThreadWatchLoop(new_backend("auto"))
LOOP_FACTORIES["asyncio"] = asyncio.new_event_loop


@pytest.fixture(params=list(LOOP_FACTORIES))
def loop(request: pytest.FixtureRequest) -> Iterator[asyncio.AbstractEventLoop]:
    made = LOOP_FACTORIES[request.param]()
    yield made
    if not made.is_closed():
        leftovers = asyncio.all_tasks(made)
        for task in leftovers:
            task.cancel()
        with contextlib.suppress(Exception):
            if leftovers:
                made.run_until_complete(asyncio.wait(leftovers))
            made.run_until_complete(made.shutdown_default_executor())
        made.close()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gc.collect()
