"""What the backend and its stream objects share: the completion base class, the
request flags and small helpers."""

from __future__ import annotations

import errno
import os
import socket
import sys
from typing import Final

from layerloop_core.abc import Address

__all__ = [
    "ACCEPT_FLAGS",
    "DRAIN_TIMEOUT",
    "RECV_BUFFERS",
    "RECV_BUFFER_SIZE",
    "MAX_TIMEOUT",
    "POLLIN",
    "POLLOUT",
    "SEND_FLAGS",
    "Completion",
    "UringUnavailableError",
    "error_from",
    "eventfd_write",
    "new_eventfd",
    "peer_address",
    "sendfile",
]

MAX_TIMEOUT: Final = 86400.0
#: How long close() waits for cancelled requests to report.
DRAIN_TIMEOUT: Final = 2.0
#: The provided-buffer ring the multishot receives share (one per backend): 256 buffers
#: of 16 KiB, of which the ring offers a few at first and more when a burst needs them
#: (``_ring.BUFFERS_OFFERED_FIRST``).  A buffer is copied out and handed back as soon as
#: its CQE is reaped, so only the receives completed within one ``io_uring_enter`` hold
#: buffers; an idle connection holds none.  The mapping is touched lazily: small
#: messages use the first page of each buffer only.  A receive that fills a whole buffer
#: marks a bulk transfer, which the transports then read into their own large buffers.
RECV_BUFFERS: Final = 256
RECV_BUFFER_SIZE: Final = 16 * 1024

POLLIN: Final = 0x001
POLLOUT: Final = 0x004
MSG_NOSIGNAL: Final = 0x4000
#: SEND with MSG_WAITALL: the kernel keeps sending (re-polling on a full socket buffer)
#: until every byte is out, so one request carries a whole write; a cancel or error
#: still reports the bytes already sent.
MSG_WAITALL: Final = 0x100
SEND_FLAGS: Final = MSG_NOSIGNAL | MSG_WAITALL
ACCEPT_FLAGS: Final = getattr(socket, "SOCK_NONBLOCK", 0) | getattr(socket, "SOCK_CLOEXEC", 0)


class UringUnavailableError(RuntimeError):
    """io_uring cannot be used here; ``str()`` says why."""


class Completion:
    """Base of the objects ``_ops`` holds: one per request in flight."""

    __slots__ = ()

    def complete(self, res: int, flags: int) -> None:
        raise NotImplementedError

    def abandon(self) -> None:
        """The loop is closing: the CQE arrived (or never will); drop references without
        scheduling anything."""


def error_from(res: int) -> OSError:
    """The ``OSError`` subclass for a negative CQE result."""
    code = -res
    return OSError(code, os.strerror(code))


def peer_address(conn: socket.socket) -> Address:
    """The address ``accept()`` would have returned for *conn*."""
    try:
        return conn.getpeername()
    except OSError:
        # The peer already reset the connection: accept() would still have returned
        # its address; the family's empty address is the closest we can give.
        if conn.family == socket.AF_INET:
            return ("0.0.0.0", 0)
        if conn.family == socket.AF_INET6:
            return ("::", 0, 0, 0)
        return ""


def new_eventfd() -> int:
    if sys.platform == "linux":
        return os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
    raise OSError(errno.ENOSYS, "eventfd is Linux-only")


def eventfd_write(fd: int) -> None:
    if sys.platform == "linux":
        os.eventfd_write(fd, 1)
    else:
        raise OSError(errno.ENOSYS, "eventfd is Linux-only")


def sendfile(out_fd: int, in_fd: int, offset: int, count: int) -> int:
    if sys.platform == "win32":
        raise OSError(errno.ENOSYS, "os.sendfile() is not available on Windows")
    else:
        return os.sendfile(out_fd, in_fd, offset, count)
