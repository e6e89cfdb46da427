"""CPython's ``test.test_asyncio.test_taskgroups`` on layerloop, default backend.

See ``_harness.py`` for how the loop is injected.
"""

from __future__ import annotations

import _harness

_harness.expose_module(globals(), "test_taskgroups")
