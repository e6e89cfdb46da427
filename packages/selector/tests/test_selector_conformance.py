"""The conformance kit (layerloop-testing) on every backend of this package: its
backend-level suite, and every loop-level suite on ``layerloop_core.EventLoop``."""

from __future__ import annotations

import asyncio
import unittest
from collections.abc import Callable
from typing import Any

import pytest

from conftest import AVAILABLE, BACKEND_CLASSES
from layerloop_core import EventLoop
from layerloop_core.abc import IOBackend

try:
    import layerloop_testing as testing
except ImportError:  # pragma: no cover - the wheel test installs the test group
    pytest.skip(
        "layerloop-testing (this package's test dependency group) is not installed",
        allow_module_level=True,
    )


def _loop_factory(cls: Any) -> Callable[[], asyncio.AbstractEventLoop]:
    return lambda: EventLoop(cls())


def _bind_backend_suite(name: str, cls: Any) -> None:
    def new_backend(self: object) -> IOBackend:
        made: IOBackend = cls()
        return made

    suite_name = f"TestBackendSuite_{name}"
    globals()[suite_name] = type(
        suite_name,
        (testing.BackendSuite, unittest.TestCase),
        {"new_backend": new_backend, "__module__": __name__, "__qualname__": suite_name},
    )


for _name in AVAILABLE:
    _bind_backend_suite(_name, BACKEND_CLASSES[_name])
    testing.bind_loop_suites(
        globals(),
        _name,
        _loop_factory(BACKEND_CLASSES[_name]),
        (*testing.LOOP_SUITES, testing.StreamBackendSuite),
    )
