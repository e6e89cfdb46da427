"""Fixtures for layerloop-selector's tests.

Two levels:

* ``backend``: a bare backend of every kind usable here, attached to :class:`StandInLoop`
  (the few loop services a backend uses) with an ``enqueue`` that collects handles in
  ``backend_enqueued``.  These tests drive ``poll`` by hand and need no scheduler.
* ``loop``: a real event loop, parametrised over layerloop's ``EventLoop`` on every
  usable backend *and* stdlib asyncio's ``SelectorEventLoop`` on the matching selector,
  which serves as the oracle: a scenario that passes on asyncio and fails on ours names a
  divergence from CPython.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import selectors
import socket
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from layerloop_core import EventLoop
from layerloop_selector import (
    EpollBackend,
    KqueueBackend,
    PollBackend,
    SelectBackend,
    available_backends,
)

BACKEND_CLASSES: dict[str, Any] = {
    "epoll": EpollBackend,
    "kqueue": KqueueBackend,
    "poll": PollBackend,
    "select": SelectBackend,
}
SELECTOR_CLASSES: dict[str, Any] = {
    "epoll": getattr(selectors, "EpollSelector", None),
    "kqueue": getattr(selectors, "KqueueSelector", None),
    "poll": getattr(selectors, "PollSelector", None),
    "select": selectors.SelectSelector,
}
AVAILABLE = available_backends()


class StandInLoop:
    """The loop services a backend touches: ``get_debug`` (for ``asyncio.Handle``) and
    ``create_future`` (for the ``sock_*`` waits), nothing else."""

    def get_debug(self) -> bool:
        return False

    def create_future(self) -> asyncio.Future[Any]:
        raise AssertionError("backend-level tests do not run sock_* operations")


def make_handle(callback: Callable[..., object] = print, *args: object) -> asyncio.Handle:
    return asyncio.Handle(callback, args, StandInLoop())  # type: ignore[arg-type]


@pytest.fixture
def backend_enqueued() -> list[asyncio.Handle]:
    return []


@pytest.fixture(params=AVAILABLE)
def backend(
    request: pytest.FixtureRequest, backend_enqueued: list[asyncio.Handle]
) -> Iterator[Any]:
    """A fresh backend of each usable kind, attached to a :class:`StandInLoop`."""
    made = BACKEND_CLASSES[request.param]()
    made.attach(StandInLoop(), backend_enqueued.append)
    yield made
    made.close()


@pytest.fixture
def sockpair() -> Iterator[tuple[socket.socket, socket.socket]]:
    """A connected pair of non-blocking stream sockets."""
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    with a, b:
        yield a, b


def _ours(name: str) -> Callable[[], asyncio.AbstractEventLoop]:
    return lambda: EventLoop(BACKEND_CLASSES[name]())


def _oracle(name: str) -> Callable[[], asyncio.AbstractEventLoop]:
    return lambda: asyncio.SelectorEventLoop(SELECTOR_CLASSES[name]())


LOOP_FACTORIES: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {}
for _name in AVAILABLE:
    LOOP_FACTORIES[f"layerloop-{_name}"] = _ours(_name)
for _name in AVAILABLE:
    if SELECTOR_CLASSES[_name] is not None:
        LOOP_FACTORIES[f"asyncio-{_name}"] = _oracle(_name)


@pytest.fixture(params=list(LOOP_FACTORIES))
def loop(request: pytest.FixtureRequest) -> Iterator[asyncio.AbstractEventLoop]:
    """A fresh event loop: layerloop on each backend, then asyncio on each selector."""
    made = LOOP_FACTORIES[request.param]()
    if isinstance(made, EventLoop):
        # Guard against a factory that silently hands back something else.
        assert made.backend.name == request.param.removeprefix("layerloop-")
    yield made
    if not made.is_closed():
        # What asyncio.run does on the way out: cancel what a failed test left running.
        leftovers = asyncio.all_tasks(made)
        for task in leftovers:
            task.cancel()
        with contextlib.suppress(Exception):
            made.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))
            made.run_until_complete(made.shutdown_default_executor())
        made.close()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gc.collect()


@pytest.fixture(params=AVAILABLE)
def our_loop(request: pytest.FixtureRequest) -> Iterator[EventLoop]:
    """A fresh layerloop EventLoop on each usable backend (for tests of the backend seam
    itself, which asyncio's loop does not have)."""
    made = EventLoop(BACKEND_CLASSES[request.param]())
    yield made
    if not made.is_closed():
        made.close()


def is_ours(loop: asyncio.AbstractEventLoop) -> bool:
    return isinstance(loop, EventLoop)
