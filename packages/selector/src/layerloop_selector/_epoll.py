"""The epoll backend (Linux).

Some facts about epoll
======================

* An epoll instance keeps an *interest list*.  ``epoll_ctl(ADD/MOD/DEL)`` edits it and
  ``epoll_wait`` returns the entries that are ready, each with the event bits that hold.
  Unlike ``select``/``poll``, the cost of a wait depends on the number of *ready* fds, not
  on the number watched, and nothing is copied into the kernel per wait.

* Entries are keyed by the pair (fd number, open file description), not by the fd number
  alone.  Closing an fd removes its entry only when that was the last reference to the
  file description.  If the description is still open elsewhere (``dup``, ``fork``, a
  descriptor passed over a Unix socket), the entry survives the close and keeps
  reporting events under the old fd number, and we can no longer remove it:
  ``EPOLL_CTL_DEL`` on the closed number fails with ``EBADF``, or with ``ENOENT`` once the
  number has been reused for another file.  So watches must be removed *before* the fd is
  closed (asyncio's rule for ``add_reader`` too).  We tolerate ``EBADF``/``ENOENT`` on
  removal (the fd was closed while watched).  When the kernel then reports an fd we no
  longer watch, its entry outlived the close and would end every wait at once while the
  file stays ready (a busy loop in CPython's loop, typically while a forked child still
  holds the socket), so we rebuild the epoll instance from our registry, which drops it.
  If the number was meanwhile reused and is watched again, the stale entry's events
  reach the new watch as spurious wakeups instead, which every waiter tolerates.

* One consequence of the keying: after an fd is closed and its number reused,
  ``EPOLL_CTL_MOD`` on the number fails with ``ENOENT`` (the new file is not in the list)
  and ``EPOLL_CTL_ADD`` succeeds.  ``_watch`` uses that to heal: a modify that adds a
  direction and finds no entry registers one.

* Level-triggered (the default) versus edge-triggered (``EPOLLET``) and one-shot
  (``EPOLLONESHOT``).  ``add_reader`` promises a callback on every iteration while the fd
  is readable, and the ``sock_*`` operations wait once and then act, so we use
  level-triggered entries: an fd that stays ready is reported by every wait, and a
  missed edge cannot strand a waiter.  The price is one ``epoll_ctl`` when a watch starts
  and one when it ends (CPython's selector loop pays the same); edge-triggered mode
  would need every reader to drain to ``EAGAIN``, which an ``add_reader`` callback does
  not promise.

* ``EPOLLERR`` and ``EPOLLHUP`` are always reported, whether requested or not.  We treat
  every bit other than ``EPOLLOUT`` as "readable" and every bit other than ``EPOLLIN`` as
  "writable", so an error or hang-up wakes every waiter of the fd, whose next call then
  reports the error or the end of stream.

* ``epoll_ctl`` refuses regular files and directories with ``EPERM`` (they are always
  ready, so there is nothing to wait for); ``add_reader`` then raises
  :class:`PermissionError`, as with CPython's epoll selector.

* ``epoll_wait`` takes its timeout as an ``int`` of milliseconds; Python converts our
  float seconds rounding *up* (a timer due in 0.2 ms sleeps 1 ms instead of spinning on
  zero-timeout waits), treats a negative value as "forever" and rejects values beyond
  ``INT_MAX`` ms.  We clamp to ``[0, MAX_TIMEOUT]`` and pass ``-1`` only for "no timeout".

* ``maxevents``: Python allocates an array of that many ``struct epoll_event`` per call.
  We pass the number of registered fds plus one (the wakeup fd): no wait can report more.

* ``EINTR``: Python retries an interrupted ``epoll_wait`` itself (PEP 475) after running
  the signal handlers, with the remaining timeout; a handler that raises ends the wait
  with its exception.  An ``InterruptedError`` that still gets through is treated as an
  early return: the scheduler recomputes its timers and polls again.

* The wakeup channel is an ``eventfd`` registered for ``EPOLLIN``: a counter that any
  thread can add to with one ``write`` and that one ``read`` drains.

* After ``fork`` the child shares the parent's epoll instance (and its interest list):
  a backend must not be used in both processes.
"""

from __future__ import annotations

