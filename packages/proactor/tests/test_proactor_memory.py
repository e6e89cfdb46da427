"""Kernel memory safety and teardown: buffers lent to the kernel stay alive and unmoved
until their completion, closing streams, listeners and the loop with requests in flight
cancels and drains them, nothing leaks an fd, and fork leaves the parent's ring alone.

Run under ``-X dev`` by the default test command too (test_scenarios_under_dev_mode)."""

from __future__ import annotations

import asyncio
import gc
import os
import socket
import subprocess
import sys
import warnings
import weakref
from typing import Any

import pytest

from conftest import needs_uring, pair
from layerloop_core import EventLoop
from layerloop_proactor import Ring, UringBackend

pytestmark = needs_uring


class Buffer(bytearray):
    """A bytearray that can be watched with a weak reference."""


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


class Owner:
    """A StreamOwner lending one Buffer, recording what it is told."""

    def __init__(self, size: int = 64) -> None:
        self.buffer: Buffer | None = Buffer(size)
        self.events: list[Any] = []

    def get_read_buffer(self, size_hint: int) -> memoryview:
        assert self.buffer is not None
        return memoryview(self.buffer)

    def read_done(self, nbytes: int) -> None:
        assert self.buffer is not None
        self.events.append(bytes(self.buffer[:nbytes]))

    def read_failed(self, exc: BaseException) -> None:
        self.events.append(exc)


def run_briefly(loop: EventLoop, times: int = 5) -> None:
    for _ in range(times):
        loop.run_until_complete(asyncio.sleep(0.005))


def test_recv_into_buffer_stays_pinned_until_its_completion(loop: EventLoop) -> None:
    a, b = pair()
    buf = Buffer(32)
    ref = weakref.ref(buf)

    async def main(buf: Buffer) -> None:
        task = loop.create_task(loop.sock_recv_into(b, buf))
        await asyncio.sleep(0.01)  # the RECV is in the kernel now
        with pytest.raises(BufferError):
            buf.extend(b"moved")  # the export forbids reallocation
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0.01)  # the cancel's completion arrives
        buf.extend(b"free again")

    loop.run_until_complete(main(buf))
    del buf
    gc.collect()
    assert ref() is None
    a.close()
    b.close()


def test_closing_the_loop_with_requests_in_flight_drains_them() -> None:
    gc.collect()
    before = open_fds()
    loop = EventLoop(UringBackend())
    a, b = pair()
    c, d = pair()
    buf = Buffer(32)
    ref = weakref.ref(buf)
    tasks = [
        loop.create_task(loop.sock_recv_into(b, buf)),
        loop.create_task(loop.sock_sendall(c, b"x" * 10_000_000)),  # d never reads
    ]
    run_briefly(loop)
    assert not any(t.done() for t in tasks)
    with pytest.raises(BufferError):
        buf.extend(b"moved")  # pinned while the RECV is in the kernel
    loop.close()
    # The tasks stay pending on a closed loop; once they are dropped, only the backend
    # could still hold the buffer, and the drain released it.
    del buf
    for task in tasks:
        task.get_coro().close()  # type: ignore[union-attr]  # drops the frame's reference
    del tasks, task
    gc.collect()
    assert ref() is None
    a.send(b"late")  # the old RECV is gone: nothing writes anywhere
    for sock in (a, b, c, d):
        sock.close()
    gc.collect()
    assert open_fds() == before


def test_stream_close_with_read_and_write_in_flight(loop: EventLoop) -> None:
    backend = loop.backend
    assert isinstance(backend, UringBackend)
    a, b = pair()
    a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    owner = Owner()
    stream = backend.open_stream(a, owner)
    reports: list[Any] = []
    payload = Buffer(b"y" * 4_000_000)
    payload_ref = weakref.ref(payload)

    def write_done(nbytes: int, exc: BaseException | None) -> None:
        reports.append(("write", nbytes, type(exc)))

    stream.start_reading()
    b.send(b"first")
    run_briefly(loop)
    assert owner.events == [b"first"]  # now a RECV into the owner's buffer is in flight
    stream.write(memoryview(payload), write_done)
    run_briefly(loop)
    assert reports == []  # the peer does not read: the SEND stays in flight
    with pytest.raises(BufferError):
        payload.extend(b"z")
    lent = owner.buffer
    assert lent is not None
    with pytest.raises(BufferError):
        lent.extend(b"z")
    stream.close(lambda: reports.append("closed"))
    del payload
    owner.buffer = None
    gc.collect()
    assert payload_ref() is not None  # still referenced by the in-flight SEND
    run_briefly(loop)
    assert reports[-1] == "closed"
    ((kind, sent, exc_type),) = reports[:-1]
    assert kind == "write" and 0 <= sent < 4_000_000 and exc_type is asyncio.CancelledError
    gc.collect()
    assert payload_ref() is None
    lent.extend(b"z")  # the read's pin is gone too
    assert a.fileno() == -1  # closed by the stream, after the drain
    b.settimeout(1)
    received = b""
    while chunk := b.recv(1 << 20):  # the peer sees the bytes sent, then FIN
        received += chunk
    assert len(received) == sent
    assert owner.events == [b"first"]  # no owner callback after close
    b.close()


