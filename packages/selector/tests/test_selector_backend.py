"""Each backend driven directly: watches, dispatch, wakeups, timeouts, close.

The backend is attached to a stand-in loop and ``poll`` is called by hand; what it
enqueues lands in ``backend_enqueued``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import tempfile
import threading
import time
from typing import Any

import pytest

import layerloop_selector._readiness as readiness
import layerloop_selector._select as select_module
from conftest import AVAILABLE, BACKEND_CLASSES, StandInLoop, make_handle
from layerloop_core.abc import IOBackend

if sys.platform != "win32":
    import resource

Enqueued = list[asyncio.Handle]


def test_every_backend_is_an_iobackend(backend: Any) -> None:
    assert isinstance(backend, IOBackend)
    assert backend.kind == "readiness"
    assert backend.name in AVAILABLE
    assert type(backend).name == backend.name


def test_attach_twice_is_refused(backend: Any) -> None:
    with pytest.raises(RuntimeError, match="already attached"):
        backend.attach(StandInLoop(), print)


def test_reader_is_level_triggered(backend: Any, backend_enqueued: Enqueued, sockpair: Any) -> None:
    a, b = sockpair
    handle = make_handle()
    backend.add_reader(b.fileno(), handle)
    backend.poll(0)
    assert backend_enqueued == []  # nothing to read yet
    a.send(b"x")
    backend.poll(0)
    backend.poll(0)
    # Not drained: reported by every poll.
    assert backend_enqueued == [handle, handle]
    b.recv(1)
    backend_enqueued.clear()
    backend.poll(0)
    assert backend_enqueued == []


def test_writer_fires_when_writable(
    backend: Any, backend_enqueued: Enqueued, sockpair: Any
) -> None:
    a, _ = sockpair
    handle = make_handle()
    backend.add_writer(a.fileno(), handle)
    backend.poll(0)
    assert backend_enqueued == [handle]


def test_reader_and_writer_on_one_fd_are_independent(
    backend: Any, backend_enqueued: Enqueued, sockpair: Any
) -> None:
    a, b = sockpair
    fd = b.fileno()
    reader, writer = make_handle(), make_handle()
    backend.add_reader(fd, reader)
    backend.add_writer(fd, writer)
    a.send(b"x")
    backend.poll(0)
    assert backend_enqueued == [reader, writer]

    # Removing the reader keeps the writer's kernel interest, and vice versa.
    assert backend.remove_reader(fd) is True
    assert reader.cancelled()
    backend_enqueued.clear()
    backend.poll(0)
    assert backend_enqueued == [writer]

    backend.add_reader(fd, reader2 := make_handle())
    assert backend.remove_writer(fd) is True
    backend_enqueued.clear()
    backend.poll(0)
    assert backend_enqueued == [reader2]
    assert backend.remove_reader(fd) is True
    backend_enqueued.clear()
    backend.poll(0)
    assert backend_enqueued == []


def test_replacing_a_watch_cancels_the_old_handle(
    backend: Any, backend_enqueued: Enqueued, sockpair: Any
) -> None:
    a, b = sockpair
    first, second = make_handle(), make_handle()
    backend.add_reader(b.fileno(), first)
    backend.add_reader(b.fileno(), second)
    assert first.cancelled()
    assert not second.cancelled()
    a.send(b"x")
    backend.poll(0)
    assert backend_enqueued == [second]


def test_adding_the_same_handle_again_keeps_it(
    backend: Any, backend_enqueued: Enqueued, sockpair: Any
) -> None:
    a, b = sockpair
    handle = make_handle()
    backend.add_reader(b.fileno(), handle)
    backend.add_reader(b.fileno(), handle)
    assert not handle.cancelled()
    a.send(b"x")
    backend.poll(0)
    assert backend_enqueued == [handle]


def test_remove_reports_whether_there_was_a_watch(backend: Any, sockpair: Any) -> None:
    _, b = sockpair
    fd = b.fileno()
    assert backend.remove_reader(fd) is False
    assert backend.remove_writer(fd) is False
    handle = make_handle()
    backend.add_reader(fd, handle)
    assert backend.remove_writer(fd) is False
    assert not handle.cancelled()
    assert backend.remove_reader(fd) is True
    assert handle.cancelled()
    assert backend.remove_reader(fd) is False


def test_remove_tolerates_an_fd_closed_while_watched(
    backend: Any, backend_enqueued: Enqueued
) -> None:
    a, b = socket.socketpair()
    fd = b.fileno()
    backend.add_reader(fd, make_handle())
    backend.add_writer(fd, make_handle())
    b.close()  # closed without removing the watches first
    assert backend.remove_reader(fd) is True  # EBADF from epoll_ctl is not an error
    assert backend.remove_writer(fd) is True
    a.close()
    backend.poll(0)
    assert backend_enqueued == []


def test_fd_number_reused_after_close_can_be_watched_again(
    backend: Any, backend_enqueued: Enqueued
) -> None:
    a, b = socket.socketpair()
    fd = b.fileno()
    backend.add_reader(fd, make_handle())
    b.close()
    assert backend.remove_reader(fd) is True
    # The lowest free number is handed out again.
    c, d = socket.socketpair()
    with a, c, d:
        reused = [s for s in (c, d) if s.fileno() == fd]
        if not reused:
            pytest.skip("the kernel did not reuse the fd number")
        peer = d if reused[0] is c else c
        handle = make_handle()
        backend.add_reader(fd, handle)
        peer.send(b"x")
        backend.poll(0)
        assert backend_enqueued == [handle]


def test_a_cancelled_watch_is_dropped_not_enqueued(
    backend: Any, backend_enqueued: Enqueued, sockpair: Any
) -> None:
    a, b = sockpair
    handle = make_handle()
    backend.add_reader(b.fileno(), handle)
    handle.cancel()  # cancelled by its owner while still registered
    a.send(b"x")
    backend.poll(0)
    assert backend_enqueued == []
    assert backend.remove_reader(b.fileno()) is False


def test_handles_are_enqueued_not_run(
    backend: Any, backend_enqueued: Enqueued, sockpair: Any
) -> None:
    a, b = sockpair
    ran: list[int] = []
    handle = make_handle(ran.append, 1)
    backend.add_reader(b.fileno(), handle)
    a.send(b"x")
    backend.poll(0)
    assert ran == []
    assert backend_enqueued == [handle]


def test_many_fds_each_report_their_own_handle(backend: Any, backend_enqueued: Enqueued) -> None:
    pairs = [socket.socketpair() for _ in range(50)]
    try:
        handles = {}
        for _, b in pairs:
            handles[b.fileno()] = make_handle()
            backend.add_reader(b.fileno(), handles[b.fileno()])
        ready = pairs[::3]
        for a, _ in ready:
            a.send(b"x")
        backend.poll(0)
        assert sorted(map(id, backend_enqueued)) == sorted(
            id(handles[b.fileno()]) for _, b in ready
        )
    finally:
        for a, b in pairs:
            a.close()
            b.close()


# -- kernel facts that differ between mechanisms ------------------------------------------


def test_epoll_refuses_a_regular_file_and_rolls_back(backend_enqueued: Enqueued) -> None:
    if "epoll" not in AVAILABLE:
        pytest.skip("epoll is Linux-only")
    backend = BACKEND_CLASSES["epoll"]()
    backend.attach(StandInLoop(), backend_enqueued.append)
    with tempfile.TemporaryFile() as f, pytest.raises(PermissionError):
        backend.add_reader(f.fileno(), make_handle())
    try:
        with tempfile.TemporaryFile() as f:
            # The failed add left no registry entry behind.
            assert backend.remove_reader(f.fileno()) is False
    finally:
        backend.close()


@pytest.mark.parametrize("name", [n for n in ("poll", "select") if n in AVAILABLE])
def test_poll_and_select_report_regular_files_ready(name: str, backend_enqueued: Enqueued) -> None:
    backend = BACKEND_CLASSES[name]()
    backend.attach(StandInLoop(), backend_enqueued.append)
    try:
        with tempfile.TemporaryFile() as f:
            handle = make_handle()
            backend.add_reader(f.fileno(), handle)
            backend.poll(0)
            assert backend_enqueued == [handle]
            assert backend.remove_reader(f.fileno()) is True
    finally:
        backend.close()


@pytest.mark.parametrize("name", [n for n in ("poll", "select") if n in AVAILABLE])
def test_closed_watched_fd_is_reported_to_its_waiters(
    name: str, backend_enqueued: Enqueued
) -> None:
    """poll reports POLLNVAL; select fails with EBADF and the backend finds the culprit.
    Either way the owner's handle runs (and would see EBADF) and the other watches keep
    working."""
    backend = BACKEND_CLASSES[name]()
    backend.attach(StandInLoop(), backend_enqueued.append)
    a, b = socket.socketpair()
    c, d = socket.socketpair()
    try:
        closed_handle, live_handle = make_handle(), make_handle()
        fd = b.fileno()
        backend.add_reader(fd, closed_handle)
        backend.add_reader(d.fileno(), live_handle)
        b.close()
        backend.poll(0)
        assert backend_enqueued == [closed_handle]
        assert backend.remove_reader(fd) is True
        backend_enqueued.clear()
        c.send(b"x")
        backend.poll(0)
        assert backend_enqueued == [live_handle]
    finally:
        backend.close()
        for s in (a, b, c, d):
            s.close()


def test_epoll_forgets_an_fd_closed_while_watched(backend_enqueued: Enqueued) -> None:
    if "epoll" not in AVAILABLE:
        pytest.skip("epoll is Linux-only")
    backend = BACKEND_CLASSES["epoll"]()
    backend.attach(StandInLoop(), backend_enqueued.append)
    a, b = socket.socketpair()
    try:
        backend.add_reader(b.fileno(), make_handle())
        a.send(b"x")
        b.close()  # the last reference: the kernel drops the interest-list entry
        backend.poll(0)
        assert backend_enqueued == []
    finally:
        backend.close()
        a.close()


def test_epoll_ignores_a_registration_that_outlived_its_fd(backend_enqueued: Enqueued) -> None:
    """A dup keeps the file open, so closing the watched number does not drop the epoll
    entry and it can no longer be removed.  Its events must not reach anyone, nor keep
    ending every wait (the backend rebuilds the instance without it)."""
    if "epoll" not in AVAILABLE:
        pytest.skip("epoll is Linux-only")
    backend = BACKEND_CLASSES["epoll"]()
    backend.attach(StandInLoop(), backend_enqueued.append)
    a, b = socket.socketpair()
    dup = b.dup()
    try:
        fd = b.fileno()
        backend.add_reader(fd, make_handle())
        b.close()
        assert backend.remove_reader(fd) is True
        a.send(b"x")  # the zombie entry fires
        handle = make_handle()
        backend.add_reader(a.fileno(), handle)  # a live watch, to survive the rebuild
        backend.poll(0)
        assert backend_enqueued == []
        # The entry is gone (the instance was rebuilt): waits sleep again.
        start = time.monotonic()
        backend.poll(0.05)
        assert time.monotonic() - start >= 0.045
        dup.send(b"y")
        backend.poll(0)
        assert backend_enqueued == [handle]
    finally:
        backend.close()
        a.close()
        dup.close()


def test_select_refuses_fds_beyond_fd_setsize(backend_enqueued: Enqueued) -> None:
    if sys.platform == "win32":
        pytest.skip("Windows' select limits the count of sockets, not their numbers")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1100:
        pytest.skip(f"RLIMIT_NOFILE hard limit {hard} is too low")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1100), hard))
    backend = BACKEND_CLASSES["select"]()
    backend.attach(StandInLoop(), backend_enqueued.append)
    a, b = socket.socketpair()
    high = os.dup2(b.fileno(), 1050)
    try:
        with pytest.raises(ValueError, match="FD_SETSIZE"):
            backend.add_reader(high, make_handle())
        with pytest.raises(ValueError, match="FD_SETSIZE"):
            backend.add_writer(high, make_handle())
        assert backend.remove_reader(high) is False
        # The refusal left the backend usable.
        handle = make_handle()
        backend.add_reader(b.fileno(), handle)
        a.send(b"x")
        backend.poll(0)
        assert backend_enqueued == [handle]
    finally:
        os.close(high)
        backend.close()
        a.close()
        b.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_select_is_given_exactly_the_watched_fds(
    backend_enqueued: Enqueued, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fd lists are kept up to date by the watch transitions rather than built per
    poll: after every kind of change they must equal the registry."""
    backend = BACKEND_CLASSES["select"]()
    backend.attach(StandInLoop(), backend_enqueued.append)
    given: list[tuple[set[int], set[int]]] = []

    def fake_select(r: Any, w: Any, x: Any, timeout: float | None) -> Any:
        given.append((set(r), set(w)))
        return [], [], []

    monkeypatch.setattr(select_module, "_select", fake_select)
    pairs = [socket.socketpair() for _ in range(3)]
    try:
        fds = [b.fileno() for _, b in pairs]
        wake = backend._wake_fd

        def given_now() -> tuple[set[int], set[int]]:
            backend.poll(0)
            return given[-1]

        backend.add_reader(fds[0], make_handle())
        backend.add_reader(fds[1], make_handle())
        backend.add_writer(fds[1], make_handle())
        backend.add_reader(fds[1], make_handle())  # a replacement: no transition
        assert given_now() == ({wake, fds[0], fds[1]}, {fds[1]})
        backend.remove_reader(fds[1])
        assert given_now() == ({wake, fds[0]}, {fds[1]})
        backend.add_writer(fds[2], make_handle())
        backend.remove_writer(fds[1])
        assert given_now() == ({wake, fds[0]}, {fds[2]})
        with pytest.raises(ValueError, match="FD_SETSIZE"):
            backend._watch(4096, 0, readiness.READ)  # refused: the lists are unchanged
        assert given_now() == ({wake, fds[0]}, {fds[2]})
        backend.remove_reader(fds[0])
        backend.remove_writer(fds[2])
        given.clear()
        backend.poll(0.001)
        assert given == [({wake}, set())]
    finally:
        backend.close()
        for a, b in pairs:
            a.close()
            b.close()


