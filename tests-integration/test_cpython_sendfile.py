"""CPython's ``test_sendfile`` on layerloop, once per selector backend.

Two mixins, bound as CPython binds them to its own selector loops (it combines them in
``SendfileTestsBase``; they are bound separately here so that each keeps its own class
name in the report):

* ``SockSendfileMixin``: ``loop.sock_sendfile`` on a connected socket, received by a
  ``loop.create_server`` protocol;
* ``SendfileMixin``: ``loop.sendfile`` on a transport, between a ``create_server`` and a
  ``create_connection(sock=...)`` transport (plain and TLS).

The tests, their helpers and their assertions are CPython's, unchanged.
"""

from __future__ import annotations

import _harness

_harness.bind_mixin(globals(), "test_sendfile", "SockSendfileMixin", prefix="SockSendfileTests")
_harness.bind_mixin(globals(), "test_sendfile", "SendfileMixin", prefix="SendfileTests")
