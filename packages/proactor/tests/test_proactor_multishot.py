"""Bytes reads on io_uring: one multishot ``RECV`` per connection into the backend's
provided-buffer ring, for owners that take ``bytes`` (``BytesStreamOwner``).

What must hold: one request for many messages, data in arrival order across pauses,
buffer exhaustion (``ENOBUFS``) and switches to lent buffers and back, end of stream and
errors reported once, and closing (the stream or the loop) with the multishot armed
leaves no fd, no request and no buffer behind."""

from __future__ import annotations

import asyncio
import gc
import os
import socket
from typing import Any

import pytest

from conftest import needs_uring, pair
from layerloop_core import EventLoop
from layerloop_proactor import Ring, UringBackend
from layerloop_proactor import _backend as backend_module
from layerloop_proactor._ring import OP_RECV

pytestmark = needs_uring


def run_briefly(loop: EventLoop, times: int = 5) -> None:
    for _ in range(times):
        loop.run_until_complete(asyncio.sleep(0.005))


def run_until(loop: EventLoop, condition: Any, timeout: float = 5.0) -> None:
    async def wait() -> None:
        while not condition():
            await asyncio.sleep(0.002)

    loop.run_until_complete(asyncio.wait_for(wait(), timeout))


class CountingRing(Ring):
    """A ring that counts the receive requests it is asked for."""

    __slots__ = ("multishots", "recvs")

    def __init__(self) -> None:
        super().__init__(64)
        self.multishots = 0
        self.recvs = 0

    def prep(  # noqa: PLR0917 - the driver's signature
        self,
        opcode: int,
        fd: int,
        addr: int,
        length: int,
        offset: int,
        op_flags: int,
        user_data: int,
        ioprio: int = 0,
    ) -> None:
        if opcode == OP_RECV:
            self.recvs += 1
        super().prep(opcode, fd, addr, length, offset, op_flags, user_data, ioprio)

    def prep_recv_multishot(self, fd: int, user_data: int) -> None:
        self.multishots += 1
        super().prep_recv_multishot(fd, user_data)


class BytesOwner:
    """A BytesStreamOwner recording what it is told; lends a buffer when it stops
    wanting bytes (``bulk_after``: after a read of at least that many bytes)."""

    def __init__(self, bulk_after: int | None = None) -> None:
        self.events: list[Any] = []
        self.wants_bytes = True
        self.bulk_after = bulk_after
        self.buffer = bytearray(256 * 1024)
        self.lent = 0
        self.on_bytes: Any = None

    def read_bytes(self, data: bytes) -> None:
        self.events.append(data)
        if self.bulk_after is not None and len(data) >= self.bulk_after:
            self.wants_bytes = False
        if self.on_bytes is not None:
            self.on_bytes(data)

    def get_read_buffer(self, size_hint: int) -> memoryview:
        self.lent += 1
        return memoryview(self.buffer)

    def read_done(self, nbytes: int) -> None:
        self.events.append(bytes(self.buffer[:nbytes]))
        if nbytes < 16 * 1024:
            self.wants_bytes = True

    def read_failed(self, exc: BaseException) -> None:
        self.events.append(exc)

    def data(self) -> bytes:
        return b"".join(e for e in self.events if isinstance(e, bytes))


def counting_loop(**kwargs: Any) -> tuple[EventLoop, CountingRing]:
    ring = CountingRing()
    return EventLoop(UringBackend(driver=ring, **kwargs)), ring


def uring_of(loop: EventLoop) -> UringBackend:
    backend = loop.backend
    assert isinstance(backend, UringBackend)
    return backend


def reading_stream(
    loop: EventLoop, owner: BytesOwner | None = None
) -> tuple[UringBackend, socket.socket, Any, BytesOwner, Any]:
    """A stream on one end of a socket pair, reading for *owner* (a new BytesOwner by
    default); returns the backend, the peer end, the stream's socket, owner, stream."""
    backend = uring_of(loop)
    a, b = pair()
    owner = BytesOwner() if owner is None else owner
    stream = backend.open_stream(a, owner)
    stream.start_reading()
    return backend, b, a, owner, stream


