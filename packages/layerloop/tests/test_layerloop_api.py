"""The meta-package's API: EventLoop, new_event_loop, loop_factory, run, install, policy."""

from __future__ import annotations

import asyncio
import concurrent.futures
import importlib.metadata
import os
import socket
import sys
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import layerloop
import layerloop_core
import layerloop_policy
from layerloop_dns import ThreadedResolver
from layerloop_selector import PollBackend, available_backends

BACKENDS = available_backends()
try:
    from layerloop_proactor import probe_uring
except ImportError:  # the wheel test installs layerloop without the [uring] extra
    URING_SKIP: str | None = "layerloop-proactor (the layerloop[uring] extra) is not installed"
else:
    _verdict = probe_uring()
    URING_SKIP = None if _verdict.usable else f"io_uring is unavailable here: {_verdict.reason}"
#: Every backend name new_event_loop takes: the selector ones, then "uring", skipped with
#: the probe's reason where io_uring cannot run (new_event_loop would fall back).
NAMED = [
    *BACKENDS,
    pytest.param("uring", marks=pytest.mark.skipif(URING_SKIP is not None, reason=str(URING_SKIP))),
]
USABLE = [*BACKENDS, *(["uring"] if URING_SKIP is None else [])]


async def whoami() -> asyncio.AbstractEventLoop:
    await asyncio.sleep(0.001)
    return asyncio.get_running_loop()


@pytest.fixture
def closing() -> Iterator[Callable[[asyncio.AbstractEventLoop], asyncio.AbstractEventLoop]]:
    loops: list[asyncio.AbstractEventLoop] = []

    def track(loop: asyncio.AbstractEventLoop) -> asyncio.AbstractEventLoop:
        loops.append(loop)
        return loop

    yield track
    for loop in loops:
        if not loop.is_closed():
            loop.close()


@pytest.fixture(autouse=True)
def _restore_policy() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        saved = asyncio.get_event_loop_policy()
    yield
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        asyncio.set_event_loop_policy(saved)


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_public_names() -> None:
    assert set(layerloop.__all__) == {
        "BackendSpec",
        "EventLoop",
        "EventLoopPolicy",
        "UringFallbackWarning",
        "__version__",
        "install",
        "loop_factory",
        "new_event_loop",
        "run",
    }
    assert layerloop.__version__ == importlib.metadata.version("layerloop")


@pytest.mark.parametrize("name", ["auto", *NAMED])
def test_new_event_loop_with_each_backend(name: str, closing: Any) -> None:
    loop = closing(layerloop.new_event_loop(name))
    assert isinstance(loop, asyncio.AbstractEventLoop)
    assert isinstance(loop, layerloop.EventLoop)
    assert isinstance(loop, layerloop_core.EventLoop)
    assert loop.backend.name == (BACKENDS[0] if name == "auto" else name)
    assert isinstance(loop.resolver, ThreadedResolver)
    assert loop.run_until_complete(whoami()) is loop


def test_default_backend_is_the_best_available(closing: Any) -> None:
    assert closing(layerloop.new_event_loop()).backend.name == BACKENDS[0]
    assert closing(layerloop.EventLoop()).backend.name == BACKENDS[0]


@pytest.mark.parametrize("name", ["nope", "", "EPOLL", "uring-but-not-yet"])
def test_unknown_backend_names_raise_value_error(name: str) -> None:
    before = open_fds()
    with pytest.raises(ValueError, match="backend"):
        layerloop.new_event_loop(name)
    assert open_fds() == before


def test_backend_missing_on_this_platform_raises_value_error() -> None:
    missing = next(n for n in ("kqueue", "epoll") if n not in BACKENDS)
    with pytest.raises(ValueError, match="not available"):
        layerloop.new_event_loop(missing)


def test_backend_of_the_wrong_type_raises_type_error() -> None:
    with pytest.raises(TypeError, match="backend must be"):
        layerloop.new_event_loop(42)  # type: ignore[arg-type]


def test_backend_object_and_resolver_object(closing: Any) -> None:
    backend = PollBackend()
    resolver = ThreadedResolver()
    loop = closing(layerloop.EventLoop(backend, resolver=resolver))
    assert loop.backend is backend
    assert loop.resolver is resolver


def test_a_failed_construction_closes_the_backend_it_made() -> None:
    class BrokenResolver(ThreadedResolver):
        def attach(self, loop: asyncio.AbstractEventLoop) -> None:
            raise RuntimeError("cannot attach")

    for name in USABLE:
        before = open_fds()
        with pytest.raises(RuntimeError, match="cannot attach"):
            layerloop.new_event_loop(name, resolver=BrokenResolver())
        assert open_fds() == before, name


