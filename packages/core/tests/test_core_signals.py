"""add_signal_handler / remove_signal_handler (os.kill on ourselves)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading

import pytest

from core_fakes import FakeBackend
from layerloop_core import EventLoop

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


@pytest.fixture(autouse=True)
def _restore_signals() -> object:
    saved = {s: signal.getsignal(s) for s in (signal.SIGUSR1, signal.SIGUSR2, signal.SIGINT)}
    yield None
    for s, h in saved.items():
        signal.signal(s, h)
    signal.set_wakeup_fd(-1)


def test_handler_runs_as_callback(loop: asyncio.AbstractEventLoop) -> None:
    calls: list[tuple[str, bool]] = []

    def handler(tag: str) -> None:
        calls.append((tag, asyncio.get_running_loop() is loop))
        loop.stop()

    loop.add_signal_handler(signal.SIGUSR1, handler, "usr1")
    loop.call_soon(os.kill, os.getpid(), signal.SIGUSR1)
    loop.run_forever()
    assert calls == [("usr1", True)]


def test_signal_wakes_sleeping_loop(loop: asyncio.AbstractEventLoop) -> None:
    calls: list[int] = []

    def handler() -> None:
        calls.append(1)
        loop.stop()

    loop.add_signal_handler(signal.SIGUSR1, handler)
    # No timers and no ready callbacks: the loop sleeps in poll with no timeout until
    # the signal's wakeup byte arrives.  (A watchdog keeps a broken loop from hanging.)
    threading.Timer(0.1, os.kill, (os.getpid(), signal.SIGUSR1)).start()
    watchdog = threading.Timer(10, loop.call_soon_threadsafe, (loop.stop,))
    watchdog.start()
    try:
        loop.run_forever()
    finally:
        watchdog.cancel()
    assert calls == [1]


def test_handler_runs_each_time(loop: asyncio.AbstractEventLoop) -> None:
    calls: list[int] = []

    def handler() -> None:
        calls.append(1)
        if len(calls) < 3:
            os.kill(os.getpid(), signal.SIGUSR2)
        else:
            loop.stop()

    loop.add_signal_handler(signal.SIGUSR2, handler)
    loop.call_soon(os.kill, os.getpid(), signal.SIGUSR2)
    loop.run_forever()
    assert calls == [1, 1, 1]


def test_replace_handler(loop: asyncio.AbstractEventLoop) -> None:
    calls: list[str] = []
    loop.add_signal_handler(signal.SIGUSR1, calls.append, "old")

    def new() -> None:
        calls.append("new")
        loop.stop()

    loop.add_signal_handler(signal.SIGUSR1, new)
    loop.call_soon(os.kill, os.getpid(), signal.SIGUSR1)
    loop.run_forever()
    assert calls == ["new"]


def test_remove_signal_handler(loop: asyncio.AbstractEventLoop) -> None:
    loop.add_signal_handler(signal.SIGUSR1, print)
    assert signal.getsignal(signal.SIGUSR1) not in (signal.SIG_DFL, signal.SIG_IGN)
    assert loop.remove_signal_handler(signal.SIGUSR1) is True
    assert signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL
    assert loop.remove_signal_handler(signal.SIGUSR1) is False
    # the wakeup fd is released when the last handler goes
    assert signal.set_wakeup_fd(-1) == -1


def test_remove_sigint_restores_default_int_handler(loop: asyncio.AbstractEventLoop) -> None:
    loop.add_signal_handler(signal.SIGINT, print)
    assert loop.remove_signal_handler(signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_wakeup_fd_set_while_handlers_exist(loop: asyncio.AbstractEventLoop) -> None:
    loop.add_signal_handler(signal.SIGUSR1, print)
    current = signal.set_wakeup_fd(-1)
    assert current != -1
    signal.set_wakeup_fd(current)
    loop.remove_signal_handler(signal.SIGUSR1)


def test_errors(loop: asyncio.AbstractEventLoop) -> None:
    with pytest.raises(TypeError, match=r"^sig must be an int, not 'x'$"):
        loop.add_signal_handler("x", print)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^sig must be an int, not 'x'$"):
        loop.remove_signal_handler("x")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^invalid signal number 0$"):
        loop.add_signal_handler(0, print)
    with pytest.raises(ValueError, match=r"^invalid signal number 1000$"):
        loop.remove_signal_handler(1000)
    with pytest.raises(RuntimeError, match=f"^sig {signal.SIGKILL} cannot be caught$"):
        loop.add_signal_handler(signal.SIGKILL, print)

    async def coro_func() -> None:
        pass

    with pytest.raises(TypeError, match=r"^coroutines cannot be used with add_signal_handler\(\)$"):
        loop.add_signal_handler(signal.SIGUSR1, coro_func)


def test_closed_loop(loop: asyncio.AbstractEventLoop) -> None:
    loop.close()
    with pytest.raises(RuntimeError, match=r"^Event loop is closed$"):
        loop.add_signal_handler(signal.SIGUSR1, print)


def test_not_main_thread(loop: asyncio.AbstractEventLoop) -> None:
    errors: list[BaseException] = []

    def other() -> None:
        try:
            loop.add_signal_handler(signal.SIGUSR1, print)
        except BaseException as exc:
            errors.append(exc)

    t = threading.Thread(target=other)
    t.start()
    t.join()
    assert len(errors) == 1
    assert type(errors[0]) is RuntimeError
    assert "main thread" in str(errors[0])
    assert signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL


def test_close_removes_handlers(loop: asyncio.AbstractEventLoop) -> None:
    loop.add_signal_handler(signal.SIGUSR1, print)
    loop.add_signal_handler(signal.SIGUSR2, print)
    loop.close()
    assert signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL
    assert signal.getsignal(signal.SIGUSR2) == signal.SIG_DFL
    assert signal.set_wakeup_fd(-1) == -1


def test_cancelled_handler_handle_is_removed(ours: EventLoop) -> None:
    ours.add_signal_handler(signal.SIGUSR1, print)
    ours._signal_handlers[signal.SIGUSR1].cancel()
    ours.call_soon(os.kill, os.getpid(), signal.SIGUSR1)
    ours.call_later(0.05, ours.stop)
    ours.run_forever()
    assert signal.SIGUSR1 not in ours._signal_handlers
    assert signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL


def test_signal_socket_watched_through_backend(ours: EventLoop) -> None:
    backend = ours.backend
    assert isinstance(backend, FakeBackend)
    before = set(backend.readers)
    ours.add_signal_handler(signal.SIGUSR1, print)
    added = set(backend.readers) - before
    assert len(added) == 1
    ours.close()
    assert not (set(backend.readers) & added)