def test_listener_close_with_accept_in_flight(loop: EventLoop) -> None:
    backend = loop.backend
    assert isinstance(backend, UringBackend)
    gc.collect()
    before = open_fds()
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    server.setblocking(False)
    address = server.getsockname()
    accepted: list[Any] = []
    listener = backend.listen(server, lambda c, a, e: accepted.append((c, e)))
    run_briefly(loop)
    closed: list[bool] = []
    listener.close(lambda: closed.append(True))
    gc.collect()
    run_briefly(loop)
    assert closed == [True]
    assert accepted == []
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(address, timeout=1).close()
    assert open_fds() == before


def test_accept_and_read_through_a_listener_and_stream(loop: EventLoop) -> None:
    backend = loop.backend
    assert isinstance(backend, UringBackend)
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    server.setblocking(False)
    accepted: list[socket.socket] = []
    listener = backend.listen(server, lambda c, a, e: accepted.append(c))  # type: ignore[arg-type]
    clients = [socket.create_connection(server.getsockname()) for _ in range(3)]
    run_briefly(loop)
    assert len(accepted) == 3 and all(not c.getblocking() for c in accepted)
    owner = Owner()
    stream = backend.open_stream(accepted[0], owner)
    stream.start_reading()
    clients[0].sendall(b"over uring")
    run_briefly(loop)
    assert owner.events == [b"over uring"]
    clients[0].close()
    run_briefly(loop)
    assert owner.events == [b"over uring", b""]  # end of stream
    done: list[str] = []
    stream.close(lambda: done.append("stream"))
    listener.close(lambda: done.append("listener"))
    run_briefly(loop)
    assert sorted(done) == ["listener", "stream"]
    for sock in (*clients, *accepted[1:]):
        sock.close()


def test_paused_stream_holds_a_raced_read_and_keeps_no_request(loop: EventLoop) -> None:
    backend = loop.backend
    assert isinstance(backend, UringBackend)
    a, b = pair()
    owner = Owner()
    stream = backend.open_stream(a, owner)
    stream.start_reading()
    b.send(b"one")
    run_briefly(loop)
    stream.stop_reading()
    b.send(b"two")
    run_briefly(loop)
    assert owner.events == [b"one"]  # nothing while paused
    assert not backend._ops.keys() - {next(iter(backend._ops))}  # only the wakeup READ
    stream.start_reading()
    run_briefly(loop)
    assert owner.events == [b"one", b"two"]
    stream.close(lambda: None)
    run_briefly(loop)
    b.close()


