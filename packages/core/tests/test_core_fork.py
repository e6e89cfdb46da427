"""After os.fork(), a loop created in the parent is retired in the child.

Each test forks for real.  The child reports what it observed as JSON over a pipe and
leaves with ``os._exit`` (never returning into pytest); the parent then checks that its
own loop still works, which is where sharing kernel state would show: the fake backend's
epoll instance, its wakeup socket pair and the loop's signal socket pair are shared
between the two processes after a fork.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from core_fakes import FakeBackend, ForkAwareFakeBackend
from layerloop_core import EventLoop

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork()")

Report = dict[str, Any]


class RecordingBackend(FakeBackend):
    """FakeBackend without the fork hook that records the loop's calls into it."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def poll(self, timeout: float | None) -> None:
        self.calls.append("poll")
        super().poll(timeout)

    def wakeup(self) -> None:
        self.calls.append("wakeup")
        super().wakeup()

    def close(self) -> None:
        self.calls.append("close")
        super().close()

    def add_reader(self, fd: int, handle: asyncio.Handle) -> None:
        self.calls.append("add_reader")
        super().add_reader(fd, handle)

    def remove_reader(self, fd: int) -> bool:
        self.calls.append("remove_reader")
        return super().remove_reader(fd)

    async def sock_recv(self, sock: socket.socket, nbytes: int) -> bytes:
        self.calls.append("sock_recv")
        return await super().sock_recv(sock, nbytes)


class RecordingForkAwareBackend(ForkAwareFakeBackend, RecordingBackend):
    """RecordingBackend with the optional ``after_fork_in_child`` hook."""

    def after_fork_in_child(self) -> None:
        self.calls.append("after_fork_in_child")
        super().after_fork_in_child()


BACKENDS: dict[str, Callable[[], RecordingBackend]] = {
    "with-hook": RecordingForkAwareBackend,
    "without-hook": RecordingBackend,
}


@pytest.fixture(params=sorted(BACKENDS))
def forked_loop(request: pytest.FixtureRequest) -> Iterator[EventLoop]:
    loop = EventLoop(BACKENDS[request.param]())
    yield loop
    if not loop.is_running():
        loop.close()


def _fork() -> int:
    # pytest's faulthandler watchdog is a thread, so 3.12+ warns that forking a
    # multi-threaded process may deadlock the child.  Our children only run code that
    # takes no lock another thread could hold, and leave with os._exit.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return os.fork()


def _report_and_exit(fd: int, report: Report) -> None:
    """In the child: write *report* and leave without unwinding into pytest."""
    try:
        os.write(fd, json.dumps(report).encode())
    finally:
        os._exit(0)


def _collect(pid: int, read_fd: int) -> Report:
    """In the parent: wait for the child and return its report."""
    chunks = []
    while chunk := os.read(read_fd, 65536):
        chunks.append(chunk)
    os.close(read_fd)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    report: Report = json.loads(b"".join(chunks))
    return report


def _raises(call: Callable[[], object]) -> str | None:
    """The RuntimeError message *call* raises, or None if it raises nothing."""
    try:
        call()
    except RuntimeError as exc:
        return str(exc)
    return None


