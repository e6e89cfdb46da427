"""CPython's ``test_server`` on layerloop, once per selector backend.

``SelectorStartServerTests`` builds its loop in ``new_loop()`` (``FunctionalTestCaseMixin``),
returning ``asyncio.SelectorEventLoop()``: rebound to return our loop on the class's
backend.  ``TestServer2`` (3.12+) and ``UnixServerCleanupTests`` (3.13+) are
``IsolatedAsyncioTestCase`` classes and get our loop through the injected policy.
``ProactorStartServerTests`` is Windows-only and not bound.
"""

from __future__ import annotations

import _harness

_CLASSES = [
    name
    for name in ("SelectorStartServerTests", "TestServer2", "UnixServerCleanupTests")
    if hasattr(_harness.cpython_module("test_server"), name)
]

_harness.bind_classes_per_backend(globals(), "test_server", _CLASSES, loop_method="new_loop")
