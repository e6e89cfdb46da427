"""Finding the backends installed next to the kit, without depending on any of them.

Backends are found through one source, the entry-point group ``layerloop.backends``:
each entry point is named after the backend and refers to a zero-argument callable
returning a new, unattached :class:`~layerloop_core.abc.IOBackend`; the callable raises
``OSError``, ``NotImplementedError`` or ``RuntimeError`` where the backend cannot work
on this machine (``layerloop_selector``'s stand-ins for foreign kernels raise the
latter).  ``layerloop-selector`` registers its backends there, and so does any
third-party backend package::

    [project.entry-points."layerloop.backends"]
    uring = "my_uring_backend:UringBackend"

The kit never imports a backend package by name: it depends on layerloop-core alone.

Each backend is probed once (created and closed).  A backend that cannot be created is
not dropped: it is reported with the reason, and the pytest plugin turns it into a
skipped parameter, so a broken backend is visible rather than silently untested.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.metadata
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from layerloop_core.abc import IOBackend

__all__ = [
    "BACKENDS_ENTRY_POINT_GROUP",
    "STDLIB_NAME",
    "BackendInfo",
    "LoopFactory",
    "discover_backends",
    "loop_factories",
    "new_stdlib_loop",
]

BACKENDS_ENTRY_POINT_GROUP = "layerloop.backends"
#: The id of the oracle: CPython's own loop.
STDLIB_NAME = "asyncio"


@dataclass(frozen=True, slots=True)
class BackendInfo:
    """One discovered backend."""

    name: str
    #: Zero-argument callable returning a new backend.
    new_backend: Callable[[], IOBackend]
    #: Where it came from: ``"entry point my_pkg:Backend"``.
    origin: str
    #: ``None`` when a probe instance could be created, else why not.
    unavailable: str | None = None


@dataclass(frozen=True, slots=True)
class LoopFactory:
    """A named zero-argument callable returning a new event loop."""

    name: str
    factory: Callable[[], asyncio.AbstractEventLoop]
    #: As :attr:`BackendInfo.unavailable`; always ``None`` for the stdlib oracle.
    unavailable: str | None = None

    def __call__(self) -> asyncio.AbstractEventLoop:
        return self.factory()


def new_stdlib_loop() -> asyncio.AbstractEventLoop:
    """CPython's own default loop, whatever event loop policy is installed."""
    if sys.platform == "win32":
        return asyncio.ProactorEventLoop()
    else:
        return asyncio.SelectorEventLoop()


def _probe(new_backend: Callable[[], IOBackend]) -> str | None:
    try:
        backend = new_backend()
    except (OSError, NotImplementedError, RuntimeError) as exc:
        return f"{type(exc).__name__}: {exc}"
    backend.close()
    return None


def _from_entry_points() -> list[BackendInfo]:
    found: list[BackendInfo] = []
    for ep in importlib.metadata.entry_points(group=BACKENDS_ENTRY_POINT_GROUP):
        origin = f"entry point {ep.value}"
        try:
            target = ep.load()
        except ImportError as exc:
            found.append(BackendInfo(ep.name, _unloadable(exc), origin, f"cannot import: {exc}"))
            continue
        found.append(BackendInfo(ep.name, target, origin, _probe(target)))
    return found


def _unloadable(exc: ImportError) -> Callable[[], IOBackend]:
    def fail() -> IOBackend:
        raise exc

    return fail


def discover_backends() -> list[BackendInfo]:
    """Every installed backend this platform has, each name once (the first
    registration wins), in the order the entry points are listed.

    A backend for another kernel (its probe raises ``NotImplementedError``, as kqueue
    does on Linux) is left out: there is nothing to test here.  A backend that should
    work but could not be created is kept, with the reason, so it shows as skipped.
    """
    merged: dict[str, BackendInfo] = {}
    for info in _from_entry_points():
        if info.unavailable is not None and info.unavailable.startswith(
            "NotImplementedError"
        ):
            continue
        merged.setdefault(info.name, info)
    return list(merged.values())


def _loop_from(new_backend: Callable[[], IOBackend]) -> asyncio.AbstractEventLoop:
    # Imported here so that merely loading the pytest plugin never imports the
    # scheduler: a broken layerloop_core must fail the tests, not every pytest run.
    from layerloop_core import EventLoop  # noqa: PLC0415

    return EventLoop(new_backend())


def loop_factories(*, include_stdlib: bool = True) -> list[LoopFactory]:
    """A loop factory per discovered backend (``EventLoop(backend)``), then the oracle."""
    factories = [
        LoopFactory(info.name, functools.partial(_loop_from, info.new_backend), info.unavailable)
        for info in discover_backends()
    ]
    if include_stdlib:
        factories.append(LoopFactory(STDLIB_NAME, new_stdlib_loop))
    return factories
