"""The select backend (everywhere; the only readiness mechanism on Windows).

Some facts about select
=======================

* ``select(2)`` takes three ``fd_set``\\ s (read, write, exceptional), which Python builds
  from our lists on every call; the kernel scans them and overwrites them with the ready
  subset.  There is no kernel-side registration, so adding or removing a watch costs no
  system call, and a wait costs O(highest fd) on POSIX and O(watched sockets) on Windows.
  The fd lists themselves are kept up to date by ``_watch`` (on every transition of a
  direction between watched and not watched), so a poll passes them as they are.

* ``FD_SETSIZE``.  On POSIX an ``fd_set`` is a fixed bitmap of ``FD_SETSIZE`` bits
  (1024 on Linux and macOS), and an fd numbered 1024 or more cannot be represented at
  all: Python's ``select`` raises :class:`ValueError` on *every* call that includes one,
  which would take the whole loop down at its next iteration.  So we refuse such fds
  when the watch is added, with :class:`ValueError` naming the limit; the epoll, poll and
  kqueue backends have no such limit.  On Windows an ``fd_set`` is a counted array of
  socket handles (Python builds it with room for 512), so the limit is on the *number*
  of sockets per set, and only sockets can be watched (not pipes or files).

* It is always level-triggered.  There are no error or hang-up bits: end of stream and
  pending errors make a socket readable, and a pending error also makes it writable.

* Windows reports a failed non-blocking ``connect`` in the *exceptional* set, not the
  write set.  There we pass the writers as the exceptional set too and treat an
  exceptional socket as writable; ``sock_connect`` then reads ``SO_ERROR``.

* A closed fd in a set makes the whole call fail, with ``EBADF`` on POSIX and
  ``WSAENOTSOCK`` on Windows, so one forgotten watch would stop every other watch
  too.  When that happens we probe each watched fd on its own and report the closed ones
  as ready in their watched directions, the way poll reports ``POLLNVAL``: the waiters'
  next call raises ``EBADF``.  Watches that are never removed get reported again on
  every iteration.

* The timeout is a ``struct timeval`` (microseconds; Python rounds our float seconds
  up, so a wait never ends early), and a negative timeout is an error.  We clamp to
  ``[0, MAX_TIMEOUT]`` and pass ``None`` for "no timeout".

* ``EINTR``: Python retries an interrupted ``select`` itself (PEP 475) with the
  remaining timeout; an ``InterruptedError`` that still gets through is an early return.
"""

from __future__ import annotations

import errno
import os
import select
import sys
from typing import Final

from ._readiness import MAX_TIMEOUT, READ, WRITE, ReadinessBackend
from ._streams import InternalHandle

__all__ = ["SelectBackend"]

if sys.platform == "win32":
    #: Sockets per set in Python's Windows build of select().
    FD_SETSIZE: Final = 512
    #: "An operation was attempted on something that is not a socket."
    _WSAENOTSOCK: Final = 10038
else:
    #: Bits in an fd_set on Linux, macOS and the BSDs.
    FD_SETSIZE: Final = 1024

_select = select.select
#: The exceptional set on POSIX: always empty (see above).
_NO_FDS: Final[list[int]] = []


class SelectBackend(ReadinessBackend):
    """Readiness backend over ``select``: available everywhere, limited to fds below
    ``FD_SETSIZE`` (1024) on POSIX and to 512 sockets per direction on Windows."""

    __slots__ = ("_rlist", "_wlist")

    name = "select"

    def __init__(self) -> None:
        super().__init__()
        # What select() is given: the fds with a reader (after the wakeup channel) and
        # those with a writer, equal to the registry at every poll (see _watch).
        self._rlist: list[int] = [self._wake_fd]
        self._wlist: list[int] = []

    def poll(self, timeout: float | None) -> None:
        """Wait for at most *timeout* seconds and dispatch what became ready."""
        seconds: float | None
        if timeout is None:
            seconds = None
        elif timeout >= MAX_TIMEOUT:
            seconds = MAX_TIMEOUT
        elif timeout > 0:
            seconds = timeout
        elif self._wake_pending or self._readers or self._writers:
            seconds = 0.0
        else:
            return  # no watch and no wakeup written: nothing to ask the kernel
        wlist = self._wlist
        try:
            if sys.platform == "win32":
                rready, wready, failed = _select(self._rlist, wlist, wlist, seconds)
                for fd in failed:
                    if fd not in wready:
                        wready.append(fd)
            else:
                rready, wready, _ = _select(self._rlist, wlist, _NO_FDS, seconds)
        except InterruptedError:
            return
        except OSError as exc:
            if _is_closed_fd_error(exc):
                self._report_closed()
                return
            raise
        # A stream's own handle is enqueued here; other watches (add_reader handles,
        # sock_* futures) take the general path.
        enqueue = self._enqueue
        if rready:
            readers = self._readers
            for fd in rready:
                watch = readers.get(fd)
                if watch.__class__ is InternalHandle:
                    enqueue(watch)
                elif watch is not None:
                    self._fire(fd, readers)
                elif fd == self._wake_fd:
                    self._drain_wakeup()
        if wready:
            writers = self._writers
            for fd in wready:
                watch = writers.get(fd)
                if watch.__class__ is InternalHandle:
                    enqueue(watch)
                elif watch is not None:
                    self._fire(fd, writers)

    def _watch(self, fd: int, old: int, new: int) -> None:
        added = new & ~old
        if added:
            if sys.platform == "win32":
                # The readers' set also carries the wakeup socket.
                count = len(self._readers) + 1 if added & READ else len(self._writers)
                if count > FD_SETSIZE:
                    raise ValueError(
                        f"too many sockets for select() (at most {FD_SETSIZE} per direction)"
                    )
            elif fd >= FD_SETSIZE:
                raise ValueError(
                    f"file descriptor {fd} is out of range for select() (FD_SETSIZE is "
                    f"{FD_SETSIZE}); use the epoll, kqueue or poll backend"
                )
        # Only now, when nothing can fail any more, edit the lists.
        if added & READ:
            self._rlist.append(fd)
        elif old & ~new & READ:
            self._rlist.remove(fd)
        if added & WRITE:
            self._wlist.append(fd)
        elif old & ~new & WRITE:
            self._wlist.remove(fd)

    def _report_closed(self) -> None:
        """select() refused a closed fd: find the closed ones and report them ready."""
        readers = self._readers
        writers = self._writers
        for fd in [fd for fd in readers if _is_closed(fd)]:
            self._fire(fd, readers)
        for fd in [fd for fd in writers if _is_closed(fd)]:
            self._fire(fd, writers)


def _is_closed_fd_error(exc: OSError) -> bool:
    if sys.platform == "win32":
        return getattr(exc, "winerror", None) == _WSAENOTSOCK or exc.errno == errno.EBADF
    else:
        return exc.errno == errno.EBADF


def _is_closed(fd: int) -> bool:
    try:
        if sys.platform == "win32":
            _select([fd], [], [], 0)
        else:
            os.fstat(fd)
    except (OSError, ValueError):
        return True
    return False
