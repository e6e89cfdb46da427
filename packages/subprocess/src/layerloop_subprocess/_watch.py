"""Waiting for one child to exit, without a process-wide watcher.

Kernel facts and the invariants built on them:

* A child that exits stays a zombie, keeping its pid, until its parent reaps it with
  ``waitpid``.  Reaping is therefore the moment the pid may be reused: every signal
  sent by the transport happens before it, from the loop's thread, and reaping happens
  on the loop's thread too (``waitpid(pid, WNOHANG)``, see :func:`reap`).  We only
  ever wait for a pid we spawned, never ``-1``: children of other code in the process
  are left to whoever spawned them.
* A *pidfd* (``pidfd_open``, Linux 5.3+) becomes readable when its process exits, so
  the loop watches it like any fd (``loop.add_reader``): no thread and no signal.
  ``pidfd_open`` of a zombie works and the fd is readable at once.
* Without pidfds, one thread per child blocks in ``waitid(P_PID, pid, WEXITED |
  WNOWAIT)``, which reports the exit *without* reaping, then hands over to the loop
  with ``call_soon_threadsafe``; the loop reaps.  Where ``waitid`` is missing the
  thread reaps with ``waitpid(pid, 0)`` itself and passes the status along.
* If the loop closes before the child exits, the wait is handed to a thread that reaps
  the child whenever it exits: no zombie is left behind, and nobody is told.
* SIGCHLD is never touched, so these watches work from loops in any thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import sys
import threading
import weakref
from collections.abc import Callable
from typing import Final

__all__ = [
    "ChildWatch",
    "PidfdWatch",
    "ThreadWatch",
    "orphan_watches",
    "pidfd_usable",
    "reap",
    "watch_child",
]

logger = logging.getLogger("asyncio")

_WAITING: Final = 0
_POSTED: Final = 1
_DONE: Final = 2
_ORPHANED: Final = 3

#: Receives the returncode, or ``None`` when someone else reaped the child first (its
#: status is lost to us; ``subprocess.Popen.poll`` may have it).
OnExit = Callable[["int | None"], None]

# Watches not finished yet, per loop, so that closing the loop can hand them to threads.
_live: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, set[ChildWatch]] = (
    weakref.WeakKeyDictionary()
)
_pidfd_broken = False


def reap(pid: int, *, block: bool = False) -> int | None:
    """Reap *pid* and return its returncode (``-signal`` for a signal death); ``None``
    if it is still running (never with *block*).  ``ChildProcessError`` if someone else
    reaped it."""
    if sys.platform == "win32":
        raise NotImplementedError("child processes are watched on POSIX only")
    else:
        waited, status = os.waitpid(pid, 0 if block else os.WNOHANG)
        if waited == 0:
            return None
        return os.waitstatus_to_exitcode(status)


def _reap_quietly(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def _open_pidfd(pid: int) -> int:
    if sys.platform == "linux":
        return os.pidfd_open(pid)
    raise OSError(errno.ENOSYS, "pidfds are a Linux feature")


def pidfd_usable() -> bool:
    """Whether this process can watch children with pidfds (``os.pidfd_open`` exists and
    the kernel has not refused it)."""
    return hasattr(os, "pidfd_open") and not _pidfd_broken


class ChildWatch:
    """Reports the exit of one child to *on_exit* (from the loop's thread, once)."""

    __slots__ = ("_loop", "_on_exit", "pid")

    def __init__(self, loop: asyncio.AbstractEventLoop, pid: int, on_exit: OnExit) -> None:
        self._loop = loop
        self.pid = pid
        self._on_exit = on_exit
        _live.setdefault(loop, set()).add(self)

    def _finish(self, returncode: int | None) -> None:
        live = _live.get(self._loop)
        if live is not None:
            live.discard(self)
        self._on_exit(returncode)

    def orphan(self) -> None:
        """The loop is closing: reap the child whenever it exits, tell nobody."""
        raise NotImplementedError


class PidfdWatch(ChildWatch):
    """Watches a pidfd with ``loop.add_reader``."""

    __slots__ = ("_pidfd",)

    def __init__(self, loop: asyncio.AbstractEventLoop, pid: int, on_exit: OnExit) -> None:
        self._pidfd = _open_pidfd(pid)  # OSError: the caller falls back to a thread
        try:
            loop.add_reader(self._pidfd, self._ready)
        except BaseException:
            os.close(self._pidfd)
            raise
        super().__init__(loop, pid, on_exit)

    def _release(self) -> None:
        self._loop.remove_reader(self._pidfd)
        os.close(self._pidfd)
        self._pidfd = -1

    def _ready(self) -> None:
        if self._pidfd < 0:
            return
        try:
            returncode = reap(self.pid)
        except ChildProcessError:
            returncode = None  # reaped by someone else
        else:
            if returncode is None:
                return  # not really exited (cannot happen for a pidfd; keep watching)
        self._release()
        self._finish(returncode)

    def orphan(self) -> None:
        if self._pidfd < 0:
            return
        self._release()
        threading.Thread(
            target=_reap_quietly, args=(self.pid,), name=f"layerloop-reap-{self.pid}", daemon=True
        ).start()


class ThreadWatch(ChildWatch):
    """Waits in a thread of its own, then hands over to the loop."""

    __slots__ = ("_lock", "_reaped", "_state", "_status")

    def __init__(self, loop: asyncio.AbstractEventLoop, pid: int, on_exit: OnExit) -> None:
        super().__init__(loop, pid, on_exit)
        self._lock = threading.Lock()
        self._state = _WAITING
        #: Whether the thread reaped (no ``waitid``), and what it got.
        self._reaped = False
        self._status: int | None = None
        threading.Thread(target=self._wait, name=f"layerloop-waitpid-{pid}", daemon=True).start()

    def _wait(self) -> None:
        pid = self.pid
        try:
            if sys.platform != "win32" and hasattr(os, "waitid"):
                os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
            else:
                self._reaped = True
                self._status = reap(pid, block=True)
        except ChildProcessError:
            pass  # reaped by someone else: the loop's reap reports it
        with self._lock:
            if self._state == _ORPHANED:
                if not self._reaped:
                    _reap_quietly(pid)
                return
            self._state = _POSTED
            try:
                self._loop.call_soon_threadsafe(self._exited)
            except RuntimeError:  # the loop is closed
                self._state = _ORPHANED
                if not self._reaped:
                    _reap_quietly(pid)

    def _exited(self) -> None:
        with self._lock:
            if self._state != _POSTED:
                return
            self._state = _DONE
        status = self._status
        if not self._reaped:
            # The child has exited (waitid said so): this does not block.
            try:
                status = reap(self.pid, block=True)
            except ChildProcessError:
                status = None
        self._finish(status)

    def orphan(self) -> None:
        with self._lock:
            state = self._state
            self._state = _ORPHANED
        if state == _POSTED and not self._reaped:
            _reap_quietly(self.pid)  # exited already; the posted callback is dropped


def watch_child(
    loop: asyncio.AbstractEventLoop, pid: int, on_exit: OnExit, *, use_pidfd: bool = True
) -> ChildWatch:
    """Start watching *pid*: a pidfd when usable (and *use_pidfd*), else a thread."""
    global _pidfd_broken
    if use_pidfd and pidfd_usable():
        try:
            return PidfdWatch(loop, pid, on_exit)
        except OSError as exc:
            # ENOSYS (old kernel) or EPERM (seccomp): fall back for good.  Anything else
            # (EMFILE...) falls back for this child only.
            if exc.errno in (errno.ENOSYS, errno.EPERM):
                _pidfd_broken = True
    return ThreadWatch(loop, pid, on_exit)


def orphan_watches(loop: asyncio.AbstractEventLoop) -> None:
    """Hand every unfinished watch of *loop* to a reaping thread (the loop closes)."""
    live = _live.pop(loop, None)
    if live:
        for watch in list(live):
            watch.orphan()
