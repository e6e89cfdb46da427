"""The CPython tests really run on layerloop: injection works, and a fallback is caught.

Three layers of proof:

1. the injection itself: with the policy ``conftest.py`` installs, every way CPython's
   tests get a loop (``asyncio.new_event_loop()``, ``asyncio.run``, ``asyncio.Runner``,
   ``IsolatedAsyncioTestCase``, the bound mixins' ``create_event_loop``) yields a
   layerloop ``EventLoop`` on the expected backend;
2. the recorder that checks every CPython test flags a stdlib loop and a wrong backend;
3. end to end: CPython tests run with injection switched off
   (``LAYERLOOP_IT_NO_INJECTION=1``) fail, naming the stdlib loop, while the same
   selection passes with injection on.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import unittest
from pathlib import Path

import pytest

import _harness
import layerloop_core
import test_cpython_sock_lowlevel

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def injected() -> object:
    asyncio.set_event_loop_policy(_harness.injection_policy(_harness.DEFAULT_BACKEND))
    yield
    asyncio.set_event_loop_policy(None)


def _assert_ours(loop: asyncio.AbstractEventLoop, backend: str) -> None:
    assert isinstance(loop, layerloop_core.EventLoop), type(loop)
    assert not isinstance(loop, asyncio.BaseEventLoop)
    assert loop.backend.name == backend


def test_new_event_loop_is_ours(injected: object) -> None:
    loop = asyncio.new_event_loop()
    try:
        _assert_ours(loop, _harness.DEFAULT_BACKEND)
    finally:
        loop.close()


def test_asyncio_run_and_runner_use_our_loop(injected: object) -> None:
    async def running() -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    _assert_ours(asyncio.run(running()), _harness.DEFAULT_BACKEND)
    with asyncio.Runner() as runner:
        _assert_ours(runner.get_loop(), _harness.DEFAULT_BACKEND)
        _assert_ours(runner.run(running()), _harness.DEFAULT_BACKEND)


def test_isolated_asyncio_test_case_uses_our_loop(injected: object) -> None:
    seen: list[asyncio.AbstractEventLoop] = []

    class Probe(unittest.IsolatedAsyncioTestCase):
        async def test_probe(self) -> None:
            seen.append(asyncio.get_running_loop())

    result = unittest.TestResult()
    Probe("test_probe").run(result)
    assert result.wasSuccessful(), result.errors + result.failures
    assert len(seen) == 1
    _assert_ours(seen[0], _harness.DEFAULT_BACKEND)


@pytest.mark.parametrize(
    "backend",
    [
        pytest.param(b, marks=pytest.mark.skip(reason=_harness.UNAVAILABLE[b]))
        if b in _harness.UNAVAILABLE
        else b
        for b in _harness.CPYTHON_BACKENDS
    ],
)
def test_mixin_classes_create_our_loop_on_their_backend(backend: str) -> None:
    cls = getattr(test_cpython_sock_lowlevel, f"SockTests_{backend}")
    assert cls.layerloop_backend == backend
    loop = cls("test_sock_accept").create_event_loop()
    try:
        _assert_ours(loop, backend)
    finally:
        loop.close()


def test_recorder_flags_a_stdlib_loop_and_a_wrong_backend() -> None:
    recorder = _harness.Recorder(expected_backend=_harness.DEFAULT_BACKEND)
    other = next((b for b in _harness.BACKENDS if b != _harness.DEFAULT_BACKEND), None)
    assert recorder.problems() == []
    good = _harness.assemble(_harness.DEFAULT_BACKEND)
    recorder.ours.append((good, _harness.DEFAULT_BACKEND))
    assert recorder.problems() == []
    stdlib = asyncio.SelectorEventLoop()  # recorded by the detector, not by this recorder
    recorder.ours.append((stdlib, _harness.DEFAULT_BACKEND))
    recorder.stdlib.append("asyncio.unix_events._UnixSelectorEventLoop")
    try:
        problems = recorder.problems()
        assert any("not a layerloop EventLoop" in p for p in problems)
        assert any("a stdlib loop was created" in p for p in problems)
        if other is not None:
            wrong = _harness.assemble(other)
            try:
                recorder.ours[:] = [(wrong, other)]
                recorder.stdlib.clear()
                assert any(
                    f"expected {_harness.DEFAULT_BACKEND!r}" in p for p in recorder.problems()
                )
            finally:
                wrong.close()
    finally:
        good.close()
        stdlib.close()
        _harness.RECORDER.stdlib.clear()


def test_stdlib_loop_creation_is_detected() -> None:
    before = len(_harness.RECORDER.stdlib)
    loop = asyncio.SelectorEventLoop()
    loop.close()
    try:
        assert len(_harness.RECORDER.stdlib) == before + 1
    finally:
        del _harness.RECORDER.stdlib[before:]


def _run_pytest(*args: str, no_injection: bool) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("LAYERLOOP_IT_NO_INJECTION", None)
    if no_injection:
        env["LAYERLOOP_IT_NO_INJECTION"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


# A policy-injected module (IsolatedAsyncioTestCase) and a mixin bound per backend.
_SELECTION = (
    "tests-integration/test_cpython_locks.py::EventTests",
    f"tests-integration/test_cpython_sock_lowlevel.py::SockTests_{_harness.DEFAULT_BACKEND}"
    "::test_sock_accept",
)


def test_fallback_to_the_stdlib_loop_fails_the_tests() -> None:
    off = _run_pytest(*_SELECTION, no_injection=True)
    output = off.stdout + off.stderr
    assert off.returncode == 1, output
    assert "the loop under test was not layerloop's" in output, output
    assert "a stdlib loop was created" in output, output
    assert "not one created a layerloop loop" in output, output

    on = _run_pytest(*_SELECTION, no_injection=False)
    assert on.returncode == 0, on.stdout + on.stderr