def test_internal_handles_are_enqueued_and_never_cancelled(
    backend: Any, backend_enqueued: Enqueued, sockpair: Any
) -> None:
    """A stream's own handle is dispatched without asking whether it was cancelled, so
    nothing in the registry may cancel one: not a removal, not a replacement."""
    a, b = sockpair
    fd = b.fileno()
    own = readiness.InternalHandle(print, (), StandInLoop())  # type: ignore[arg-type]
    backend._set_reader(fd, own)
    backend._set_writer(fd, own)
    a.send(b"x")
    backend.poll(0)
    assert backend_enqueued == [own, own]
    backend.add_reader(fd, make_handle())  # replaces it
    assert backend.remove_writer(fd) is True
    assert not own.cancelled()
    backend._set_reader(fd, own)
    backend.close()
    assert not own.cancelled()


@pytest.mark.parametrize("name", [n for n in ("epoll", "poll") if n in AVAILABLE])
def test_epoll_and_poll_watch_fds_beyond_1024(name: str, backend_enqueued: Enqueued) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 2400
    if hard != resource.RLIM_INFINITY and hard < want:
        pytest.skip(f"RLIMIT_NOFILE hard limit {hard} is too low")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want), hard))
    backend = BACKEND_CLASSES[name]()
    backend.attach(StandInLoop(), backend_enqueued.append)
    pairs = [socket.socketpair() for _ in range(1100)]
    try:
        handles = {}
        for _, b in pairs:
            handles[b.fileno()] = make_handle()
            backend.add_reader(b.fileno(), handles[b.fileno()])
        assert max(handles) > 1024
        high = [(a, b) for a, b in pairs if b.fileno() > 1024][:5]
        for a, _ in high:
            a.send(b"x")
        backend.poll(0)
        assert sorted(map(id, backend_enqueued)) == sorted(id(handles[b.fileno()]) for _, b in high)
    finally:
        backend.close()
        for a, b in pairs:
            a.close()
            b.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


