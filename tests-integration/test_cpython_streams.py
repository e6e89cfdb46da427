"""CPython's ``test_streams.StreamTests`` on layerloop, once per selector backend.

``StreamTests.setUp`` calls ``asyncio.new_event_loop()``, which returns our loop on the
class's backend through the injected policy; the tests that run servers in a thread
(``test_utils.run_test_server``) talk to our transports over real sockets.
"""

from __future__ import annotations

import _harness

_harness.bind_classes_per_backend(globals(), "test_streams", ["StreamTests"])