def test_protocol_raising_and_dropped_transports_do_not_crash() -> None:
    layerloop = pytest.importorskip(
        "layerloop", reason="the assembled loop (layerloop) is not installed next to this wheel"
    )
    gc.collect()
    before = open_fds()
    loop = layerloop.new_event_loop(backend="uring")
    errors: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, ctx: errors.append(ctx))

    class Raising(asyncio.Protocol):
        def data_received(self, data: bytes) -> None:
            raise ZeroDivisionError

    async def main() -> None:
        server = await loop.create_server(Raising, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        for _ in range(5):
            transport, _protocol = await loop.create_connection(asyncio.Protocol, "127.0.0.1", port)
            transport.write(b"boom" * 1000)
            await asyncio.sleep(0.01)
            del transport, _protocol  # dropped without close
            gc.collect()
        server.close()
        await server.wait_closed()

    # Dropping a transport without close() warns (ResourceWarning), as on asyncio.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        try:
            loop.run_until_complete(main())
        finally:
            loop.close()
        gc.collect()
    assert errors and all(isinstance(e.get("exception"), ZeroDivisionError) for e in errors)
    assert open_fds() == before


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_forked_child_never_touches_the_parents_ring(loop: EventLoop) -> None:
    a, b = pair()

    async def main() -> bytes:
        task = loop.create_task(loop.sock_recv(b, 10))
        await asyncio.sleep(0.01)  # RECV in flight in the parent's ring
        pid = os.fork()
        if pid == 0:  # the child: a fresh uring loop works, the parent's is retired
            code = 1
            try:
                child = EventLoop(UringBackend())
                child.run_until_complete(asyncio.sleep(0.001))
                child.close()
                code = 0
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        a.send(b"after fork")
        return await task

    assert loop.run_until_complete(main()) == b"after fork"
    a.close()
    b.close()


def test_scenarios_under_dev_mode() -> None:
    """This module again in a child under ``-X dev`` (debug allocator hooks, warnings
    on), to catch memory errors a normal run could miss."""
    proc = subprocess.run(
        [
            sys.executable,
            "-X",
            "dev",
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-k",
            "not under_dev_mode",
            __file__,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=os.path.dirname(__file__),
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Fatal Python error" not in proc.stderr


class ReleasingOwner(Owner):
    """Lends a fresh view per read, releases it as soon as the read is reported, and
    resizes its buffer in between (as a BufferedProtocol may)."""

    def __init__(self) -> None:
        super().__init__()
        self.view: memoryview | None = None

    def get_read_buffer(self, size_hint: int) -> memoryview:
        self.view = super().get_read_buffer(size_hint)
        return self.view

    def read_done(self, nbytes: int) -> None:
        super().read_done(nbytes)
        assert self.view is not None and self.buffer is not None
        self.view.release()
        self.view = None
        # The finished read's pin is gone: the buffer may move.  The next read (asked
        # for after this returns) pins the moved buffer afresh.
        self.buffer.extend(b"\0" * 64)


def test_read_pin_outlives_the_lenders_view_and_ends_with_the_read(loop: EventLoop) -> None:
    backend = loop.backend
    assert isinstance(backend, UringBackend)
    a, b = pair()
    owner = ReleasingOwner()
    stream = backend.open_stream(a, owner)
    stream.start_reading()
    b.send(b"one")
    run_briefly(loop)
    # The RECV of the second read is in flight into a view the owner still holds.
    assert owner.events == [b"one"]
    view, buffer = owner.view, owner.buffer
    assert view is not None and buffer is not None
    view.release()  # the lender lets go of its view: the kernel's pin holds on
    with pytest.raises(BufferError):
        buffer.extend(b"z")
    b.send(b"two")
    run_briefly(loop)
    assert owner.events == [b"one", b"two"]  # landed in the (unmoved) buffer
    assert len(owner.buffer or b"") == 64 * 3  # resized after each finished read
    b.send(b"three")
    run_briefly(loop)
    assert owner.events == [b"one", b"two", b"three"]
    stream.close(lambda: None)
    run_briefly(loop)
    b.close()


@pytest.mark.parametrize("how", ["cancel_write", "close"])
def test_a_write_cancelled_before_submission_never_reaches_the_socket(
    loop: EventLoop, how: str
) -> None:
    # The SEND is queued in the ring but not yet handed to the kernel (that happens at
    # the next io_uring_enter); withdrawing it must leave the socket untouched, as a
    # readiness backend's queued write would: an aborted transport loses its queue.
    a, b = pair()
    backend = loop.backend
    assert isinstance(backend, UringBackend)
    stream = backend.open_stream(a, Owner())
    outcomes: list[tuple[int, type[BaseException] | None]] = []
    closed: list[bool] = []
    stream.write(
        memoryview(b"x" * 1000), lambda n, err: outcomes.append((n, type(err) if err else None))
    )
    if how == "cancel_write":
        stream.cancel_write()
    else:
        stream.close(lambda: closed.append(True))
    run_briefly(loop)
    assert outcomes == [(0, asyncio.CancelledError)]
    assert closed == ([True] if how == "close" else [])
    if how == "cancel_write":
        with pytest.raises(BlockingIOError):
            b.recv(4096)  # nothing was sent, and the stream is still open
        stream.close(lambda: closed.append(True))
        run_briefly(loop)
    assert b.recv(4096) == b""  # end of stream, and not one byte before it
    b.close()


class HoldingRing(Ring):
    """A ring that holds back the CQEs of chosen requests until :meth:`release`: a
    request the kernel does not stop at once (one running in an io-wq worker)."""

    __slots__ = ("held", "hold")

    def __init__(self) -> None:
        super().__init__(64)
        self.hold: set[int] = set()
        self.held: list[tuple[int, int, int]] = []

    def completions(self) -> list[tuple[int, int, int]]:
        ready: list[tuple[int, int, int]] = []
        if not self.hold:
            ready.extend(self.held)
            self.held.clear()
        for cqe in super().completions():
            (self.held if cqe[0] in self.hold else ready).append(cqe)
        return ready

    def release(self) -> None:
        self.hold.clear()


def _resizable(buf: bytearray) -> bool:
    """Whether nothing holds an export of *buf* (a pinned buffer cannot be resized)."""
    try:
        buf.append(0)
    except BufferError:
        return False
    del buf[-1]
    return True


def _reading_and_writing(
    loop: EventLoop, reports: list[Any]
) -> tuple[Any, Owner, socket.socket, socket.socket, Buffer]:
    """A stream with a RECV into its owner's buffer and a SEND the peer does not take
    in flight."""
    backend = loop.backend
    assert isinstance(backend, UringBackend)
    a, b = pair()
    a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    owner = Owner()
    stream = backend.open_stream(a, owner)
    stream.start_reading()
    b.send(b"first")
    run_briefly(loop)
    assert owner.events == [b"first"]
    lent = owner.buffer
    assert lent is not None
    stream.write(
        memoryview(b"y" * 4_000_000),
        lambda n, exc: reports.append(("write", type(exc), _resizable(lent))),
    )
    run_briefly(loop)
    assert reports == []
    with pytest.raises(BufferError):
        lent.extend(b"z")  # the RECV's pin
    return stream, owner, a, b, lent


def test_stream_close_reports_in_the_next_iteration_before_later_callbacks(
    loop: EventLoop,
) -> None:
    # Where a readiness backend (and asyncio's transport) reports: from a callback queued
    # by close().  The poll before it carries the cancels and brings their CQEs back, so
    # by then the fd is closed and neither buffer is the kernel's any more.
    reports: list[Any] = []
    stream, owner, a, b, lent = _reading_and_writing(loop, reports)

    def closed() -> None:
        lent.extend(b"z")  # raises BufferError if the RECV's pin were still held
        reports.append(("closed", a.fileno()))

    iterations = [0]

    def count() -> None:
        iterations[0] += 1
        if len(reports) < 3:
            loop.call_soon(count)

    async def main() -> None:
        loop.call_soon(count)
        await asyncio.sleep(0)
        start = iterations[0]
        stream.close(closed)
        loop.call_soon(reports.append, "later")
        while len(reports) < 3:
            await asyncio.sleep(0)
        assert iterations[0] - start == 1

    loop.run_until_complete(main())
    assert reports == [("write", asyncio.CancelledError, True), ("closed", -1), "later"]
    assert owner.events == [b"first"]  # no owner callback after close
    b.close()


@pytest.mark.parametrize("late", ["read", "write", "both"])
def test_stream_close_waits_for_a_late_cancel_completion(late: str) -> None:
    ring = HoldingRing()
    loop = EventLoop(UringBackend(driver=ring))
    try:
        reports: list[Any] = []
        stream, owner, a, b, lent = _reading_and_writing(loop, reports)
        if late in ("read", "both"):
            ring.hold.add(stream._rud)
        if late in ("write", "both"):
            ring.hold.add(stream._wud)
        fd = a.fileno()
        stream.close(lambda: reports.append(("closed", a.fileno())))
        run_briefly(loop)
        assert ring.held  # the kernel has answered, the "kernel" here has not
        if late == "read":
            # The write reports as usual; the close waits for the RECV.
            assert reports == [("write", asyncio.CancelledError, False)]
        else:
            assert reports == []  # the write reports only with its CQE
        assert a.fileno() == fd  # the fd stays open while a request may use it
        if late != "write":
            with pytest.raises(BufferError):
                lent.extend(b"z")  # and the lent buffer stays the kernel's
        ring.release()
        run_briefly(loop)
        assert reports[-1] == ("closed", -1)
        assert [r[0] for r in reports] == ["write", "closed"]
        lent.extend(b"z")
        assert owner.events == [b"first"]
        b.close()
    finally:
        loop.close()


@pytest.mark.parametrize("inflight", ["read", "read-and-write"])
def test_a_stream_closed_as_the_loop_closes_still_closes_its_fd(inflight: str) -> None:
    # The loop closes before the close's cancels came back: the backend's drain brings
    # their CQEs, and with the last one the stream closes its fd (as a readiness
    # backend's close does at once) rather than leaving it to the garbage collector.
    loop = EventLoop(UringBackend())
    reports: list[Any] = []
    try:
        if inflight == "read":
            backend = loop.backend
            assert isinstance(backend, UringBackend)
            a, b = pair()
            stream = backend.open_stream(a, Owner())
            stream.start_reading()
            b.send(b"first")
            run_briefly(loop)
        else:
            stream, _, a, b, _ = _reading_and_writing(loop, reports)
        stream.close(lambda: reports.append("closed"))
        assert a.fileno() != -1  # requests in flight: the fd stays open
    finally:
        loop.close()
    assert a.fileno() == -1
    assert reports == []  # a closed loop runs nothing
    b.settimeout(1)
    while b.recv(1 << 20):
        pass  # what the cancelled SEND sent, then end of stream
    b.close()
