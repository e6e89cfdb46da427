"""The ctypes driver on its own: setup, batching past a full SQ, EXT_ARG timeouts, the
probe, and buffer pins."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator

import pytest

from conftest import needs_uring
from layerloop_proactor import BufferPin, Ring, probe_uring
from layerloop_proactor._ring import (
    BUFFERS_OFFERED_FIRST,
    CQE_BUFFER_SHIFT,
    CQE_F_BUFFER,
    CQE_F_MORE,
    OP_NOP,
    OP_RECV,
    REQUIRED_OPS,
    SETUP_DEFER_TASKRUN,
    SETUP_SINGLE_ISSUER,
)

pytestmark = needs_uring


@pytest.fixture
def ring() -> Iterator[Ring]:
    made = Ring(entries=8)
    yield made
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


def _arrivals(ring: Ring, sender: socket.socket, payloads: list[bytes]) -> list[tuple[int, bytes]]:
    """Send each payload on its own and reap its multishot CQE: (buffer id, data)."""
    area, starts = ring.buffer_area()
    seen = []
    for payload in payloads:
        sender.send(payload)
        ring.enter(1)
        ((ud, res, flags),) = ring.completions()
        assert ud == 9 and flags & CQE_F_BUFFER and flags & CQE_F_MORE
        bid = flags >> CQE_BUFFER_SHIFT
        seen.append((bid, area[starts[bid] : starts[bid] + res]))
    return seen


def test_buffers_given_back_in_order_come_round_again(ring: Ring) -> None:
    assert ring.provide_buffers(4, 4096)
    a, b = socket.socketpair()
    with a, b:
        ring.prep_recv_multishot(b.fileno(), 9)
        ring.enter(0)
        for round_ in range(3):  # 12 arrivals through 4 buffers
            seen = _arrivals(ring, a, [b"r%d-%d" % (round_, i) for i in range(4)])
            assert seen == [(i, b"r%d-%d" % (round_, i)) for i in range(4)]
            ring.returned_buffers().extend(bid for bid, _ in seen)  # back at next enter


def test_buffers_given_back_out_of_order_are_renamed_in_the_ring(ring: Ring) -> None:
    """The kernel takes the slots in ring order; a buffer given back out of the order it
    was taken must be written into the slot at the tail, or the kernel would hand out
    the other one (still unread, by the caller's account) twice."""
    assert ring.provide_buffers(4, 4096)
    a, b = socket.socketpair()
    with a, b:
        ring.prep_recv_multishot(b.fileno(), 9)
        ring.enter(0)
        first = _arrivals(ring, a, [b"one", b"two"])
        assert [bid for bid, _ in first] == [0, 1]
        ring.returned_buffers().extend([1, 0])  # the next enter renames slots 0 and 1
        later = _arrivals(ring, a, [b"three", b"four", b"five", b"six"])
        assert later == [(2, b"three"), (3, b"four"), (1, b"five"), (0, b"six")]


def _buffers_used_one_at_a_time(ring: Ring, sender: socket.socket, count: int) -> set[int]:
    """*count* arrivals, one per enter, each buffer given back at once: which were used."""
    used = set()
    for index in range(count):
        ((bid, data),) = _arrivals(ring, sender, [b"m%d" % index])
        assert data == b"m%d" % index
        used.add(bid)
        ring.returned_buffers().append(bid)
    return used


def test_few_buffers_are_offered_until_one_enter_takes_half_of_them(ring: Ring) -> None:
    """The kernel takes the buffers on offer in ring order, so a connection's arrivals
    cycle through all of them: offering few keeps those in the CPU's cache.  A burst
    that takes more than half of them in one enter doubles the offer."""
    assert ring.provide_buffers(64, 4096)
    a, b = socket.socketpair()
    burst = [socket.socketpair() for _ in range(BUFFERS_OFFERED_FIRST // 2 + 1)]
    try:
        ring.prep_recv_multishot(b.fileno(), 9)
        for index, (_, receiver) in enumerate(burst):
            ring.prep_recv_multishot(receiver.fileno(), 100 + index)
        ring.enter(0)
        assert _buffers_used_one_at_a_time(ring, a, 40) == set(range(BUFFERS_OFFERED_FIRST))
        for sender, _ in burst:
            sender.send(b"burst")
        taken: list[int] = []
        deadline = time.monotonic() + 5
        while len(taken) < len(burst) and time.monotonic() < deadline:
            ring.enter(0.1)
            taken += [flags >> CQE_BUFFER_SHIFT for _, _, flags in ring.completions()]
        assert len(taken) == len(burst)
        ring.returned_buffers().extend(taken)  # more than half: the next enter offers more
        used = _buffers_used_one_at_a_time(ring, a, 80)
        assert len(used) == 2 * BUFFERS_OFFERED_FIRST
        assert used <= set(range(64))
    finally:
        for end in (a, b, *(end for pair in burst for end in pair)):
            end.close()
