"""CPython's ``test.test_asyncio.test_runners`` on layerloop, default backend (see _harness.py).

``BaseTest.new_loop`` builds a bare ``asyncio.BaseEventLoop`` with its selector and
self-pipe mocked out, and counts ``shutdown_asyncgens`` calls; its ``TestPolicy`` hands
that loop to ``asyncio.run``/``asyncio.Runner``.  Rebound: the same policy hands out
our loop, whose real ``shutdown_asyncgens`` is wrapped to be counted the same way, so
``asyncio.run``/``Runner`` are tested on layerloop with the assertions unchanged.
"""

from __future__ import annotations

import asyncio
from typing import Any

import _harness


def _new_loop(self: Any) -> asyncio.AbstractEventLoop:
    loop: Any = _harness.new_loop()
    loop.shutdown_ag_run = False
    real_shutdown_asyncgens = loop.shutdown_asyncgens

    async def shutdown_asyncgens() -> None:
        loop.shutdown_ag_run = True
        await real_shutdown_asyncgens()

    loop.shutdown_asyncgens = shutdown_asyncgens
    return loop


_harness.expose_module(globals(), "test_runners", {"BaseTest": {"new_loop": _new_loop}})