def test_one_multishot_request_reads_many_messages() -> None:
    loop, ring = counting_loop()
    try:
        backend, b, _a, owner, stream = reading_stream(loop)
        assert backend.reads_bytes
        for index in range(30):
            b.send(b"message %d;" % index)
            run_until(loop, lambda i=index: owner.data().endswith(b"message %d;" % i))
        assert owner.data() == b"".join(b"message %d;" % i for i in range(30))
        assert all(isinstance(e, bytes) for e in owner.events)
        assert ring.multishots == 1  # armed once, for every message
        assert ring.recvs == 0  # no single-shot RECV, no buffer of the owner's lent
        assert owner.lent == 0
        stream.close(lambda: None)
        run_briefly(loop)
        b.close()
    finally:
        loop.close()


def test_lent_buffers_only_when_asked() -> None:
    """``recv_buffers=0``: no buffer ring, every read goes into the owner's buffer."""
    loop, ring = counting_loop(recv_buffers=0)
    try:
        backend, b, _a, owner, stream = reading_stream(loop)
        assert not backend.reads_bytes
        for index in range(5):
            b.send(b"m%d" % index)
            run_until(loop, lambda i=index: owner.data().endswith(b"m%d" % i))
        assert ring.multishots == 0
        assert ring.recvs >= 5
        stream.close(lambda: None)
        run_briefly(loop)
        b.close()
    finally:
        loop.close()


def test_buffer_exhaustion_rearms_and_loses_nothing() -> None:
    """More connections readable within one enter than there are provided buffers:
    the multishots that find none end with ENOBUFS and are armed again; the data
    waits in the sockets."""
    loop, ring = counting_loop(recv_buffers=2)
    try:
        backend = uring_of(loop)
        pairs = [pair() for _ in range(8)]
        owners = [BytesOwner() for _ in pairs]
        streams = [backend.open_stream(a, o) for (a, _), o in zip(pairs, owners, strict=True)]
        for stream in streams:
            stream.start_reading()
        run_briefly(loop, 2)
        for round_ in range(3):
            for index, (_, b) in enumerate(pairs):
                b.send(b"%d:%d;" % (round_, index))
            run_until(
                loop,
                lambda r=round_: all(
                    o.data().endswith(b"%d:%d;" % (r, i)) for i, o in enumerate(owners)
                ),
            )
        for index, owner in enumerate(owners):
            assert owner.data() == b"".join(b"%d:%d;" % (r, index) for r in range(3))
            assert all(isinstance(e, bytes) for e in owner.events)  # no error reported
        assert ring.multishots > len(pairs)  # some were armed again after ENOBUFS
        for stream in streams:
            stream.close(lambda: None)
        run_briefly(loop)
        for _, b in pairs:
            b.close()
    finally:
        loop.close()


def test_stopped_stream_holds_what_the_multishot_still_brought() -> None:
    """Several arrivals in one enter (each fills a 16 KiB buffer); the owner stops
    reading in the first: the others are held and come after start_reading, in
    order."""
    loop, _ring = counting_loop()
    try:
        backend = uring_of(loop)
        a, b = pair()
        b.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
        owner = BytesOwner()
        stream = backend.open_stream(a, owner)
        owner.on_bytes = lambda data: stream.stop_reading()
        stream.start_reading()
        run_briefly(loop, 2)
        payload = bytes(range(256)) * 200  # 51200 bytes: 4 provided buffers' worth
        b.sendall(payload)
        run_until(loop, lambda: owner.events)
        run_briefly(loop)
        assert len(owner.events) == 1  # nothing delivered while stopped
        owner.on_bytes = None
        stream.start_reading()
        run_until(loop, lambda: len(owner.data()) == len(payload))
        assert owner.data() == payload
        assert backend.bytes_read_size == 16 * 1024
        assert max(len(e) for e in owner.events) <= backend.bytes_read_size
        stream.close(lambda: None)
        run_briefly(loop)
        b.close()
    finally:
        loop.close()


