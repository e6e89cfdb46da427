"""Fixtures for layerloop-transports' tests.

``loop`` is a fresh event loop, parametrised over layerloop's scheduler with
:class:`~layerloop_transports.TransportsMixin` on every usable readiness backend *and*
stdlib asyncio's ``SelectorEventLoop`` on the matching selector, the oracle: a scenario
that passes on asyncio and fails on ours names a divergence from CPython.
layerloop-selector is a test dependency only; the package itself never imports it.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import selectors
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from layerloop_selector import available_backends, new_backend
from transports_helpers import TransportsLoop, is_ours

SELECTOR_CLASSES: dict[str, Any] = {
    "epoll": getattr(selectors, "EpollSelector", None),
    "kqueue": getattr(selectors, "KqueueSelector", None),
    "poll": getattr(selectors, "PollSelector", None),
    "select": selectors.SelectSelector,
}


def _ours(name: str) -> Callable[[], asyncio.AbstractEventLoop]:
    return lambda: TransportsLoop(new_backend(name))


def _oracle(name: str) -> Callable[[], asyncio.AbstractEventLoop]:
    return lambda: asyncio.SelectorEventLoop(SELECTOR_CLASSES[name]())


LOOP_FACTORIES: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {}
for _name in available_backends():
    LOOP_FACTORIES[f"layerloop-{_name}"] = _ours(_name)
for _name in available_backends():
    if SELECTOR_CLASSES[_name] is not None:
        LOOP_FACTORIES[f"asyncio-{_name}"] = _oracle(_name)


@pytest.fixture(params=list(LOOP_FACTORIES))
def loop(request: pytest.FixtureRequest) -> Iterator[asyncio.AbstractEventLoop]:
    """A fresh event loop: layerloop on each backend, then asyncio on each selector."""
    made = LOOP_FACTORIES[request.param]()
    if is_ours(made):
        assert made.backend.name == request.param.removeprefix("layerloop-")  # type: ignore[attr-defined]
    else:
        assert type(made) is asyncio.SelectorEventLoop
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
