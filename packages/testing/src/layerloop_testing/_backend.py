"""Backend conformance: an :class:`~layerloop_core.abc.IOBackend` driven without a loop.

The suite attaches the backend to a minimal host (:class:`BackendHost`) whose ready
queue is a plain list, then calls :meth:`~layerloop_core.abc.IOBackend.poll` itself.
That isolates the backend's half of the contract: timeouts honoured (and never rounded
down into a busy loop), wakeups from other threads and before ``poll``, coalesced
wakeups, watch handles enqueued (the same objects, level-triggered, replaced and
cancelled as documented), ``close`` idempotent.  The loop-level suites then prove the
backend inside a real loop: combine them with :class:`LoopFromBackend`.

:class:`StreamBackendSuite` holds a :class:`~layerloop_core.abc.StreamBackend` to the
stream contract that transports rely on (lent read buffers and the owner's failure path,
``cancel_write``, vectored writes, ``try_write`` on a closed stream), inside a real
loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import errno
import os
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVarTuple

from layerloop_core.abc import IOBackend, Stream, StreamBackend

from ._base import LoopSuite
from ._guard import StandardSuite

_Ts = TypeVarTuple("_Ts")

__all__ = ["BackendHost", "BackendSuite", "LoopFromBackend", "StreamBackendSuite"]

#: A backend that returns this much sooner than asked was not honouring the timeout.
_TOLERANCE = 0.002
#: Anything slower than this is not "promptly".
_PROMPT = 1.0


class BackendHost(asyncio.AbstractEventLoop):
    """The loop services a backend may use, with a list for a ready queue.

    ``call_soon`` and the backend's *enqueue* both append to :attr:`ready`; exception
    reports land in :attr:`reports`.  Nothing is ever run: the suite inspects the
    handles.  Every other loop method raises ``NotImplementedError``.
    """

    def __init__(self) -> None:
        self.ready: list[asyncio.Handle] = []
        self.reports: list[dict[str, Any]] = []

    def time(self) -> float:
        return time.monotonic()

    def get_debug(self) -> bool:
        return False

    def is_closed(self) -> bool:
        return False

    def is_running(self) -> bool:
        return False

    def call_soon(
        self,
        callback: Callable[[*_Ts], object],
        *args: *_Ts,
        context: contextvars.Context | None = None,
    ) -> asyncio.Handle:
        handle = asyncio.Handle(callback, args, self, context)
        self.ready.append(handle)
        return handle

    def call_exception_handler(self, context: dict[str, Any]) -> None:
        self.reports.append(context)

    def create_future(self) -> asyncio.Future[Any]:
        return asyncio.Future(loop=self)


def _noop() -> None:
    pass


class BackendSuite(StandardSuite):
    """Drive an :class:`IOBackend` directly.  Implement :meth:`new_backend`."""

    backend: IOBackend
    host: BackendHost

    def new_backend(self) -> IOBackend:
        """Return a new, unattached backend: the backend under test."""
        raise NotImplementedError(f"{type(self).__qualname__} must implement new_backend()")

    def setUp(self) -> None:
        super().setUp()
        # typeshed marks every AbstractEventLoop method abstract; at run time the class is
        # not an ABC, and the methods the host lacks raise NotImplementedError, as wanted.
        self.host = BackendHost()  # type: ignore[abstract]
        self.backend = self.new_backend()
        self.backend.attach(self.host, self.host.ready.append)
        self.addCleanup(self.backend.close)

    # -- helpers -------------------------------------------------------------------------

    def poll(self, timeout: float | None) -> tuple[list[asyncio.Handle], float]:
        """Poll once; return what was enqueued and how long the call took."""
        self.host.ready.clear()
        started = time.monotonic()
        self.backend.poll(timeout)
        elapsed = time.monotonic() - started
        ready = list(self.host.ready)
        self.host.ready.clear()
        return ready, elapsed

    def handle(self) -> asyncio.Handle:
        return asyncio.Handle(_noop, (), self.host)

    def socketpair(self) -> tuple[socket.socket, socket.socket]:
        a, b = socket.socketpair()
        self.addCleanup(a.close)
        self.addCleanup(b.close)
        a.setblocking(False)
        b.setblocking(False)
        return a, b

    # -- identity ------------------------------------------------------------------------

    def test_backend_satisfies_the_protocol(self) -> None:
        self.assertIsInstance(self.backend, IOBackend)
        self.assertIsInstance(self.backend.name, str)
        self.assertTrue(self.backend.name)
        self.assertIn(self.backend.kind, ("readiness", "completion"))

    # -- timeouts ------------------------------------------------------------------------

    def test_poll_zero_does_not_block(self) -> None:
        ready, elapsed = self.poll(0)
        self.assertEqual(ready, [])
        self.assertLess(elapsed, _PROMPT)

    def test_poll_timeout_is_honoured(self) -> None:
        for timeout in (0.01, 0.05):
            with self.subTest(timeout=timeout):
                ready, elapsed = self.poll(timeout)
                self.assertEqual(ready, [])
                self.assertGreaterEqual(elapsed, timeout - _TOLERANCE)
                self.assertLess(elapsed, timeout + _PROMPT)

    def test_sub_millisecond_timeouts_are_not_rounded_down(self) -> None:
        # A backend whose kernel call takes milliseconds must round up: rounding
        # 0.3 ms down to 0 makes the loop spin until the timer is due.
        timeout = 0.0003
        spins = 0
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.poll(timeout)
            spins += 1
        self.assertLessEqual(spins, 2)

    # -- wakeups -------------------------------------------------------------------------

    def test_wakeup_before_poll_makes_it_return(self) -> None:
        self.backend.wakeup()
        ready, elapsed = self.poll(5.0)
        self.assertLess(elapsed, _PROMPT)
        self.assertEqual(ready, [], "a wakeup must not enqueue handles")

    def test_wakeup_from_another_thread_interrupts_poll(self) -> None:
        def later() -> None:
            time.sleep(0.05)
            self.backend.wakeup()

        thread = threading.Thread(target=later)
        thread.start()
        try:
            ready, elapsed = self.poll(5.0)
        finally:
            thread.join()
        self.assertLess(elapsed, _PROMPT + 0.05)
        self.assertEqual(ready, [])

    def test_wakeup_interrupts_an_unbounded_poll(self) -> None:
        def later() -> None:
            time.sleep(0.05)
            self.backend.wakeup()

        # Safety net: if the wakeup is lost, data on this pair ends the poll instead
        # of hanging the test run; the test then fails on the elapsed time.
        net_r, net_w = self.socketpair()
        net = self.handle()
        self.backend.add_reader(net_r.fileno(), net)
        rescue = threading.Timer(5.0, net_w.send, (b"x",))
        thread = threading.Thread(target=later)
        rescue.start()
        thread.start()
        try:
            ready, elapsed = self.poll(None)
        finally:
            thread.join()
            rescue.cancel()
        self.assertLess(elapsed, _PROMPT + 0.05)
        self.assertEqual(ready, [])

    def test_wakeups_coalesce(self) -> None:
        for _ in range(100):
            self.backend.wakeup()
        _, elapsed = self.poll(5.0)
        self.assertLess(elapsed, _PROMPT)
        # Every pending wakeup was consumed by that one poll.
        _, elapsed = self.poll(0.05)
        self.assertGreaterEqual(elapsed, 0.05 - _TOLERANCE)

    def test_wakeups_from_many_threads(self) -> None:
        def hammer() -> None:
            for _ in range(500):
                self.backend.wakeup()

        threads = [threading.Thread(target=hammer) for _ in range(4)]
        for thread in threads:
            thread.start()
        while any(thread.is_alive() for thread in threads):
            self.poll(0.01)
        for thread in threads:
            thread.join()
        self.poll(0)
        _, elapsed = self.poll(0.05)
        self.assertGreaterEqual(elapsed, 0.05 - _TOLERANCE)

    # -- watches -------------------------------------------------------------------------

    def test_reader_watch_enqueues_its_handle_level_triggered(self) -> None:
        r, w = self.socketpair()
        handle = self.handle()
        self.backend.add_reader(r.fileno(), handle)
        self.assertEqual(self.poll(0)[0], [])
        w.send(b"data")
        ready, _ = self.poll(_PROMPT)
        self.assertEqual(len(ready), 1)
        self.assertIs(ready[0], handle)
        # Not drained: still readable, so enqueued again.
        self.assertIs(self.poll(_PROMPT)[0][0], handle)
        self.assertFalse(handle.cancelled())
        r.recv(100)
        self.assertEqual(self.poll(0)[0], [])

    def test_writer_watch_enqueues_its_handle(self) -> None:
        _, w = self.socketpair()
        handle = self.handle()
        self.backend.add_writer(w.fileno(), handle)
        ready, _ = self.poll(_PROMPT)
        self.assertEqual(len(ready), 1)
        self.assertIs(ready[0], handle)

    def test_reader_and_writer_on_one_fd(self) -> None:
        a, b = self.socketpair()
        reader, writer = self.handle(), self.handle()
        self.backend.add_reader(a.fileno(), reader)
        self.backend.add_writer(a.fileno(), writer)
        ready, _ = self.poll(_PROMPT)
        self.assertEqual(ready, [writer])
        b.send(b"x")
        ready, _ = self.poll(_PROMPT)
        self.assertEqual(len(ready), 2)
        self.assertEqual({id(h) for h in ready}, {id(reader), id(writer)})
        self.assertTrue(self.backend.remove_writer(a.fileno()))
        ready, _ = self.poll(_PROMPT)
        self.assertEqual(ready, [reader])
        self.assertTrue(self.backend.remove_reader(a.fileno()))
        self.assertEqual(self.poll(0)[0], [])

    def test_remove_reports_and_cancels(self) -> None:
        r, w = self.socketpair()
        reader, writer = self.handle(), self.handle()
        self.assertFalse(self.backend.remove_reader(r.fileno()))
        self.assertFalse(self.backend.remove_writer(w.fileno()))
        self.backend.add_reader(r.fileno(), reader)
        self.backend.add_writer(w.fileno(), writer)
        self.assertTrue(self.backend.remove_reader(r.fileno()))
        self.assertTrue(self.backend.remove_writer(w.fileno()))
        self.assertTrue(reader.cancelled())
        self.assertTrue(writer.cancelled())
        self.assertFalse(self.backend.remove_reader(r.fileno()))
        self.assertFalse(self.backend.remove_writer(w.fileno()))
        w.send(b"x")
        self.assertEqual(self.poll(0.01)[0], [])

    def test_a_new_watch_replaces_and_cancels_the_old_one(self) -> None:
        r, w = self.socketpair()
        old, new = self.handle(), self.handle()
        self.backend.add_reader(r.fileno(), old)
        self.backend.add_reader(r.fileno(), new)
        self.assertTrue(old.cancelled())
        self.assertFalse(new.cancelled())
        w.send(b"x")
        self.assertEqual(self.poll(_PROMPT)[0], [new])

    def test_end_of_stream_wakes_a_reader(self) -> None:
        r, w = self.socketpair()
        handle = self.handle()
        self.backend.add_reader(r.fileno(), handle)
        w.close()
        self.assertEqual(self.poll(_PROMPT)[0], [handle])

    def test_many_watches_report_exactly_the_ready_ones(self) -> None:
        pairs = [self.socketpair() for _ in range(100)]
        handles = [self.handle() for _ in pairs]
        for (r, _), handle in zip(pairs, handles, strict=True):
            self.backend.add_reader(r.fileno(), handle)
        for _, w in pairs[::3]:
            w.send(b"x")
        expected = {id(h) for h in handles[::3]}
        seen: set[int] = set()
        deadline = time.monotonic() + 5
        while seen != expected and time.monotonic() < deadline:
            ready, _ = self.poll(0.1)
            seen.update(id(h) for h in ready)
            self.assertLessEqual(seen, expected)
        self.assertEqual(seen, expected)

    def test_watch_on_an_fd_closed_while_watched_can_be_removed(self) -> None:
        r, w = socket.socketpair()
        self.addCleanup(w.close)
        handle = self.handle()
        fd = r.fileno()
        self.backend.add_reader(fd, handle)
        r.close()
        self.assertTrue(self.backend.remove_reader(fd))
        self.poll(0)

    # -- close ---------------------------------------------------------------------------

    def test_close_is_idempotent_and_drops_watches(self) -> None:
        r, w = self.socketpair()
        self.backend.add_reader(r.fileno(), self.handle())
        self.backend.add_writer(w.fileno(), self.handle())
        self.backend.close()
        self.backend.close()

    def test_no_exception_reports_during_normal_operation(self) -> None:
        r, w = self.socketpair()
        self.backend.add_reader(r.fileno(), self.handle())
        w.send(b"x")
        self.poll(_PROMPT)
        self.backend.wakeup()
        self.poll(_PROMPT)
        self.assertEqual(self.host.reports, [])


class LoopFromBackend:
    """Implements ``new_loop()`` as ``layerloop_core.EventLoop(self.new_backend())``.

    Put it first among the bases to run the loop-level suites on a backend::

        class TestMyBackendLoop(LoopFromBackend, SchedulingSuite, SocketSuite,
                                unittest.TestCase):
            def new_backend(self) -> IOBackend:
                return MyBackend()
    """

    def new_backend(self) -> IOBackend:
        raise NotImplementedError(f"{type(self).__qualname__} must implement new_backend()")

    def new_loop(self) -> asyncio.AbstractEventLoop:
        # Lazily: importing the kit (the pytest plugin does) must not import the scheduler.
        from layerloop_core import EventLoop  # noqa: PLC0415

        return EventLoop(self.new_backend())


def _pattern(size: int) -> bytes:
    return (bytes(range(251)) * (size // 251 + 1))[:size]


class _Owner:
    """A :class:`~layerloop_core.abc.StreamOwner` recording every callback.

    *on_lend* (if set) runs inside ``get_read_buffer`` and returns the buffer to lend,
    so a test can stop reading or close the stream from there."""

    def __init__(self) -> None:
        self.view = memoryview(bytearray(65536))
        self.data = bytearray()
        self.lends = 0
        self.eof = 0
        self.errors: list[BaseException] = []
        self.on_lend: Callable[[], memoryview] | None = None

    def get_read_buffer(self, size_hint: int) -> memoryview:
        self.lends += 1
        if self.on_lend is not None:
            return self.on_lend()
        return self.view

    def read_done(self, nbytes: int) -> None:
        if not nbytes:
            self.eof += 1
        self.data += self.view[:nbytes]

    def read_failed(self, exc: BaseException) -> None:
        self.errors.append(exc)


class _Calls:
    """An operation callback that records each call."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def __call__(self, *args: Any) -> None:
        self.calls.append(args)

    def called(self) -> bool:
        return bool(self.calls)