def _run_briefly(loop: asyncio.AbstractEventLoop, seconds: float = 0.05) -> None:
    loop.run_until_complete(asyncio.sleep(seconds))


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_child_retires_the_parents_loop(forked_loop: EventLoop) -> None:
    loop = forked_loop
    backend = loop.backend
    assert isinstance(backend, RecordingBackend)
    seen: list[str] = []
    loop.add_signal_handler(signal.SIGUSR1, seen.append, "signal")
    pipe_r, pipe_w = os.pipe()
    loop.add_reader(pipe_r, lambda: seen.append(os.read(pipe_r, 100).decode()))
    pending = loop.call_soon(seen.append, "queued before fork")
    report_r, report_w = os.pipe()
    backend.calls.clear()
    pid = _fork()
    if pid == 0:
        report: Report = {}
        try:
            os.close(report_r)
            report["closed"] = loop.is_closed()
            report["running"] = loop.is_running()
            report["call_soon"] = _raises(lambda: loop.call_soon(print))
            report["call_soon_threadsafe"] = _raises(lambda: loop.call_soon_threadsafe(print))
            report["call_later"] = _raises(lambda: loop.call_later(1, print))
            report["run"] = _raises(lambda: _run_briefly(loop))
            report["get_running_loop"] = _raises(asyncio.get_running_loop)
            report["pending_cancelled"] = pending.cancelled()
            a, b = socket.socketpair()
            with a, b:
                a.setblocking(False)
                coro = loop.sock_recv(a, 1)
                report["sock_recv"] = _raises(lambda: coro.send(None))
                coro.close()
            # The child's signal wakeup fd no longer points at the parent's socket
            # pair, so this signal is the child's alone (the Python-level handler the
            # loop installed is a no-op): had its byte gone into the shared socket, the
            # parent would run its handler.  Probed only afterwards, because probing
            # resets the fd.
            os.kill(os.getpid(), signal.SIGUSR1)
            report["wakeup_fd"] = signal.set_wakeup_fd(-1)
            # Neither of these may reach the epoll instance the parent still uses.
            report["remove_reader"] = loop.remove_reader(pipe_r)
            loop.close()
            report["calls"] = backend.calls
        except BaseException as exc:
            report["error"] = repr(exc)
        _report_and_exit(report_w, report)
    os.close(report_w)
    try:
        child = _collect(pid, report_r)
        assert "error" not in child, child["error"]
        assert child["closed"] is True and child["running"] is False
        for method in ("call_soon", "call_soon_threadsafe", "call_later", "run", "sock_recv"):
            assert child[method] is not None, method
            assert "forked" in child[method], (method, child[method])
        assert child["get_running_loop"] == "no running event loop"
        assert child["pending_cancelled"] is True
        assert child["remove_reader"] is False
        # The loop never touched the backend in the child; only the hook ran, if any.
        hooked = isinstance(backend, ForkAwareFakeBackend)
        assert child["calls"] == (["after_fork_in_child"] if hooked else [])

        # The parent's loop is intact: its queued callback, its signal handler and its
        # reader all still work, and the child's SIGUSR1 did not reach it.
        _run_briefly(loop)
        assert seen == ["queued before fork"]
        assert child["wakeup_fd"] == -1
        os.kill(os.getpid(), signal.SIGUSR1)
        os.write(pipe_w, b"pipe")
        _run_briefly(loop)
        assert sorted(seen[1:]) == ["pipe", "signal"]
        assert not loop.is_closed()
    finally:
        loop.remove_reader(pipe_r)
        os.close(pipe_r)
        os.close(pipe_w)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_child_keeps_a_wakeup_fd_that_is_not_ours(forked_loop: EventLoop) -> None:
    """Only our own signal socket is released on 3.11; 3.12+ resets any (CPython)."""
    forked_loop.add_signal_handler(signal.SIGUSR1, print)
    theirs, other_end = socket.socketpair()
    theirs.setblocking(False)
    report_r, report_w = os.pipe()
    ours = signal.set_wakeup_fd(theirs.fileno())  # another library took it over
    assert ours not in (-1, theirs.fileno())
    try:
        pid = _fork()
        if pid == 0:
            report: Report = {}
            try:
                report["wakeup_fd"] = signal.set_wakeup_fd(-1)
            except BaseException as exc:
                report["error"] = repr(exc)
            _report_and_exit(report_w, report)
        os.close(report_w)
        child = _collect(pid, report_r)
        expected = -1 if sys.version_info >= (3, 12) else theirs.fileno()
        assert child == {"wakeup_fd": expected}
    finally:
        signal.set_wakeup_fd(ours)
        theirs.close()
        other_end.close()