def test_switch_to_lent_buffers_for_bulk_and_back_keeps_order() -> None:
    loop, ring = counting_loop()
    try:
        owner = BytesOwner(bulk_after=uring_of(loop).bytes_read_size)
        _backend, b, _a, owner, stream = reading_stream(loop, owner)
        b.send(b"small;")
        run_until(loop, lambda: owner.data() == b"small;")
        bulk = os.urandom(600_000)
        sent = 0
        while sent < len(bulk):  # the socket buffer is smaller than the payload
            try:
                sent += b.send(bulk[sent:])
            except BlockingIOError:
                run_briefly(loop, 1)
        run_until(loop, lambda: len(owner.data()) == 6 + len(bulk))
        assert owner.lent > 0  # the bulk went into the owner's buffer
        b.send(b"small again;")
        run_until(loop, lambda: owner.data().endswith(b"small again;"))
        b.send(b"and again;")
        run_until(loop, lambda: owner.data().endswith(b"and again;"))
        assert owner.data() == b"small;" + bulk + b"small again;and again;"
        assert ring.multishots >= 2  # armed again after the bulk transfer
        stream.close(lambda: None)
        run_briefly(loop)
        b.close()
    finally:
        loop.close()


def test_end_of_stream_is_reported_once_after_the_data() -> None:
    loop, _ring = counting_loop()
    try:
        _backend, b, _a, owner, stream = reading_stream(loop)
        b.send(b"last words")
        b.close()
        run_until(loop, lambda: b"" in owner.events)
        run_briefly(loop)
        assert owner.events == [b"last words", b""]
        stream.close(lambda: None)
        run_briefly(loop)
    finally:
        loop.close()


def _tcp_stream(loop: EventLoop, owner: BytesOwner) -> tuple[socket.socket, Any]:
    """A loopback TCP connection: the client socket, and the accepted side opened as a
    stream of the loop's io_uring backend for *owner*."""
    listener = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(listener.getsockname())
    server, _ = listener.accept()
    listener.close()
    server.setblocking(False)
    return client, uring_of(loop).open_stream(server, owner)


def _reset(client: socket.socket) -> None:
    """Close *client* with linger 0: the peer gets a TCP reset."""
    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    client.close()


def test_reset_over_tcp_is_an_error() -> None:
    loop, _ring = counting_loop()
    try:
        owner = BytesOwner()
        client, stream = _tcp_stream(loop, owner)
        stream.start_reading()
        run_briefly(loop, 2)
        _reset(client)
        run_until(loop, lambda: owner.events)
        run_briefly(loop)
        assert len(owner.events) == 1
        assert isinstance(owner.events[0], ConnectionResetError)
        stream.close(lambda: None)
        run_briefly(loop)
    finally:
        loop.close()


def test_an_error_held_across_a_pause_comes_after_the_data() -> None:
    """Data and a reset reach the multishot in one enter; the owner stops reading in the
    data's callback.  The error is held (the request has ended), not lost to a new
    request that would only find end of stream: after start_reading it is reported,
    once, as the reset it was."""
    loop, _ring = counting_loop()
    try:
        owner = BytesOwner()
        client, stream = _tcp_stream(loop, owner)
        owner.on_bytes = lambda data: stream.stop_reading()
        stream.start_reading()
        run_briefly(loop, 2)
        client.send(b"before the reset")
        _reset(client)  # right behind the data
        run_until(loop, lambda: owner.events)
        run_briefly(loop)
        assert owner.events == [b"before the reset"]  # nothing more while stopped
        owner.on_bytes = None
        stream.start_reading()
        run_until(loop, lambda: len(owner.events) == 2)
        run_briefly(loop)
        assert len(owner.events) == 2
        assert isinstance(owner.events[1], ConnectionResetError)
        stream.close(lambda: None)
        run_briefly(loop)
    finally:
        loop.close()


