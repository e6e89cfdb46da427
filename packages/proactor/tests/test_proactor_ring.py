"""The ctypes driver on its own: setup, batching past a full SQ, EXT_ARG timeouts, the
probe, and buffer pins."""

from __future__ import annotations

import os
import socket
import time

import pytest

from conftest import needs_uring
from layerloop_proactor import BufferPin, Ring, probe_uring
from layerloop_proactor._ring import (
    OP_NOP,
    OP_RECV,
    REQUIRED_OPS,
    SETUP_DEFER_TASKRUN,
    SETUP_SINGLE_ISSUER,
)

pytestmark = needs_uring


@pytest.fixture
def ring() -> Ring:
    made = Ring(entries=8)
    yield made  # type: ignore[misc]
    made.close()


def test_setup_prefers_single_issuer_defer_taskrun(ring: Ring) -> None:
    assert ring.setup_flags == SETUP_SINGLE_ISSUER | SETUP_DEFER_TASKRUN
    assert ring.setup_flags == probe_uring().setup_flags


def test_more_requests_than_sq_entries_are_all_submitted(ring: Ring) -> None:
    for ud in range(1, 101):  # 8 SQ entries: prep must flush full batches itself
        ring.prep(OP_NOP, -1, 0, 0, 0, 0, ud)
    seen: list[int] = []
    deadline = time.monotonic() + 5
    while len(seen) < 100 and time.monotonic() < deadline:
        ring.enter(0.1)
        seen.extend(ud for ud, res, _ in ring.completions() if res == 0)
    assert sorted(seen) == list(range(1, 101))


@pytest.mark.parametrize("timeout", [0.0005, 0.02])
def test_enter_waits_for_the_timeout_and_no_longer(ring: Ring, timeout: float) -> None:
    start = time.perf_counter()
    ring.enter(timeout)
    waited = time.perf_counter() - start
    assert timeout <= waited < timeout + 0.05
    assert list(ring.completions()) == []


def test_probe_reports_every_required_op(ring: Ring) -> None:
    assert set(REQUIRED_OPS) <= ring.supported_ops()


def test_recv_lands_in_the_pinned_buffer(ring: Ring) -> None:
    a, b = socket.socketpair()
    with a, b:
        b.setblocking(False)
        buf = bytearray(16)
        pin = BufferPin()
        ring.prep(OP_RECV, b.fileno(), pin.pin(buf, True), len(buf), 0, 0, 7)
        ring.enter(0)
        assert list(ring.completions()) == []
        a.send(b"hello")
        ring.enter(1)
        assert list(ring.completions()) == [(7, 5, 0)]
        pin.release()
        assert buf[:5] == b"hello"


def test_a_pin_blocks_resizing_and_release_until_released() -> None:
    buf = bytearray(8)
    view = memoryview(buf)
    pin = BufferPin()
    address = pin.pin(view, True)
    assert address and pin.length == 8
    with pytest.raises(BufferError):
        buf.extend(b"x")
    with pytest.raises(BufferError):
        view.release()
    pin.release()
    view.release()
    buf.extend(b"x")
    assert len(buf) == 9


def test_a_read_only_buffer_pins_for_writes_only() -> None:
    pin = BufferPin()
    assert pin.pin(b"abc", False)
    pin.release()
    with pytest.raises(BufferError):
        pin.pin(b"abc", True)
    assert not pin.held


def test_close_is_idempotent_and_releases_the_fd() -> None:
    made = Ring(entries=4)
    fd = made.fileno()
    made.close()
    made.close()
    with pytest.raises(OSError):
        os.fstat(fd)
