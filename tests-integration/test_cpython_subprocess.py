"""CPython's subprocess tests on layerloop, once per selector backend.

* ``test_subprocess.SubprocessMixin``: the loop-agnostic tests of
  ``asyncio.create_subprocess_*``/``asyncio.subprocess.Process``.  CPython binds it to
  each child watcher (``SubprocessWatcherMixin``) and to the proactor loop; layerloop
  has no watcher API (each child is watched on its own), so it is bound the way the
  proactor binding does it: ``setUp`` makes the loop and nothing else.
* ``test_events.SubprocessTestsMixin``: ``loop.subprocess_exec``/``subprocess_shell``
  with a ``SubprocessProtocol``.  CPython mixes it into its per-selector event loop
  test classes together with ``UnixEventLoopTestsMixin``, whose only addition is a
  child watcher; here it is bound alone, with the same ``setUp``.

Exclusions, with a reason each, are in the "subprocess" sections of
``cpython_exclusions/py3XX.py``.
"""

from __future__ import annotations

from typing import Any

import _harness


def _set_up(self: Any) -> None:
    super(type(self), self).setUp()
    self.loop = self.create_event_loop()
    self.set_event_loop(self.loop)


_harness.bind_mixin(
    globals(),
    "test_subprocess",
    "SubprocessMixin",
    prefix="SubprocessMixinTests",
    attrs={"setUp": _set_up},
)
_harness.bind_mixin(
    globals(),
    "test_events",
    "SubprocessTestsMixin",
    prefix="SubprocessTests",
    attrs={"setUp": _set_up},
)
