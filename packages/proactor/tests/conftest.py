"""Fixtures for layerloop-proactor's tests.

Every test here needs a working io_uring: where the probe says no (a kernel without it,
a seccomp filter, the io_uring_disabled sysctl), the tests that need a ring are skipped
with the probe's reason, and test_proactor_fallback.py proves the fallback instead.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from layerloop_core import EventLoop
from layerloop_proactor import UringBackend, probe_uring

VERDICT = probe_uring()
needs_uring = pytest.mark.skipif(not VERDICT.usable, reason=f"io_uring: {VERDICT.reason}")


@pytest.fixture
def loop() -> Iterator[EventLoop]:
    """A core loop on a fresh io_uring backend, closed after the test if still open."""
    made = EventLoop(UringBackend())
    yield made
    if not made.is_closed():
        made.close()


def pair() -> tuple[socket.socket, socket.socket]:
    """A connected, non-blocking socket pair."""
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    return a, b
