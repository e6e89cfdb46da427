"""Shared helpers of the real-library tests (``tests-integration/libs/``).

:class:`LoopRunner` runs a test's coroutine on a fresh layerloop loop of one backend, with
``asyncio.Runner(loop_factory=...)`` as an application would, and :meth:`LoopRunner.check`
proves, from anywhere inside the run (a server handler, a library callback), that the code
is running on *that* loop: a library that quietly started its own asyncio loop, or a
fixture that fell back to asyncio's, fails the test.

``LAYERLOOP_LIBS_LOOP=asyncio`` runs the same tests on stdlib asyncio's
``SelectorEventLoop`` (with the matching selector) instead: the oracle, to tell a broken
test from a broken loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import os
import selectors
import ssl
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import TypeVar

import pytest

import layerloop
import layerloop_testing
from layerloop_selector import available_backends

T = TypeVar("T")

#: The loop family under test: "layerloop" (default) or "asyncio" (the oracle).
LOOP_KIND = os.environ.get("LAYERLOOP_LIBS_LOOP", "layerloop")
if LOOP_KIND not in ("layerloop", "asyncio"):
    raise RuntimeError(f"LAYERLOOP_LIBS_LOOP={LOOP_KIND!r}: expected 'layerloop' or 'asyncio'")

#: Readiness backends usable here, in layerloop's order of preference.
SELECTOR_BACKENDS = [name for name in available_backends() if name in ("epoll", "poll", "select")]
#: Every other installed backend (the ``layerloop.backends`` entry points: io_uring from
#: layerloop-proactor): made from its entry point, so that where it cannot run it raises
#: rather than falling back; asyncio (the oracle) has no counterpart of these.
OTHER_BACKENDS = {
    info.name: info
    for info in layerloop_testing.discover_backends()
    if info.name not in SELECTOR_BACKENDS
}
#: The backends the ``runner`` fixture runs on.
BACKENDS = SELECTOR_BACKENDS + (list(OTHER_BACKENDS) if LOOP_KIND == "layerloop" else [])
#: Installed backends that cannot run on this machine, with the reason (a skip).
UNAVAILABLE = {
    name: f"the {name!r} backend cannot run on this machine: {info.unavailable}"
    for name, info in OTHER_BACKENDS.items()
    if info.unavailable is not None
}
DEFAULT_BACKEND = BACKENDS[0]

_SELECTORS: dict[str, Callable[[], selectors.BaseSelector]] = {
    "epoll": getattr(selectors, "EpollSelector", selectors.DefaultSelector),
    "poll": getattr(selectors, "PollSelector", selectors.DefaultSelector),
    "select": selectors.SelectSelector,
}

#: Whether the server fixtures may install Debian packages (tools/services.py).  The
#: noxfile installs them before pytest and sets LAYERLOOP_SERVICES_INSTALL=0: a slow
#: apt-get must not run inside a test's timeout.
INSTALL_SERVICES = os.environ.get("LAYERLOOP_SERVICES_INSTALL", "1") != "0"

#: Per-run bound inside the loop: a hang fails with a traceback of where it waited.
RUN_TIMEOUT = 45.0


def in_ci() -> bool:
    return bool(os.environ.get("CI"))


def unavailable(reason: str) -> None:
    """Skip (module level or inside a fixture) for ``reason``; a failure when ``CI`` is
    set, where every library and server must be there."""
    if in_ci():
        pytest.fail(f"{reason} (CI is set: this must be available in CI)", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


def require(module: str) -> ModuleType:
    """Import a library under test, or skip the module saying why (fail in CI)."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        unavailable(
            f"{module} is not installed ({exc}); the integration nox sessions install "
            "tests-integration/requirements-libs.txt"
        )
        raise  # unreachable: unavailable() raises


class LoopRunner:
    """Runs coroutines on new loops of one backend and checks where code runs."""

    __slots__ = ("backend", "checks", "loops_made")

    def __init__(self, backend: str) -> None:
        self.backend = backend
        self.loops_made: list[asyncio.AbstractEventLoop] = []
        #: How many times :meth:`check` ran (tests assert their handlers did check).
        self.checks = 0

    def new_loop(self) -> asyncio.AbstractEventLoop:
        loop: asyncio.AbstractEventLoop
        if LOOP_KIND == "asyncio":
            loop = asyncio.SelectorEventLoop(_SELECTORS[self.backend]())
        elif self.backend in OTHER_BACKENDS:
            loop = layerloop.new_event_loop(backend=OTHER_BACKENDS[self.backend].new_backend())
        else:
            loop = layerloop.new_event_loop(backend=self.backend)
        self.loops_made.append(loop)
        return loop

    def check(self) -> asyncio.AbstractEventLoop:
        """Assert that the running loop is the one this runner made, of the right kind
        and backend; returns it."""
        loop = asyncio.get_running_loop()
        assert self.loops_made, "no loop was made by the runner"
        assert loop is self.loops_made[-1], f"running on {loop!r}, not on the runner's loop"
        if LOOP_KIND == "asyncio":
            assert type(loop) is asyncio.SelectorEventLoop, type(loop)
        else:
            assert type(loop) is layerloop.EventLoop, f"not layerloop's loop: {type(loop)!r}"
            assert loop.backend.name == self.backend, (loop.backend.name, self.backend)
        self.checks += 1
        return loop

    def run(self, main: Callable[[], Awaitable[T]], timeout: float = RUN_TIMEOUT) -> T:
        """``main()`` on a fresh loop (asyncio.Runner: async generators and the default
        executor are shut down and the loop closed afterwards)."""
        with asyncio.Runner(loop_factory=self.new_loop) as runner:
            result = runner.run(self._checked(main, timeout))
        assert self.loops_made[-1].is_closed()
        return result

    async def _checked(self, main: Callable[[], Awaitable[T]], timeout: float) -> T:
        self.check()
        async with asyncio.timeout(timeout):
            return await main()


def pattern(size: int, seed: int = 0, chunk: int = 64 * 1024) -> Iterator[bytes]:
    """``size`` bytes of a deterministic, non-repeating-per-chunk pattern, in chunks."""
    block = hashlib.sha256(seed.to_bytes(8, "big")).digest() * (chunk // 32 + 1)
    sent = 0
    index = 0
    while sent < size:
        n = min(chunk, size - sent)
        head = index.to_bytes(8, "big")
        yield (head + block)[:n]
        sent += n
        index += 1


def pattern_digest(size: int, seed: int = 0) -> str:
    digest = hashlib.sha256()
    for piece in pattern(size, seed):
        digest.update(piece)
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class TLS:
    """Contexts for a certificate for ``localhost`` and ``127.0.0.1`` made at test time."""

    server: ssl.SSLContext
    client: ssl.SSLContext
    #: Trusts the system CAs only: must refuse our certificate.
    untrusting_client: ssl.SSLContext
