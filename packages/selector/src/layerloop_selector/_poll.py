"""The poll backend (POSIX).

Some facts about poll
=====================

* ``poll(2)`` has no kernel-side registration: every call passes the whole array of
  ``struct pollfd`` (fd, requested events) and the kernel scans all of it.  Python's
  ``select.poll`` object keeps an fd-to-mask dict and rebuilds the array on the first
  ``poll()`` after a change.  So a wait costs O(watched fds), and registering or
  unregistering is only a dict update (no system call).

* It is always level-triggered: an fd is reported by every call for as long as it is
  ready.

* Because nothing is registered in the kernel, a watched fd that gets closed is not
  forgotten.  ``poll`` reports ``POLLNVAL`` for it on every call, and once the number is
  reused it watches whatever file the number names now.  (epoll instead forgets the
  entry silently, and a waiter on it would wait forever.)  We treat ``POLLNVAL`` like
  ``POLLERR`` and ``POLLHUP``: the fd counts as both readable and writable, so its
  waiters run and their next call raises ``EBADF``.  A watch that is never removed keeps
  being reported on every iteration, so the owner must remove it.

* ``POLLERR``, ``POLLHUP`` and ``POLLNVAL`` are reported whether requested or not.  Every
  bit other than ``POLLOUT`` wakes a reader and every bit other than ``POLLIN`` wakes a
  writer.

* Regular files are accepted and always reported ready (epoll refuses them with
  ``EPERM``).

* The timeout is an ``int`` of milliseconds, where a negative value means "forever".
  We round the scheduler's seconds *up* (``ceil(seconds * 1000)``): rounding down would
  turn a timer due in 0.4 ms into a zero-timeout poll, and the loop would spin on such
  polls until the timer is due.  Waits are capped at ``MAX_TIMEOUT`` (the C ``int``
  limit is about 24 days).

* ``EINTR``: Python retries an interrupted ``poll`` itself (PEP 475) with the remaining
  timeout, after the signal handlers ran; an ``InterruptedError`` that still gets through
  is an early return.

* A ``select.poll`` object may not be polled from two threads at once (Python raises
  :class:`RuntimeError`); only the loop's thread polls.  Other threads reach it through
  :meth:`~ReadinessBackend.wakeup` only.

* On macOS, ``poll`` does not support devices such as terminals; kqueue is preferred
  there (and epoll on Linux).  Windows has no usable ``poll``.
"""

from __future__ import annotations

import math
import select
import sys
from typing import TYPE_CHECKING, Final

from ._readiness import MAX_TIMEOUT, ReadinessBackend, UnavailableBackend

__all__ = ["PollBackend"]

#: The longest wait in milliseconds.
_MAX_MS: Final = int(MAX_TIMEOUT * 1000)

if sys.platform != "win32" and (TYPE_CHECKING or hasattr(select, "poll")):
    _POLLIN: Final = select.POLLIN
    _POLLOUT: Final = select.POLLOUT
    #: Requested events indexed by our READ/WRITE bit sets.
    _MASKS: Final = (0, _POLLIN, _POLLOUT, _POLLIN | _POLLOUT)
    _READABLE: Final = ~_POLLOUT
    _WRITABLE: Final = ~_POLLIN
    _ceil = math.ceil

    class PollBackend(ReadinessBackend):
        """Readiness backend over ``poll`` (POSIX)."""

        __slots__ = ("_poll_wait", "_poller")

        name = "poll"

        def __init__(self) -> None:
            super().__init__()
            self._poller = select.poll()
            self._poller.register(self._wake_fd, _POLLIN)
            self._poll_wait = self._poller.poll

        def poll(self, timeout: float | None) -> None:
            """Wait for at most *timeout* seconds and dispatch what became ready."""
            if timeout is None:
                ms = -1
            elif timeout >= MAX_TIMEOUT:
                ms = _MAX_MS
            elif timeout > 0:
                ms = _ceil(timeout * 1000.0)
            elif self._wake_pending or self._readers or self._writers:
                ms = 0
            else:
                return  # no watch and no wakeup written: nothing to ask the kernel
            try:
                events = self._poll_wait(ms)
            except InterruptedError:
                return
            if events:
                self._dispatch_masks(events, _READABLE, _WRITABLE)

        def _watch(self, fd: int, old: int, new: int) -> None:
            if new:
                # register() both adds and modifies; it cannot fail for a closed fd
                # (that shows up later as POLLNVAL).
                self._poller.register(fd, _MASKS[new])
            else:
                try:  # noqa: SIM105 - hot path
                    self._poller.unregister(fd)
                except KeyError:
                    pass

else:

    class PollBackend(UnavailableBackend):
        """Readiness backend over ``poll``: not available on this platform."""

        __slots__ = ()

        name = "poll"