def test_numeric_getaddrinfo_never_reaches_the_executor(closing: Any) -> None:
    class NoThreads(concurrent.futures.ThreadPoolExecutor):
        def submit(self, *args: Any, **kwargs: Any) -> Any:
            raise AssertionError("a thread hop for a numeric lookup")

    loop = closing(layerloop.new_event_loop())
    executor = NoThreads(1)
    loop.set_default_executor(executor)
    got = loop.run_until_complete(loop.getaddrinfo("::1", 443, type=socket.SOCK_STREAM))
    assert got == socket.getaddrinfo("::1", 443, 0, socket.SOCK_STREAM)
    got = loop.run_until_complete(
        loop.getnameinfo(("127.0.0.1", 80), socket.NI_NUMERICHOST | socket.NI_NUMERICSERV)
    )
    assert got == ("127.0.0.1", "80")
    executor.shutdown()


def test_asyncio_runner_with_new_event_loop() -> None:
    with asyncio.Runner(loop_factory=layerloop.new_event_loop) as runner:
        loop = runner.run(whoami())
        assert isinstance(loop, layerloop.EventLoop)
    assert loop.is_closed()


@pytest.mark.skipif(sys.version_info < (3, 12), reason="asyncio.run takes loop_factory from 3.12")
def test_asyncio_run_with_loop_factory() -> None:
    loop = asyncio.run(whoami(), loop_factory=layerloop.new_event_loop)  # type: ignore[call-arg,unused-ignore]
    assert isinstance(loop, layerloop.EventLoop)
    assert loop.is_closed()


@pytest.mark.parametrize("name", ["auto", *NAMED])
def test_run(name: str) -> None:
    loop = layerloop.run(whoami(), backend=name)
    assert isinstance(loop, layerloop.EventLoop)
    assert loop.backend.name == (BACKENDS[0] if name == "auto" else name)
    assert loop.is_closed()


def test_run_debug_and_result() -> None:
    async def main() -> tuple[bool, int]:
        return asyncio.get_running_loop().get_debug(), 42

    assert layerloop.run(main(), debug=True) == (True, 42)
    assert layerloop.run(main(), debug=False) == (False, 42)


def test_run_bad_backend() -> None:
    coro = whoami()
    with pytest.raises(ValueError):
        layerloop.run(coro, backend="nope")
    coro.close()


def test_loop_factory(closing: Any) -> None:
    factory = layerloop.loop_factory("poll", debug=True, slow_callback_duration=0.5)
    assert isinstance(factory, layerloop_policy.LoopFactory)
    first, second = closing(factory()), closing(factory())
    for loop in (first, second):
        assert isinstance(loop, layerloop.EventLoop)
        assert loop.backend.name == "poll"
        assert loop.get_debug()
        assert loop.slow_callback_duration == 0.5
    assert first.backend is not second.backend
    with asyncio.Runner(loop_factory=factory) as runner:
        assert runner.get_loop().backend.name == "poll"  # type: ignore[attr-defined]
        assert runner.run(whoami()) is runner.get_loop()


def test_loop_factory_with_callables(closing: Any) -> None:
    loop = closing(layerloop.loop_factory(PollBackend, resolver=ThreadedResolver)())
    assert isinstance(loop.backend, PollBackend)
    assert isinstance(loop.resolver, ThreadedResolver)


def test_loop_factory_checks_its_arguments_up_front() -> None:
    with pytest.raises(ValueError):
        layerloop.loop_factory("nope")
    backend = PollBackend()
    with pytest.raises(TypeError, match="serves one loop"):
        layerloop.loop_factory(backend)  # type: ignore[arg-type]
    backend.close()
    with pytest.raises(TypeError, match="resolver must be"):
        layerloop.loop_factory(resolver=ThreadedResolver())  # type: ignore[arg-type]


def test_event_loop_policy_makes_layerloop_loops(closing: Any) -> None:
    policy = layerloop.EventLoopPolicy()
    assert isinstance(policy, asyncio.AbstractEventLoopPolicy)
    assert isinstance(policy, layerloop_policy.EventLoopPolicy)
    assert isinstance(closing(policy.new_event_loop()), layerloop.EventLoop)
    custom = layerloop.EventLoopPolicy(layerloop.loop_factory("select"))
    assert closing(custom.new_event_loop()).backend.name == "select"


def test_install(closing: Any) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        policy = layerloop.install()
    assert type(policy) is layerloop.EventLoopPolicy
    assert asyncio.get_event_loop_policy() is policy
    deprecations = [w for w in caught if issubclass(w.category, DeprecationWarning)]
    if sys.version_info >= (3, 12):
        assert len(deprecations) == 1
        assert deprecations[0].filename == __file__  # the caller, not layerloop
    else:
        assert deprecations == []
    assert isinstance(closing(asyncio.new_event_loop()), layerloop.EventLoop)
    if sys.version_info < (3, 14):
        loop = asyncio.run(whoami())
        assert isinstance(loop, layerloop.EventLoop)
