"""The kqueue backend (macOS and the BSDs).

Written against the same registry as the other backends and typechecked with
``mypy --platform darwin``; it is not exercised on Linux, where ``select.kqueue`` does
not exist.

Some facts about kqueue
=======================

* A kqueue holds *knotes*, one per (identifier, filter) pair.  ``kevent()`` both applies a
  changelist and collects events, in one call.  Reading and writing are separate filters
  (``EVFILT_READ``, ``EVFILT_WRITE``), so adding a writer to an fd that has a reader is
  its own ``EV_ADD`` and removing it is an ``EV_DELETE`` of that filter only; the two
  directions never need the read-modify-write that epoll's single mask does.

* Knotes hang off the fd *number* in the process's file table, not off the open file
  description as epoll entries do: closing an fd drops its knotes even while the file
  stays open through a ``dup`` or in a child process.  The "zombie registration" that
  haunts epoll cannot happen.  An ``EV_DELETE`` after the close fails with ``EBADF``
  (or ``ENOENT`` once the number is reused); removals tolerate both.  A waiter on an fd
  closed while watched is not woken (as with epoll, unlike poll and select).

* Knotes are level-triggered unless ``EV_CLEAR`` (edge) or ``EV_ONESHOT`` is set; we set
  neither, for the reasons given in the epoll backend.

* End of stream and errors are flags on the event, not separate filters: ``EV_EOF`` on
  the read filter when the peer shut down (``fflags`` carries a pending socket error),
  ``EV_EOF`` on the write filter when the reader is gone.  Both still mean "ready"; the
  waiter's next call reports the end of stream or the error.

* We submit each change on its own with no room for events, so a failed change raises
  :class:`OSError` from ``control()`` instead of coming back as an ``EV_ERROR`` event
  mixed with real ones.

* ``EVFILT_READ`` on a regular file is ready while the file offset is before the end
  (epoll refuses regular files; poll and select always report them ready).

* The timeout is a ``struct timespec``; Python rejects negative values and takes
  ``None`` as "forever".  We clamp to ``[0, MAX_TIMEOUT]``.  ``maxevents`` is the number
  of knotes plus the wakeup socket's: no wait can report more.

* ``EINTR``: Python retries an interrupted ``kevent`` itself (PEP 475); an
  ``InterruptedError`` that still gets through is an early return.

* A kqueue is not inherited across ``fork``: the child has none.  Wakeups use a
  non-blocking socket pair, since Python's ``select`` does not expose ``EVFILT_USER``
  everywhere.
"""

from __future__ import annotations

import select
import sys
from typing import TYPE_CHECKING, Final

from ._readiness import MAX_TIMEOUT, READ, WRITE, ReadinessBackend, UnavailableBackend

__all__ = ["KqueueBackend"]

if (sys.platform != "linux" and sys.platform != "win32") and (
    TYPE_CHECKING or hasattr(select, "kqueue")
):
    _kevent = select.kevent
    _FILTER_READ: Final = select.KQ_FILTER_READ
    _FILTER_WRITE: Final = select.KQ_FILTER_WRITE
    _EV_ADD: Final = select.KQ_EV_ADD
    _EV_DELETE: Final = select.KQ_EV_DELETE

    class KqueueBackend(ReadinessBackend):
        """Readiness backend over ``kqueue`` (macOS, FreeBSD, ...); the default there."""

        __slots__ = ("_control", "_kqueue")

        name = "kqueue"

        def __init__(self) -> None:
            self._kqueue = select.kqueue()
            try:
                super().__init__()
                self._kqueue.control([_kevent(self._wake_fd, _FILTER_READ, _EV_ADD)], 0, 0)
            except BaseException:
                self._kqueue.close()
                raise
            self._control = self._kqueue.control

        def fileno(self) -> int:
            """The kqueue's fd (for diagnostics)."""
            return self._kqueue.fileno()

        def poll(self, timeout: float | None) -> None:
            """Wait for at most *timeout* seconds and dispatch what became ready."""
            seconds: float | None
            if timeout is None:
                seconds = None
            elif timeout >= MAX_TIMEOUT:
                seconds = MAX_TIMEOUT
            elif timeout > 0:
                seconds = timeout
            else:
                seconds = 0.0
            readers = self._readers
            writers = self._writers
            try:
                events = self._control(None, len(readers) + len(writers) + 1, seconds)
            except InterruptedError:
                return
            wake = self._wake_fd
            fire = self._fire
            for event in events:
                fd = event.ident
                kind = event.filter
                if kind == _FILTER_READ:
                    if fd == wake:
                        self._drain_wakeup()
                    else:
                        fire(fd, readers)
                elif kind == _FILTER_WRITE:
                    fire(fd, writers)

        def _watch(self, fd: int, old: int, new: int) -> None:
            control = self._control
            added = new & ~old
            removed = old & ~new
            if added & READ:
                control([_kevent(fd, _FILTER_READ, _EV_ADD)], 0, 0)
            if added & WRITE:
                control([_kevent(fd, _FILTER_WRITE, _EV_ADD)], 0, 0)
            if removed & READ:
                self._delete(fd, _FILTER_READ)
            if removed & WRITE:
                self._delete(fd, _FILTER_WRITE)

        def _delete(self, fd: int, kind: int) -> None:
            try:  # noqa: SIM105 - hot path
                self._control([_kevent(fd, kind, _EV_DELETE)], 0, 0)
            except OSError:
                pass  # closed while watched: the knote went with the fd

        def _close_kernel(self) -> None:
            self._kqueue.close()

else:

    class KqueueBackend(UnavailableBackend):
        """Readiness backend over ``kqueue``: not available on this platform."""

        __slots__ = ()

        name = "kqueue"
