"""CPython's ``test_sock_lowlevel.BaseSockTestsMixin`` on layerloop, once per selector backend."""

from __future__ import annotations

import _harness

_harness.bind_mixin(globals(), "test_sock_lowlevel", "BaseSockTestsMixin", prefix="SockTests")
