"""CPython's ``test.test_asyncio.test_eager_task_factory`` on layerloop, default backend.

See ``_harness.py`` for how the loop is injected.
"""

from __future__ import annotations

import sys

import pytest

import _harness

if sys.version_info < (3, 12):
    pytest.skip("test_eager_task_factory is new in CPython 3.12", allow_module_level=True)

_harness.expose_module(globals(), "test_eager_task_factory")