# -- wakeups --------------------------------------------------------------------------------


def test_wakeup_before_poll_makes_it_return_at_once(backend: Any) -> None:
    backend.wakeup()
    start = time.monotonic()
    backend.poll(None)  # would block forever without the pending wakeup
    assert time.monotonic() - start < 1.0


def test_wakeup_from_another_thread_ends_a_blocking_poll(backend: Any) -> None:
    timer = threading.Timer(0.05, backend.wakeup)
    timer.start()
    start = time.monotonic()
    try:
        backend.poll(10.0)
    finally:
        timer.join()
    assert 0.04 <= time.monotonic() - start < 5.0


def test_wakeups_coalesce_and_are_drained(backend: Any, backend_enqueued: Enqueued) -> None:
    for _ in range(1000):
        backend.wakeup()
    backend.poll(0)
    assert backend_enqueued == []  # the wakeup channel is not a watch
    # Drained: the next poll sleeps for its whole timeout.
    start = time.monotonic()
    backend.poll(0.05)
    assert time.monotonic() - start >= 0.045
    # And the channel works again after the drain.
    backend.wakeup()
    start = time.monotonic()
    backend.poll(10.0)
    assert time.monotonic() - start < 1.0


def test_wakeups_racing_with_polls_are_never_lost(backend: Any) -> None:
    """Each round publishes a token then wakes the backend from another thread; the
    polling side must see every token without sleeping out its timeout."""
    rounds = 300
    published: list[int] = []
    go = threading.Event()

    def producer() -> None:
        for i in range(rounds):
            go.wait()
            go.clear()
            published.append(i)
            backend.wakeup()

    thread = threading.Thread(target=producer)
    thread.start()
    try:
        for i in range(rounds):
            go.set()
            deadline = time.monotonic() + 5.0
            while len(published) <= i:
                backend.poll(5.0)
                assert time.monotonic() < deadline, f"wakeup {i} was lost"
    finally:
        go.set()
        thread.join()


