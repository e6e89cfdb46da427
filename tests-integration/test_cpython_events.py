"""CPython's ``test_events.EventLoopTestsMixin`` on layerloop, once per selector backend.

Subclassed the way CPython binds it to its own selector loops (one tiny class per
backend, ``create_event_loop`` returning the loop under test), but without
``UnixEventLoopTestsMixin``, whose only addition is a child watcher for the subprocess
tests (a later issue).  The transport, pipe and subprocess tests are skipped with the
reason listed in ``cpython_exclusions``.
"""

from __future__ import annotations

import _harness

_harness.bind_mixin(globals(), "test_events", "EventLoopTestsMixin", prefix="EventLoopTests")
