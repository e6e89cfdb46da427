"""Fixtures for layerloop-core's tests.

``loop_kind`` parametrises a test over our loop (on the fake backend in core_fakes)
and stdlib asyncio's loop, which serves as the oracle: a behaviour test that passes on
asyncio and fails on ours names a divergence from CPython.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from core_fakes import LoopFactory, new_layerloop
from layerloop_core import EventLoop

FACTORIES: dict[str, LoopFactory] = {
    "layerloop": new_layerloop,
    "asyncio": asyncio.new_event_loop,
}


@pytest.fixture(params=sorted(FACTORIES))
def loop_factory(request: pytest.FixtureRequest) -> Iterator[LoopFactory]:
    """A loop factory: ours, then asyncio's as the oracle."""
    made: list[asyncio.AbstractEventLoop] = []

    def factory() -> asyncio.AbstractEventLoop:
        loop = FACTORIES[request.param]()
        made.append(loop)
        return loop

    yield factory
    for loop in made:
        if not loop.is_closed() and not loop.is_running():
            loop.close()


@pytest.fixture
def loop(loop_factory: LoopFactory) -> asyncio.AbstractEventLoop:
    """A fresh loop (ours or asyncio's), closed after the test."""
    return loop_factory()


@pytest.fixture
def ours() -> Iterator[EventLoop]:
    """A fresh layerloop EventLoop on the fake backend, closed after the test."""
    loop = new_layerloop()
    yield loop
    if not loop.is_running():
        loop.close()


@pytest.fixture(autouse=True)
def _no_leaked_running_loop() -> Iterator[None]:
    yield
    assert asyncio._get_running_loop() is None, "a test left a running loop behind"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gc.collect()
