"""EventLoopPolicy and install(), with stdlib asyncio's DefaultEventLoopPolicy as the oracle.

Every behaviour the policy inherits (current loop per thread, main-thread auto-creation
and its version-specific warning, errors) is checked by running the same scenario on
``asyncio.DefaultEventLoopPolicy()`` and on ours and comparing what was observed.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import types
import warnings
from collections.abc import Callable
from typing import Any

import pytest

import layerloop_core
from layerloop_policy import EventLoopPolicy, install
from policy_fakes import SleepBackend


class Factory:
    """A loop factory that remembers the loops it made (layerloop core loops)."""

    def __init__(self) -> None:
        self.made: list[asyncio.AbstractEventLoop] = []

    def __call__(self) -> asyncio.AbstractEventLoop:
        loop = layerloop_core.EventLoop(SleepBackend())
        self.made.append(loop)
        return loop

    def close_all(self) -> None:
        for loop in self.made:
            loop.close()


Observation = tuple[str, Any, list[tuple[type[Warning], str, str]]]


#: Loops the oracle policy created during a test, closed afterwards.
_created: list[asyncio.AbstractEventLoop] = []


def observe(fn: Callable[[], Any]) -> Observation:
    """What *fn* did: its outcome (a loop is reduced to "loop") and its warnings."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # Garbage collection of another test's leftovers is not part of the scenario.
        warnings.simplefilter("ignore", ResourceWarning)
        try:
            result: Any = fn()
        except Exception as exc:
            outcome: tuple[str, Any] = (type(exc).__name__, str(exc))
        else:
            if isinstance(result, asyncio.AbstractEventLoop):
                _created.append(result)
                result = "loop"
            outcome = ("ok", result)
    return (
        *outcome,
        [(w.category, str(w.message), w.filename) for w in caught],
    )


def in_thread(fn: Callable[[], Any]) -> Any:
    box: list[Any] = []
    thread = threading.Thread(target=lambda: box.append(fn()), name="worker")
    thread.start()
    thread.join()
    return box[0]


@pytest.fixture
def factory() -> Any:
    f = Factory()
    yield f
    f.close_all()


@pytest.fixture
def pair(factory: Factory) -> Any:
    """(oracle policy, our policy); loops the oracle makes are closed afterwards."""
    yield asyncio.DefaultEventLoopPolicy(), EventLoopPolicy(factory)
    while _created:
        _created.pop().close()


def test_is_a_default_asyncio_policy(factory: Factory) -> None:
    policy = EventLoopPolicy(factory)
    assert isinstance(policy, asyncio.AbstractEventLoopPolicy)
    assert isinstance(policy, asyncio.DefaultEventLoopPolicy)
    assert policy.loop_factory is factory
    assert repr(factory) in repr(policy)


def test_loop_factory_must_be_callable() -> None:
    with pytest.raises(TypeError, match="loop_factory must be callable"):
        EventLoopPolicy(42)  # type: ignore[arg-type]


def test_new_event_loop_makes_a_new_loop_each_time(factory: Factory) -> None:
    policy = EventLoopPolicy(factory)
    first, second = policy.new_event_loop(), policy.new_event_loop()
    assert first is not second
    assert factory.made == [first, second]
    assert isinstance(first, layerloop_core.EventLoop)
    # new_event_loop() does not make the loop current.
    policy.set_event_loop(None)
    with pytest.raises(RuntimeError):
        policy.get_event_loop()


def test_main_thread_auto_creation_matches_stdlib(pair: Any, factory: Factory) -> None:
    oracle, ours = pair
    expected = observe(oracle.get_event_loop)
    got = observe(ours.get_event_loop)
    assert got == expected
    assert got[0] == "ok"
    # Our loop came from the factory, and is now current (no second creation).
    assert factory.made == [ours.get_event_loop()]
    assert observe(ours.get_event_loop) == observe(oracle.get_event_loop)
    assert len(factory.made) == 1
    if sys.version_info >= (3, 12):
        assert [(w[0], w[1]) for w in got[2]] == [
            (DeprecationWarning, "There is no current event loop")
        ]
        assert got[2][0][2] == __file__  # attributed to the caller
    else:
        assert got[2] == []


def test_no_auto_creation_after_set_event_loop_none(pair: Any, factory: Factory) -> None:
    oracle, ours = pair
    for policy in pair:
        policy.set_event_loop(None)
    expected = observe(oracle.get_event_loop)
    assert observe(ours.get_event_loop) == expected
    assert expected[0] == "RuntimeError"
    assert factory.made == []


