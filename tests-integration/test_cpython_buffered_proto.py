"""CPython's ``test_buffered_proto`` on layerloop, once per selector backend.

``BufferedProtocolSelectorTests.new_loop()`` returns ``asyncio.SelectorEventLoop()``:
rebound to return our loop on the class's backend.  The Windows-only proactor class is
not bound.
"""

from __future__ import annotations

import _harness

_harness.bind_classes_per_backend(
    globals(), "test_buffered_proto", ["BufferedProtocolSelectorTests"], loop_method="new_loop"
)
