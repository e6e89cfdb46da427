"""CPython's ``test.test_asyncio.test_ssl`` (``TestSSL``: TLS servers and clients,
``start_tls``, flushing and shutdown, timeouts) on layerloop, once per selector backend.

``TestSSL`` asks for its loop with ``asyncio.new_event_loop()``, which the injection
policy of ``conftest.py`` answers with our loop on the class's backend.
"""

from __future__ import annotations

import _harness

_harness.bind_classes_per_backend(globals(), "test_ssl", ["TestSSL"])
