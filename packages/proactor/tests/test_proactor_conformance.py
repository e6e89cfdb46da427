"""The conformance kit (layerloop-testing) on the io_uring backend: its backend-level
suite, and every loop-level suite on ``layerloop_core.EventLoop(UringBackend())``."""

from __future__ import annotations

import asyncio
import unittest

import pytest

from conftest import VERDICT
from layerloop_core import EventLoop
from layerloop_core.abc import IOBackend
from layerloop_proactor import UringBackend

try:
    import layerloop_testing as testing
except ImportError:  # pragma: no cover - the wheel test installs the test group
    pytest.skip(
        "layerloop-testing (this package's test dependency group) is not installed",
        allow_module_level=True,
    )

if not VERDICT.usable:  # pragma: no cover - depends on the machine
    pytest.skip(f"io_uring unavailable: {VERDICT.reason}", allow_module_level=True)


def _new_loop() -> asyncio.AbstractEventLoop:
    return EventLoop(UringBackend())


class TestBackendSuite_uring(testing.BackendSuite, unittest.TestCase):
    def new_backend(self) -> IOBackend:
        return UringBackend()


testing.bind_loop_suites(globals(), "uring", _new_loop, testing.LOOP_SUITES)
