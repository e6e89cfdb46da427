"""Fixtures for layerloop-transports' tests.

``loop`` is a fresh event loop, parametrised over layerloop's scheduler with
:class:`~layerloop_transports.TransportsMixin` on every installed backend (the
``layerloop.backends`` entry points: epoll, poll, select from layerloop-selector, uring
from layerloop-proactor) *and* stdlib asyncio's ``SelectorEventLoop`` on each selector,
the oracle: a scenario that passes on asyncio and fails on ours names a divergence from
CPython.  A backend that cannot run on this machine (io_uring missing or denied) stays a
parameter, skipped with the reason.  The backend packages are test dependencies only;
the package itself never imports them.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import selectors
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from transports_helpers import BACKENDS, is_ours, new_loop

SELECTOR_CLASSES: dict[str, Any] = {
    "epoll": getattr(selectors, "EpollSelector", None),
    "kqueue": getattr(selectors, "KqueueSelector", None),
    "poll": getattr(selectors, "PollSelector", None),
    "select": selectors.SelectSelector,
}


def _ours(name: str) -> Callable[[], asyncio.AbstractEventLoop]:
    return lambda: new_loop(name)


def _oracle(name: str) -> Callable[[], asyncio.AbstractEventLoop]:
    return lambda: asyncio.SelectorEventLoop(SELECTOR_CLASSES[name]())


#: ``LAYERLOOP_TEST_BACKENDS=epoll,uring`` (comma-separated) narrows the matrix to these
#: backends, and the oracle to the same selectors.  noxfile.py sets it on all but one
#: Python of the default run, which keeps the whole matrix (see docs/development.rst).
CHOSEN: list[str] = [
    name.strip()
    for name in os.environ.get("LAYERLOOP_TEST_BACKENDS", "").split(",")
    if name.strip()
]
if set(CHOSEN) - set(BACKENDS):
    raise RuntimeError(
        f"LAYERLOOP_TEST_BACKENDS names {sorted(set(CHOSEN) - set(BACKENDS))}: installed "
        f"backends are {sorted(BACKENDS)}"
    )
SELECTED = {name: info for name, info in BACKENDS.items() if not CHOSEN or name in CHOSEN}

LOOP_FACTORIES: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {}
#: Parameters that cannot run here, with the reason (the skip message).
UNAVAILABLE: dict[str, str] = {}
for _name, _info in SELECTED.items():
    LOOP_FACTORIES[f"layerloop-{_name}"] = _ours(_name)
    if _info.unavailable is not None:
        UNAVAILABLE[f"layerloop-{_name}"] = (
            f"the {_name!r} backend cannot run on this machine: {_info.unavailable}"
        )
for _name, _info in SELECTED.items():
    if SELECTOR_CLASSES.get(_name) is not None and _info.unavailable is None:
        LOOP_FACTORIES[f"asyncio-{_name}"] = _oracle(_name)


@pytest.fixture(
    params=[
        pytest.param(name, marks=[pytest.mark.skip(reason=UNAVAILABLE[name])])
        if name in UNAVAILABLE
        else name
        for name in LOOP_FACTORIES
    ]
)
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
