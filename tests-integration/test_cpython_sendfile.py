"""CPython's ``test_sendfile`` on layerloop, once per backend.

Bound as CPython binds it to its own loops: ``SendfileTestsBase`` (``SendfileMixin`` +
``SockSendfileMixin``) subclassed with ``test_utils.TestCase`` per backend.  The two
mixins share helpers (``reduce_receive_buffer_size``, ``reduce_send_buffer_size`` live
on ``SockSendfileMixin`` and are called by ``SendfileMixin.prepare_sendfile``), so they
only work composed.  The class covers

* ``loop.sock_sendfile`` on a connected socket, received by a ``loop.create_server``
  protocol (``SockSendfileMixin``);
* ``loop.sendfile`` on a transport, between a ``create_server`` and a
  ``create_connection(sock=...)`` transport, plain and TLS (``SendfileMixin``).

The tests, their helpers and their assertions are CPython's, unchanged.
"""

from __future__ import annotations

import _harness

_harness.bind_mixin(globals(), "test_sendfile", "SendfileTestsBase", prefix="SendfileTests")
