"""The kit's suites on layerloop: every discovered backend, directly and inside a loop.

Backends come from the same discovery the pytest plugin uses (the ``layerloop.backends``
entry points and, when installed, ``layerloop_selector``).  With only layerloop-core
installed, the minimal backend in ``minimal_backend.py`` still proves the kit can drive
a backend that is not ours.
"""

from __future__ import annotations

import unittest

from layerloop_core.abc import IOBackend
from layerloop_testing import (
    LOOP_SUITES,
    BackendSuite,
    LoopFromBackend,
    bind_loop_suites,
    discover_backends,
    loop_factories,
)
from minimal_backend import MinimalBackend

for factory in loop_factories(include_stdlib=False):
    if factory.unavailable is None:
        bind_loop_suites(globals(), factory.name, factory, LOOP_SUITES)

for info in discover_backends():
    if info.unavailable is None:
        name = f"TestBackendSuite_{info.name}"
        globals()[name] = type(
            name,
            (BackendSuite, unittest.TestCase),
            {"new_backend": lambda self, _new=info.new_backend: _new()},
        )


class TestMinimalBackend(BackendSuite, unittest.TestCase):
    def new_backend(self) -> IOBackend:
        return MinimalBackend()


class TestMinimalBackendLoop(LoopFromBackend, *LOOP_SUITES, unittest.TestCase):  # type: ignore[misc]
    def new_backend(self) -> IOBackend:
        return MinimalBackend()