class StreamBackendSuite(LoopSuite):
    """The :class:`~layerloop_core.abc.Stream` contract, on the backend of the loop
    under test (``loop.backend`` must be a :class:`~layerloop_core.abc.StreamBackend`).

    Bind it like the other loop-level suites, or with :class:`LoopFromBackend` first
    among the bases to run it on a bare backend in ``layerloop_core.EventLoop``.
    """

    @property
    def stream_backend(self) -> StreamBackend:
        backend = getattr(self.loop, "backend", None)
        if not isinstance(backend, StreamBackend):
            self.fail(f"the loop's backend {backend!r} is not a StreamBackend")
        return backend

    def open_pair(self, owner: _Owner) -> tuple[Stream, socket.socket]:
        """A stream over one end of a socket pair (read by *owner*) and the peer."""
        mine, peer = self.socketpair()
        return self.stream_backend.open_stream(mine, owner), peer

    def close_stream(self, stream: Stream) -> None:
        closed = _Calls()
        stream.close(closed)
        self.run_until(lambda: bool(closed.calls))

    def fill(self, stream: Stream) -> int:
        """Write until the kernel's buffers are full; return the bytes taken."""
        chunk = memoryview(b"f" * 65536)
        total = 0
        while True:
            sent = stream.try_write(chunk)
            if not sent:
                return total
            total += sent

    def drain_count(self, peer: socket.socket, until: Callable[[], bool]) -> bytearray:
        """Read everything *peer* receives until *until()* holds and nothing is left."""
        received = bytearray()
        sink = bytearray(65536)

        def pump() -> bool:
            try:
                while True:
                    n = peer.recv_into(sink)
                    if not n:
                        return True
                    received.extend(sink[:n])
            except BlockingIOError:
                pass
            return until()

        self.run_until(pump)
        pump()
        return received

    # -- the owner's failure path in get_read_buffer ---------------------------------

    def test_stop_reading_inside_get_read_buffer_skips_the_read(self) -> None:
        owner = _Owner()
        stream, peer = self.open_pair(owner)

        def stop() -> memoryview:
            stream.stop_reading()
            return memoryview(b"")

        owner.on_lend = stop
        peer.send(b"waiting")
        stream.start_reading()
        self.run_until(lambda: owner.lends >= 1)
        self.run_briefly(10)
        # No read happened: nothing reported, and the bytes are still in the kernel.
        self.assertEqual((owner.data, owner.eof, owner.errors), (bytearray(), 0, []))
        self.assertEqual(owner.lends, 1)
        owner.on_lend = None
        stream.start_reading()
        self.run_until(lambda: owner.data == b"waiting")
        self.close_stream(stream)

    def test_close_inside_get_read_buffer_skips_the_read(self) -> None:
        owner = _Owner()
        stream, peer = self.open_pair(owner)
        closed = _Calls()

        def close() -> memoryview:
            stream.close(closed)
            return memoryview(b"")

        owner.on_lend = close
        peer.send(b"waiting")
        stream.start_reading()
        self.run_until(lambda: bool(closed.calls))
        self.run_briefly(10)
        self.assertEqual(closed.calls, [()])
        self.assertEqual((owner.data, owner.eof, owner.errors), (bytearray(), 0, []))
        self.assertEqual(owner.lends, 1)
        # The stream's fd was closed (with the bytes unread, a reset on some systems).
        with contextlib.suppress(ConnectionResetError):
            self.assertEqual(peer.recv(100), b"")

    # -- cancel_write ----------------------------------------------------------------

    def test_cancel_write_reports_once_what_was_written(self) -> None:
        owner = _Owner()
        stream, peer = self.open_pair(owner)
        before = self.fill(stream)
        payload = _pattern(4 * 1024 * 1024)
        done = _Calls()
        stream.write(memoryview(payload), done)
        # Let the peer take some of it so that part of the write reaches the kernel.
        received = bytearray(peer.recv(100_000))
        self.run_briefly(5)
        stream.cancel_write()
        self.assertEqual(done.calls, [], "cancel_write reported inside the call")
        stream.cancel_write()  # a second cancel is a no-op
        with self.assertRaises(RuntimeError):
            stream.write(memoryview(b"x"), _Calls())  # busy until the report has run
        with self.assertRaises(RuntimeError):
            stream.try_write(memoryview(b"x"))
        self.run_until(lambda: bool(done.calls))
        self.run_briefly(10)
        self.assertEqual(len(done.calls), 1)
        nbytes, exc = done.calls[0]
        self.assertIsInstance(exc, asyncio.CancelledError)
        self.assertGreaterEqual(nbytes, 0)
        self.assertLess(nbytes, len(payload))
        # The stream is still open and writable: a new write follows the partial one.
        tail = _Calls()
        stream.write(memoryview(b"END"), tail)
        received += self.drain_count(peer, lambda: bool(tail.calls))
        self.assertEqual(tail.calls, [(3, None)])
        self.assertEqual(len(received), before + nbytes + 3)
        self.assertEqual(bytes(received[before : before + nbytes]), payload[:nbytes])
        self.assertEqual(bytes(received[-3:]), b"END")
        self.close_stream(stream)

    def test_cancel_write_without_a_write_is_a_no_op(self) -> None:
        owner = _Owner()
        stream, peer = self.open_pair(owner)
        stream.cancel_write()
        self.assertEqual(stream.try_write(memoryview(b"ok")), 2)
        self.assertEqual(peer.recv(10), b"ok")
        self.close_stream(stream)
        stream.cancel_write()  # also on a closed stream

    def test_close_after_cancel_write_reports_the_write_once(self) -> None:
        owner = _Owner()
        stream, _peer = self.open_pair(owner)
        self.fill(stream)
        done = _Calls()
        stream.write(memoryview(_pattern(1024 * 1024)), done)
        stream.cancel_write()
        order: list[str] = []
        stream.close(lambda: order.append("closed"))
        self.run_until(lambda: bool(order))
        self.run_briefly(10)
        self.assertEqual(len(done.calls), 1)
        self.assertIsInstance(done.calls[0][1], asyncio.CancelledError)
        self.assertEqual(order, ["closed"])

    # -- vectored writes ---------------------------------------------------------------

    def _vectored_buffers(self) -> tuple[list[memoryview], bytes]:
        # More buffers than IOV_MAX (1024 on Linux), some empty, sizes varied, ~3 MiB.
        parts = [_pattern((i * 7919) % 3001) for i in range(3000)]
        return [memoryview(part) for part in parts], b"".join(parts)

    def test_vectored_write_to_a_socket(self) -> None:
        owner = _Owner()
        stream, peer = self.open_pair(owner)
        buffers, expected = self._vectored_buffers()
        done = _Calls()
        stream.write(buffers, done)
        self.assertEqual(done.calls, [])
        received = self.drain_count(peer, lambda: bool(done.calls))
        self.assertEqual(done.calls, [(len(expected), None)])
        self.assertEqual(len(received), len(expected))
        self.assertTrue(received == expected, "the bytes arrived out of order or corrupted")
        self.close_stream(stream)

    def test_vectored_write_of_empty_and_single_buffers(self) -> None:
        owner = _Owner()
        stream, peer = self.open_pair(owner)
        for buffers, expected in (
            ([memoryview(b"")], b""),
            ([memoryview(b"one")], b"one"),
            ([memoryview(b""), memoryview(b"ab"), memoryview(b""), memoryview(b"c")], b"abc"),
        ):
            done = _Calls()
            stream.write(buffers, done)
            self.run_until(done.called)
            self.assertEqual(done.calls, [(len(expected), None)])
            if expected:
                self.assertEqual(peer.recv(100), expected)
        self.close_stream(stream)

    def test_vectored_write_to_a_pipe(self) -> None:
        if sys.platform == "win32":
            self.skipTest("pipes are streamed on POSIX only")
        else:
            read_fd, write_fd = os.pipe()
            self.addCleanup(os.close, read_fd)
            os.set_blocking(read_fd, False)
            os.set_blocking(write_fd, False)
            stream = self.stream_backend.open_stream(write_fd, _Owner())
            buffers, expected = self._vectored_buffers()
            done = _Calls()
            stream.write(buffers, done)
            received = bytearray()

            def pump() -> bool:
                try:
                    while chunk := os.read(read_fd, 65536):
                        received.extend(chunk)
                except BlockingIOError:
                    pass
                return bool(done.calls)

            self.run_until(pump)
            pump()
            self.assertEqual(done.calls, [(len(expected), None)])
            self.assertTrue(received == expected, "the bytes arrived out of order or corrupted")
            self.close_stream(stream)

    def test_vectored_write_reports_an_error_with_the_count(self) -> None:
        owner = _Owner()
        stream, peer = self.open_pair(owner)
        self.fill(stream)
        done = _Calls()
        stream.write([memoryview(_pattern(1024 * 1024))] * 4, done)
        peer.close()
        self.run_until(lambda: bool(done.calls))
        ((nbytes, exc),) = done.calls
        self.assertIsInstance(exc, OSError)
        self.assertLess(nbytes, 4 * 1024 * 1024)
        self.close_stream(stream)

    # -- a closed stream -----------------------------------------------------------------

    def test_try_write_on_a_closed_stream_raises_ebadf(self) -> None:
        owner = _Owner()
        stream, _peer = self.open_pair(owner)
        self.close_stream(stream)
        with self.assertRaises(OSError) as caught:
            stream.try_write(memoryview(b"late"))
        self.assertEqual(caught.exception.errno, errno.EBADF)
        with self.assertRaises(RuntimeError):
            stream.write(memoryview(b"late"), _Calls())
