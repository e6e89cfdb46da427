"""CPython's ``test_events.EventLoopTestsMixin`` on layerloop, once per selector backend.

Subclassed the way CPython binds it to its own selector loops (one tiny class per
backend, ``create_event_loop`` returning the loop under test), but without
``UnixEventLoopTestsMixin``, whose only addition is a child watcher for the subprocess
tests (a later issue).  The networking tests (connections, servers, Unix sockets) run;
the few left out are listed with their reason in ``cpython_exclusions``.

``test_prompt_cancellation`` ends, after its assertions, with
``loop._stop_serving(r)``: ``BaseSelectorEventLoop``'s private "stop watching this
socket and close it".  Each loop gets exactly that, built from the public API.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable

import _harness


def _stop_serving(loop: asyncio.AbstractEventLoop) -> Callable[[socket.socket], None]:
    def stop_serving(sock: socket.socket) -> None:
        loop.remove_reader(sock)
        sock.close()

    return stop_serving


_harness.bind_mixin(
    globals(),
    "test_events",
    "EventLoopTestsMixin",
    prefix="EventLoopTests",
    shims={"_stop_serving": _stop_serving},
)