def test_no_auto_creation_in_other_threads(pair: Any, factory: Factory) -> None:
    oracle, ours = pair
    expected = in_thread(lambda: observe(oracle.get_event_loop))
    got = in_thread(lambda: observe(ours.get_event_loop))
    assert got == expected
    assert got[0] == "RuntimeError"
    assert "There is no current event loop in thread" in got[1]
    assert factory.made == []


def test_current_loop_is_per_thread(factory: Factory) -> None:
    policy = EventLoopPolicy(factory)
    main_loop = policy.new_event_loop()
    policy.set_event_loop(main_loop)

    def other() -> tuple[asyncio.AbstractEventLoop, asyncio.AbstractEventLoop]:
        loop = policy.new_event_loop()
        policy.set_event_loop(loop)
        return loop, policy.get_event_loop()

    thread_loop, seen_in_thread = in_thread(other)
    assert seen_in_thread is thread_loop is not main_loop
    assert policy.get_event_loop() is main_loop


def test_set_event_loop_type_check_matches_stdlib(pair: Any) -> None:
    oracle, ours = pair
    expected = observe(lambda: oracle.set_event_loop(object()))
    got = observe(lambda: ours.set_event_loop(object()))
    assert got == expected
    assert got[0] == "TypeError"


def test_module_level_functions_use_the_installed_policy(factory: Factory) -> None:
    asyncio.set_event_loop_policy(EventLoopPolicy(factory))
    loop = asyncio.new_event_loop()
    assert factory.made == [loop]
    asyncio.set_event_loop(loop)
    assert asyncio.get_event_loop() is loop
    asyncio.set_event_loop(None)


@pytest.mark.skipif(sys.version_info >= (3, 14), reason="asyncio.run ignores policies on 3.14+")
def test_plain_asyncio_run_runs_on_the_factory_loop(factory: Factory) -> None:
    asyncio.set_event_loop_policy(EventLoopPolicy(factory))

    async def main() -> asyncio.AbstractEventLoop:
        await asyncio.sleep(0.001)
        return asyncio.get_running_loop()

    loop = asyncio.run(main())
    assert factory.made == [loop]
    assert isinstance(loop, layerloop_core.EventLoop)
    assert loop.is_closed()


def test_install_sets_the_policy(factory: Factory) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        policy = install(factory)
    assert asyncio.get_event_loop_policy() is policy
    assert isinstance(policy, EventLoopPolicy)
    assert policy.loop_factory is factory
    deprecations = [w for w in caught if issubclass(w.category, DeprecationWarning)]
    if sys.version_info >= (3, 12):
        assert len(deprecations) == 1
        assert "install() is deprecated" in str(deprecations[0].message)
        assert "loop_factory" in str(deprecations[0].message)
        assert deprecations[0].filename == __file__
    else:
        assert deprecations == []


@pytest.mark.skipif(sys.version_info < (3, 12), reason="install() only warns from 3.12 on")
def test_install_warning_names_the_first_caller_outside_layerloop(factory: Factory) -> None:
    # A wrapper living in a layerloop package (as layerloop.install() does) must not be
    # blamed: the warning goes to whoever called the wrapper.
    wrapper = types.ModuleType("layerloop_fake_wrapper")
    exec(
        compile(
            "def install_wrapper(factory, install):\n    return install(factory)\n",
            "<layerloop wrapper>",
            "exec",
        ),
        wrapper.__dict__,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        wrapper.install_wrapper(factory, install)
    assert [w.filename for w in caught] == [__file__]


def test_install_with_a_policy_subclass(factory: Factory) -> None:
    class MyPolicy(EventLoopPolicy):
        pass

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        policy = install(factory, policy_class=MyPolicy)
    assert type(policy) is MyPolicy
    assert asyncio.get_event_loop_policy() is policy
    assert policy.new_event_loop() is factory.made[-1]


def test_asyncio_get_event_loop_through_the_installed_policy(pair: Any, factory: Factory) -> None:
    # The module-level function, as most legacy code calls it, with each policy installed.
    observations = []
    for policy in pair:
        asyncio.set_event_loop_policy(policy)
        observations.append(observe(asyncio.get_event_loop))
        observations.append(observe(asyncio.get_event_loop))  # now current: no warning
    oracle_first, oracle_again, ours_first, ours_again = observations
    assert ours_first == oracle_first
    assert ours_again == oracle_again
    assert ours_again[2] == []
    assert len(factory.made) == 1