def test_close_with_the_multishot_armed_closes_the_fd_and_forgets_the_request() -> None:
    loop, _ring = counting_loop()
    try:
        backend, b, a, owner, stream = reading_stream(loop)
        b.send(b"before")
        run_until(loop, lambda: owner.events)
        in_flight = set(backend._ops)
        closed: list[bool] = []
        stream.close(lambda: closed.append(True))
        b.send(b"after close")  # arrives while the cancel is on its way
        run_until(loop, lambda: closed)
        assert owner.events == [b"before"]
        assert a.fileno() == -1
        assert len(backend._ops) == len(in_flight) - 1  # the multishot is gone
        # The peer sees the close (a reset: "after close" was left unread); a socket
        # still open would raise BlockingIOError here.
        with pytest.raises(ConnectionResetError):
            b.recv(10)
        b.close()
    finally:
        loop.close()


def test_closing_the_loop_with_multishots_armed_leaks_nothing() -> None:
    gc.collect()
    before = len(os.listdir("/proc/self/fd"))
    loop = EventLoop(UringBackend())
    backend = uring_of(loop)
    pairs = [pair() for _ in range(4)]
    for a, b in pairs:
        owner = BytesOwner()
        backend.open_stream(a, owner).start_reading()
        b.send(b"x")
    run_briefly(loop)
    loop.close()  # cancels and drains every multishot, then unmaps the buffer ring
    assert not backend._ops
    for a, b in pairs:
        a.close()
        b.close()
    gc.collect()
    assert len(os.listdir("/proc/self/fd")) == before


def test_buffers_stay_mapped_when_a_request_never_reports(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A multishot whose cancellation never reports (as one stuck in the kernel would)
    may still write into the provided buffers: the loop's close keeps them mapped."""

    class SilentRing(CountingRing):
        __slots__ = ("silenced",)

        def __init__(self) -> None:
            super().__init__()
            self.silenced: set[int] = set()

        def prep_recv_multishot(self, fd: int, user_data: int) -> None:
            self.silenced.add(user_data)
            super().prep_recv_multishot(fd, user_data)

        def completions(self) -> list[tuple[int, int, int]]:
            return [c for c in super().completions() if c[0] not in self.silenced]

    monkeypatch.setattr(backend_module, "DRAIN_TIMEOUT", 0.1)
    abandoned = len(backend_module._ABANDONED)
    ring = SilentRing()
    loop = EventLoop(UringBackend(driver=ring))
    backend = uring_of(loop)
    a, b = pair()
    backend.open_stream(a, BytesOwner()).start_reading()
    run_briefly(loop, 2)
    region = ring._buf_map
    assert region is not None
    loop.close()
    kept = backend_module._ABANDONED[abandoned:]
    assert any(item is region for item in kept)
    assert not region.closed  # still mapped: the kernel may write there
    del backend_module._ABANDONED[abandoned:]
    b.close()


def test_one_arrival_per_loop_iteration() -> None:
    """Several arrivals reaped in one enter are delivered one per iteration, as a
    readiness backend delivers one read per readiness report: callbacks queued in
    between (a run_until_complete stopping, say) run between them, as on epoll."""
    loop, _ring = counting_loop()
    try:
        _backend, b, _a, owner, stream = reading_stream(loop)
        b.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
        iteration = [0]

        def tick() -> None:
            iteration[0] += 1
            loop.call_soon(tick)

        seen: list[int] = []
        owner.on_bytes = lambda data: seen.append(iteration[0])
        run_briefly(loop, 2)
        loop.call_soon(tick)
        payload = bytes(range(256)) * 200  # 51200 bytes: 4 provided buffers' worth
        b.sendall(payload)
        run_until(loop, lambda: len(owner.data()) == len(payload))
        assert owner.data() == payload
        assert len(seen) >= 3  # several arrivals...
        assert len(set(seen)) == len(seen)  # ...each in an iteration of its own
        stream.close(lambda: None)
        run_briefly(loop)
        b.close()
    finally:
        loop.close()
