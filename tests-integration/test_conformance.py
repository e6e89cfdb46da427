"""layerloop-testing's conformance suites on the assembled loop, every backend, and on
stdlib asyncio as the oracle (a suite failing on the oracle is a wrong suite).

* the loop-level suites on ``layerloop.new_event_loop(backend=...)`` for each installed
  backend (io_uring included; skipped with the reason where it cannot run), and on
  ``asyncio``;
* ``BackendSuite`` on each installed backend, driven directly;
* ``ResolverSuite`` on ``layerloop_dns.ThreadedResolver`` and on
  ``layerloop_core.ExecutorResolver``.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.util
import unittest

import pytest

import _harness
import layerloop_core
import layerloop_dns
import layerloop_selector
import layerloop_testing as kit
from layerloop_core.abc import IOBackend, Resolver

for _backend in _harness.BACKENDS:
    _classes: list[type[unittest.TestCase]] = kit.bind_loop_suites(
        globals(), _backend, functools.partial(_harness.assemble, _backend), kit.LOOP_SUITES
    )
    _name = f"TestBackendSuite_{_backend}"
    globals()[_name] = type(
        _name,
        (kit.BackendSuite, unittest.TestCase),
        {"new_backend": lambda self, _b=_backend: _harness.INSTALLED[_b].new_backend()},
    )
    _classes.append(globals()[_name])
    if _backend in _harness.UNAVAILABLE:
        for _cls in _classes:
            unittest.skip(_harness.UNAVAILABLE[_backend])(_cls)

kit.bind_loop_suites(globals(), kit.STDLIB_NAME, kit.new_stdlib_loop, kit.LOOP_SUITES)


class TestThreadedResolver(kit.ResolverSuite, unittest.TestCase):
    def new_loop(self) -> asyncio.AbstractEventLoop:
        return _harness.assemble(_harness.DEFAULT_BACKEND)

    def new_resolver(self) -> Resolver:
        return layerloop_dns.ThreadedResolver()


class TestExecutorResolver(kit.ResolverSuite, unittest.TestCase):
    def new_loop(self) -> asyncio.AbstractEventLoop:
        return _harness.assemble(_harness.DEFAULT_BACKEND)

    def new_resolver(self) -> Resolver:
        return layerloop_core.ExecutorResolver()


class TestThreadedResolverOnTheOracle(kit.ResolverSuite, unittest.TestCase):
    """A resolver is attached to whatever loop it is given: asyncio's works too."""

    def new_loop(self) -> asyncio.AbstractEventLoop:
        return kit.new_stdlib_loop()

    def new_resolver(self) -> Resolver:
        return layerloop_dns.ThreadedResolver()


def test_every_backend_is_bound() -> None:
    names = {n for n in globals() if n.startswith("TestBackendSuite_")}
    assert names == {f"TestBackendSuite_{b}" for b in _harness.BACKENDS}
    backend = layerloop_selector.new_backend(_harness.DEFAULT_BACKEND)
    try:
        assert isinstance(backend, IOBackend)
    finally:
        backend.close()


def test_an_installed_backend_is_never_left_out() -> None:
    """layerloop-proactor is installed with every package here: its ``uring`` backend is
    bound like the selector backends (skipped with the probe's reason where the kernel
    denies io_uring), and CPython's tests are bound to it unless this run says otherwise."""
    if importlib.util.find_spec("layerloop_proactor") is None:
        pytest.skip("layerloop-proactor is not installed in this environment")
    assert "uring" in _harness.BACKENDS
    assert "uring" in _harness.INSTALLED
    if "uring" not in _harness.CPYTHON_SKIPPED_BACKENDS:
        assert "uring" in _harness.CPYTHON_BACKENDS
    probe = _harness.INSTALLED["uring"].unavailable
    assert ("uring" in _harness.UNAVAILABLE) == (probe is not None)
