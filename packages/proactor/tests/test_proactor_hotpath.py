"""The speed measures of the io_uring data path keep their invariants: SQEs packed by
their 40-byte head stay whole, and the read-pin cache pins only a view that is lent
again and again, never lands data in a buffer the reader has stopped lending, and lets
go of the buffer when reading stops or the stream closes."""

from __future__ import annotations

import asyncio
import socket
from ctypes import addressof, c_char
from typing import Any

import pytest

from conftest import needs_uring, pair
from layerloop_core import EventLoop
from layerloop_proactor import Ring, UringBackend
from layerloop_proactor import _streams as streams_module
from layerloop_proactor._ring import OP_NOP, OP_RECV, OP_SEND

pytestmark = needs_uring


def run_briefly(loop: EventLoop, times: int = 5) -> None:
    for _ in range(times):
        loop.run_until_complete(asyncio.sleep(0.005))


class SwitchingOwner:
    """Lends one view of its current buffer, the same object every read, and can be
    told to switch to a new buffer (as a transport does when its protocol changes)."""

    def __init__(self) -> None:
        self.buffer = bytearray(64)
        self.view = memoryview(self.buffer)
        self.events: list[Any] = []
        self.landed_in: list[int] = []
        self.lent = self.buffer

    def switch(self) -> bytearray:
        old = self.buffer
        self.buffer = bytearray(64)
        self.view = memoryview(self.buffer)
        return old

    def get_read_buffer(self, size_hint: int) -> memoryview:
        self.lent = self.buffer  # where the read lands, whatever happens meanwhile
        return self.view

    def read_done(self, nbytes: int) -> None:
        self.events.append(bytes(self.lent[:nbytes]))
        self.landed_in.append(id(self.lent))

    def read_failed(self, exc: BaseException) -> None:
        self.events.append(exc)


def count_pins(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    made = [0]
    real = streams_module._c_char_from_buffer

    def counting(buf: Any) -> Any:
        made[0] += 1
        return real(buf)

    monkeypatch.setattr(streams_module, "_c_char_from_buffer", counting)
    return made


def feed(loop: EventLoop, peer: socket.socket, messages: list[bytes]) -> None:
    for message in messages:
        peer.send(message)
        run_briefly(loop, 2)


def test_sqe_tail_bytes_stay_zero_after_head_only_packing() -> None:
    ring = Ring(entries=8)
    try:
        # Fill every slot several times with every field non-zero, as far as the head
        # reaches, and withdraw some: bytes 40..63 of every slot must still be zero
        # (buf_index, personality, splice_fd_in, addr3 and pad are never written).
        for round_ in range(3):
            for ud in range(1, 9):
                ring.prep(OP_NOP, 0x7FFF_FFFF, 2**64 - 1, 2**32 - 1, 2**64 - 1, 0, ud, 0xFFFF)
            assert ring.withdraw(3 + round_)
            ring.enter(0)
            ring.completions()
        sqes = bytes(ring._sqes)
        for slot in range(len(sqes) // 64):
            assert sqes[slot * 64 + 40 : slot * 64 + 64] == bytes(24), slot
    finally:
        ring.close()


def test_head_packed_requests_carry_their_fields_to_the_kernel() -> None:
    # A SEND and a RECV packed by their head only: the kernel reads every field right
    # (the bytes arrive, the count is the one asked for, user_data comes back).
    ring = Ring(entries=8)
    a, b = pair()
    try:
        out = bytearray(b"head-only")
        into = bytearray(32)
        pin_out = c_char.from_buffer(out)
        pin_in = c_char.from_buffer(into)
        ring.prep(OP_SEND, a.fileno(), addressof(pin_out), len(out), 0, 0, 41)
        ring.prep(OP_RECV, b.fileno(), addressof(pin_in), len(into), 0, 0, 42)
        seen: dict[int, int] = {}
        for _ in range(50):
            ring.enter(0.02)
            seen.update((ud, res) for ud, res, _ in ring.completions())
            if len(seen) == 2:
                break
        assert seen == {41: len(out), 42: len(out)}
        assert bytes(into[: len(out)]) == b"head-only"
        del pin_out, pin_in
    finally:
        ring.close()
        a.close()
        b.close()


def test_a_view_lent_again_is_pinned_once_and_released_when_reading_stops(
    loop: EventLoop, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = loop.backend
    assert isinstance(backend, UringBackend)
    pins = count_pins(monkeypatch)
    a, b = pair()
    owner = SwitchingOwner()
    stream = backend.open_stream(a, owner)
    stream.start_reading()
    messages = [f"m{i}".encode() for i in range(8)]
    feed(loop, b, messages)
    assert owner.events == messages
    # One pin to watch the first lend, one when the same view came back: then none.
    assert pins[0] == 2
    stream.stop_reading()
    run_briefly(loop)
    owner.view.release()  # the owner's own export: what is left is the backend's
    owner.buffer.extend(b"z")  # no pin is left: the buffer may be resized
    stream.close(lambda: None)
    run_briefly(loop)
    b.close()


def test_switching_buffers_lands_data_in_the_new_one_and_frees_the_old(
    loop: EventLoop,
) -> None:
    backend = loop.backend
    assert isinstance(backend, UringBackend)
    a, b = pair()
    owner = SwitchingOwner()
    stream = backend.open_stream(a, owner)
    stream.start_reading()
    feed(loop, b, [b"one", b"two", b"three"])  # the first buffer's pin is cached now
    first_id = id(owner.buffer)
    # The read in flight still uses the first buffer; the switch shows from the next.
    old = owner.switch()
    feed(loop, b, [b"four", b"five", b"six"])
    assert owner.events == [b"one", b"two", b"three", b"four", b"five", b"six"]
    # "four" completes the read lent before the switch, into the old buffer; every
    # later read lands in the new one (a stale cached address would land them in the
    # old buffer, or anywhere once it is freed).
    assert owner.landed_in == [first_id] * 4 + [id(owner.buffer)] * 2
    assert bytes(owner.buffer[:3]) == b"six"
    old.extend(b"z")  # the old buffer's cached pin went with the switch
    stream.close(lambda: None)
    run_briefly(loop)
    owner.view.release()
    owner.buffer.extend(b"z")  # and the new one's with the close
    b.close()


def test_fresh_views_are_never_cached(loop: EventLoop, monkeypatch: pytest.MonkeyPatch) -> None:
    backend = loop.backend
    assert isinstance(backend, UringBackend)
    pins = count_pins(monkeypatch)

    class FreshOwner(SwitchingOwner):
        def __init__(self) -> None:
            super().__init__()
            self.view.release()  # only the views lent below export the buffer

        def get_read_buffer(self, size_hint: int) -> memoryview:
            return memoryview(self.buffer)  # a new view object every read

        def read_done(self, nbytes: int) -> None:
            super().read_done(nbytes)
            # Resizing once the read is reported must work: nothing stays pinned.
            self.buffer.extend(b"\0")

    a, b = pair()
    owner = FreshOwner()
    stream = backend.open_stream(a, owner)
    stream.start_reading()
    messages = [f"f{i}".encode() for i in range(5)]
    feed(loop, b, messages)
    assert owner.events == messages
    assert len(owner.buffer) == 64 + len(messages)
    assert pins[0] >= len(messages)  # one pin per read: no cache
    stream.close(lambda: None)
    run_briefly(loop)
    b.close()