def test_a_wakeup_racing_with_the_drain_does_not_jam_later_wakeups(
    backend: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deterministic version of the race: another thread's wakeup() lands exactly while
    poll drains the eventfd.  Later wakeups must still reach the kernel (a flag left
    set with the channel empty would swallow them all)."""
    if backend._wake_socks is not None:
        pytest.skip("the eventfd channel is Linux-only")

    class RacingOs:
        def __getattr__(self, name: str) -> Any:
            return getattr(os, name)

        def read(self, fd: int, n: int) -> bytes:
            backend.wakeup()  # the racing thread, just before the drain's read
            return os.read(fd, n)

    backend.wakeup()
    monkeypatch.setattr(readiness, "os", RacingOs())
    backend.poll(0)
    monkeypatch.setattr(readiness, "os", os)
    backend.wakeup()
    start = time.monotonic()
    backend.poll(3.0)
    assert time.monotonic() - start < 1.0, "the wakeup was swallowed"


def test_wakeup_after_close_is_a_no_op(backend: Any) -> None:
    backend.close()
    backend.wakeup()
    backend.wakeup()


# -- timeouts -------------------------------------------------------------------------------


def _record_wait_argument(backend: Any, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    seen: list[Any] = []
    if backend.name == "epoll":

        def fake_epoll(timeout: float, maxevents: int) -> list[tuple[int, int]]:
            seen.append(timeout)
            return []

        monkeypatch.setattr(backend, "_epoll_wait", fake_epoll)
    elif backend.name == "poll":

        def fake_poll(timeout: int) -> list[tuple[int, int]]:
            seen.append(timeout)
            return []

        monkeypatch.setattr(backend, "_poll_wait", fake_poll)
    else:

        def fake_select(r: Any, w: Any, x: Any, timeout: float | None) -> Any:
            seen.append(timeout)
            return [], [], []

        monkeypatch.setattr(select_module, "_select", fake_select)
    return seen


@pytest.mark.parametrize(
    ("timeout", "expected"),
    [
        (None, {"epoll": -1.0, "poll": -1, "select": None}),
        (0, {"epoll": 0.0, "poll": 0, "select": 0.0}),
        (-5.0, {"epoll": 0.0, "poll": 0, "select": 0.0}),  # a late timer: never "forever"
        (float("nan"), {"epoll": 0.0, "poll": 0, "select": 0.0}),
        # poll rounds up to whole milliseconds
        (0.0004, {"epoll": 0.0004, "poll": 1, "select": 0.0004}),
        (0.001, {"epoll": 0.001, "poll": 1, "select": 0.001}),
        (0.0011, {"epoll": 0.0011, "poll": 2, "select": 0.0011}),
        (2.5, {"epoll": 2.5, "poll": 2500, "select": 2.5}),
        (1e12, {"epoll": 86400.0, "poll": 86_400_000, "select": 86400.0}),  # clamped to a day
        (float("inf"), {"epoll": 86400.0, "poll": 86_400_000, "select": 86400.0}),
    ],
)
def test_timeout_conversion(
    backend: Any,
    monkeypatch: pytest.MonkeyPatch,
    sockpair: Any,
    timeout: float | None,
    expected: dict[str, Any],
) -> None:
    # A watch, so that a zero timeout asks the kernel too (see the next test).
    backend.add_reader(sockpair[1].fileno(), make_handle())
    seen = _record_wait_argument(backend, monkeypatch)
    backend.poll(timeout)
    want = expected[backend.name]
    assert seen == [want]
    assert type(seen[0]) is type(want)


def test_a_zero_timeout_asks_the_kernel_only_when_it_may_have_something_to_report(
    backend: Any, monkeypatch: pytest.MonkeyPatch, backend_enqueued: Enqueued, sockpair: Any
) -> None:
    seen = _record_wait_argument(backend, monkeypatch)
    backend.poll(0.0)
    backend.poll(-1.0)
    assert seen == []  # nothing watched, no wakeup written: no system call
    backend.poll(0.001)
    assert len(seen) == 1  # a real wait always waits
    backend.wakeup()
    backend.poll(0.0)
    assert len(seen) == 2  # the wakeup channel must be drained
    monkeypatch.undo()
    backend.poll(0.0)  # drains for real
    assert not backend._wake_pending
    a, b = sockpair
    handle = make_handle()
    backend.add_reader(b.fileno(), handle)
    a.send(b"x")
    backend.poll(0.0)
    assert backend_enqueued == [handle]


def test_a_short_timeout_is_never_cut_short(backend: Any) -> None:
    # A timer due in 0.3 ms must not see poll return before then (rounding down to a
    # zero timeout would make the loop spin until the timer is due).
    for _ in range(20):
        start = time.perf_counter()
        backend.poll(0.0003)
        assert time.perf_counter() - start >= 0.0003


def test_interrupted_wait_is_an_early_return(
    backend: Any, backend_enqueued: Enqueued, monkeypatch: pytest.MonkeyPatch, sockpair: Any
) -> None:
    a, b = sockpair
    backend.add_reader(b.fileno(), make_handle())
    a.send(b"x")

    def interrupted(*args: Any) -> Any:
        raise InterruptedError

    if backend.name == "epoll":
        monkeypatch.setattr(backend, "_epoll_wait", interrupted)
    elif backend.name == "poll":
        monkeypatch.setattr(backend, "_poll_wait", interrupted)
    else:
        monkeypatch.setattr(select_module, "_select", interrupted)
    backend.poll(10.0)  # returns at once, raises nothing
    assert backend_enqueued == []


def test_a_signal_during_poll_runs_its_handler_and_the_wait_goes_on(backend: Any) -> None:
    if not hasattr(signal, "setitimer"):
        pytest.skip("needs signal.setitimer")

    hits: list[int] = []
    old = signal.signal(signal.SIGALRM, lambda *_: hits.append(1))
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.02)
        start = time.monotonic()
        backend.poll(0.2)
        elapsed = time.monotonic() - start
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert hits == [1]
    # EINTR either returned early or was retried by Python with the remaining timeout;
    # never an error, never a wait longer than asked.
    assert elapsed < 1.0


# -- close ----------------------------------------------------------------------------------


def test_close_releases_the_kernel_objects_and_is_idempotent(backend: Any, sockpair: Any) -> None:
    _, b = sockpair
    handle = make_handle()
    backend.add_reader(b.fileno(), handle)
    fds = [backend._wake_fd]
    if hasattr(backend, "fileno"):
        fds.append(backend.fileno())
    for fd in fds:
        os.fstat(fd)  # open
    backend.close()
    backend.close()
    assert handle.cancelled()
    for fd in fds:
        with pytest.raises(OSError):
            os.fstat(fd)
    assert "closed" in repr(backend)


def test_close_keeps_the_watched_fd_open(backend: Any, sockpair: Any) -> None:
    a, b = sockpair
    backend.add_reader(b.fileno(), make_handle())
    backend.close()
    a.send(b"x")
    assert b.recv(1) == b"x"


def test_never_changes_blocking_mode(backend: Any) -> None:
    a, b = socket.socketpair()
    with a, b:
        assert b.getblocking()
        backend.add_reader(b.fileno(), make_handle())
        backend.add_writer(b.fileno(), make_handle())
        backend.poll(0)
        backend.remove_reader(b.fileno())
        backend.remove_writer(b.fileno())
        assert b.getblocking()
        assert os.get_blocking(b.fileno())