def test_fork_inside_a_callback_stops_the_childs_run(forked_loop: EventLoop) -> None:
    """A callback forks; in the child the run ends after that callback, the rest of its
    batch does not run, and run_until_complete raises.  The parent carries on."""
    loop = forked_loop
    parent = os.getpid()
    order: list[str] = []
    report_r, report_w = os.pipe()
    child_pid: list[int] = []

    def forking_callback() -> None:
        order.append("fork")
        child_pid.append(_fork())

    async def main() -> str:
        loop.call_soon(forking_callback)
        loop.call_soon(order.append, "same batch")
        await asyncio.sleep(0.01)
        # From another thread: the wakeup channel must still work for the parent.
        threading.Timer(0.05, loop.call_soon_threadsafe, (order.append, "threadsafe")).start()
        await asyncio.sleep(0.2)
        return "done"

    report: Report = {}
    try:
        try:
            result = loop.run_until_complete(main())
        except RuntimeError as exc:
            if os.getpid() == parent:
                raise
            report["run_error"] = str(exc)
        else:
            report["result"] = result
        if os.getpid() != parent:
            report["order"] = order
            report["running"] = loop.is_running()
            report["get_running_loop"] = _raises(asyncio.get_running_loop)
    except BaseException as exc:
        if os.getpid() == parent:
            raise
        report["error"] = repr(exc)
    finally:
        if os.getpid() != parent:
            _report_and_exit(report_w, report)
    os.close(report_w)
    child = _collect(child_pid[0], report_r)
    assert "error" not in child, child["error"]
    assert "result" not in child
    assert "forked" in child["run_error"]
    assert child["order"] == ["fork"]
    assert child["running"] is False
    assert child["get_running_loop"] == "no running event loop"
    assert report["result"] == "done"
    assert order == ["fork", "same batch", "threadsafe"]


def test_fork_while_the_loop_runs_in_another_thread() -> None:
    loop = EventLoop(ForkAwareFakeBackend())
    started = threading.Event()
    loop.call_soon(started.set)
    runner = threading.Thread(target=loop.run_forever)
    runner.start()
    report_r, report_w = os.pipe()
    try:
        assert started.wait(10)
        pid = _fork()
        if pid == 0:
            report: Report = {}
            try:
                # The thread that ran the loop does not exist in the child.
                report["running"] = loop.is_running()
                report["closed"] = loop.is_closed()
                loop.close()
            except BaseException as exc:
                report["error"] = repr(exc)
            _report_and_exit(report_w, report)
        os.close(report_w)
        child = _collect(pid, report_r)
        assert child == {"running": False, "closed": True}
        # The parent's loop, running in its thread, still wakes up for other threads.
        assert loop.is_running()
    finally:
        loop.call_soon_threadsafe(loop.stop)
        runner.join(10)
    assert not runner.is_alive()
    loop.close()


def test_loop_created_in_the_child_works() -> None:
    parent_loop = EventLoop(ForkAwareFakeBackend())
    closed_before = EventLoop(ForkAwareFakeBackend())
    closed_before.close()
    report_r, report_w = os.pipe()
    pid = _fork()
    if pid == 0:
        report: Report = {}
        try:
            report["closed_before_fork"] = closed_before.is_closed()
            loop = EventLoop(ForkAwareFakeBackend())

            async def main() -> list[str]:
                got: list[str] = []
                done = loop.create_future()
                loop.call_later(0.01, got.append, "timer")
                threading.Timer(
                    0.02, loop.call_soon_threadsafe, (done.set_result, "threadsafe")
                ).start()
                got.append(await done)
                return got

            report["result"] = loop.run_until_complete(main())
            loop.close()
            report["parent_loop_closed"] = parent_loop.is_closed()
        except BaseException as exc:
            report["error"] = repr(exc)
        _report_and_exit(report_w, report)
    os.close(report_w)
    child = _collect(pid, report_r)
    assert child == {
        "closed_before_fork": True,
        "result": ["timer", "threadsafe"],
        "parent_loop_closed": True,
    }
    assert not parent_loop.is_closed()
    _run_briefly(parent_loop)
    parent_loop.close()