import contextlib
import select
import sys
from typing import TYPE_CHECKING, Final

from ._readiness import MAX_TIMEOUT, ReadinessBackend, UnavailableBackend

__all__ = ["EpollBackend"]

if sys.platform == "linux" and (TYPE_CHECKING or hasattr(select, "epoll")):
    _EPOLLIN: Final = select.EPOLLIN
    _EPOLLOUT: Final = select.EPOLLOUT
    #: Kernel event masks indexed by our READ/WRITE bit sets.
    _MASKS: Final = (0, _EPOLLIN, _EPOLLOUT, _EPOLLIN | _EPOLLOUT)
    #: Bits that wake a reader (everything but EPOLLOUT) and a writer (all but EPOLLIN).
    _READABLE: Final = ~_EPOLLOUT
    _WRITABLE: Final = ~_EPOLLIN

    class EpollBackend(ReadinessBackend):
        """Readiness backend over ``epoll`` (Linux); the default there."""

        __slots__ = ("_epoll", "_epoll_wait")

        name = "epoll"

        def __init__(self) -> None:
            self._epoll = select.epoll()  # close-on-exec, as every fd Python creates
            try:
                super().__init__()
                self._epoll.register(self._wake_fd, _EPOLLIN)
            except BaseException:
                self._epoll.close()
                raise
            self._epoll_wait = self._epoll.poll

        def fileno(self) -> int:
            """The epoll instance's fd (for diagnostics)."""
            return self._epoll.fileno()

        def poll(self, timeout: float | None) -> None:
            """Wait for at most *timeout* seconds and dispatch what became ready."""
            if timeout is None:
                seconds = -1.0
            elif timeout >= MAX_TIMEOUT:
                seconds = MAX_TIMEOUT
            elif timeout > 0:
                seconds = timeout
            elif self._wake_pending or self._readers or self._writers:
                seconds = 0.0
            else:
                return  # no watch and no wakeup written: nothing to ask the kernel
            try:
                events = self._epoll_wait(seconds, len(self._readers) + len(self._writers) + 1)
            except InterruptedError:
                return
            if events:
                self._dispatch_masks(events, _READABLE, _WRITABLE)

        def _watch(self, fd: int, old: int, new: int) -> None:
            epoll = self._epoll
            if not old:
                try:
                    epoll.register(fd, _MASKS[new])
                except FileExistsError:
                    # Already in the list (the same file came back under the same
                    # number before its stale entry was dropped): take it over.
                    epoll.modify(fd, _MASKS[new])
            elif not new:
                try:  # noqa: SIM105 - hot path
                    epoll.unregister(fd)
                except OSError:
                    pass  # closed while watched: the kernel dropped the entry already
            else:
                try:
                    epoll.modify(fd, _MASKS[new])
                except FileNotFoundError:
                    # The number now names a file that is not in the list.
                    if new & ~old:
                        epoll.register(fd, _MASKS[new])
                except OSError:
                    if new & ~old:
                        raise

        def _stray(self, fd: int) -> None:
            # An entry that outlived its fd (closed while another reference keeps the
            # file open): EPOLL_CTL_DEL cannot reach it any more, and if the file stays
            # ready it would end every wait at once.  Rebuilding the instance from the
            # registry is the only way to drop it; this happens once per such entry.
            self._rebuild()

        def _rebuild(self) -> None:
            fresh = select.epoll()
            try:
                fresh.register(self._wake_fd, _EPOLLIN)
                readers = self._readers
                writers = self._writers
                for fd in {*readers, *writers}:
                    mask = (_EPOLLIN if fd in readers else 0) | (_EPOLLOUT if fd in writers else 0)
                    # A watch whose fd was closed (and not yet removed) cannot be
                    # registered; it stays in the registry, silent, as before.
                    with contextlib.suppress(OSError):
                        fresh.register(fd, mask)
            except BaseException:
                fresh.close()
                raise
            stale, self._epoll = self._epoll, fresh
            self._epoll_wait = fresh.poll
            stale.close()

        def _close_kernel(self) -> None:
            self._epoll.close()

else:

    class EpollBackend(UnavailableBackend):
        """Readiness backend over ``epoll``: not available on this platform."""

        __slots__ = ()

        name = "epoll"
