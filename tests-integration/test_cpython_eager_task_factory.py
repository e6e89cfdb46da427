"""CPython's ``test.test_asyncio.test_eager_task_factory`` on layerloop, default backend (see _harness.py)."""

from __future__ import annotations

import sys

import _harness
import pytest

if sys.version_info < (3, 12):
    pytest.skip("test_eager_task_factory is new in CPython 3.12", allow_module_level=True)

_harness.expose_module(globals(), "test_eager_task_factory")
