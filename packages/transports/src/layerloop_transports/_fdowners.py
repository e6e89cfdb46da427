"""Which transport owns which file descriptor, per loop: ``add_reader``/``add_writer``/
``remove_reader``/``remove_writer`` refuse an fd a live transport is using, as CPython's
loop does (the backend drives that fd; a second watch would steal its events).

A transport claims its fd when it takes the socket and releases it once the backend has
closed it.  The map is keyed by the loop and refers to transports weakly (both weak, as
CPython's ``_transports``), so an abandoned transport can still be collected and warn.
A loop with no transport pays one dictionary lookup per ``add_reader``.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

__all__ = ["check_fd_free", "claim_fd", "release_fd"]

_Owners = weakref.WeakValueDictionary[int, asyncio.BaseTransport]
_OWNERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Owners]
_OWNERS = weakref.WeakKeyDictionary()


def claim_fd(loop: asyncio.AbstractEventLoop, fd: int, transport: asyncio.BaseTransport) -> None:
    """Record that *transport* drives *fd* on *loop*."""
    owners = _OWNERS.get(loop)
    if owners is None:
        owners = _OWNERS[loop] = weakref.WeakValueDictionary()
    owners[fd] = transport


def release_fd(loop: asyncio.AbstractEventLoop, fd: int, transport: asyncio.BaseTransport) -> None:
    """Forget *transport*'s claim on *fd* (its fd is closed), if still its own."""
    owners = _OWNERS.get(loop)
    if owners is not None and owners.get(fd) is transport:
        del owners[fd]


def check_fd_free(loop: asyncio.AbstractEventLoop, fd: Any) -> None:
    """Raise CPython's ``RuntimeError`` if a transport that is not closing uses *fd*
    (an int or an object with ``fileno()``); ``ValueError`` for an invalid object."""
    owners = _OWNERS.get(loop)
    if not owners:
        return
    fileno = fd
    if not isinstance(fileno, int):
        try:
            fileno = int(fileno.fileno())
        except (AttributeError, TypeError, ValueError):
            raise ValueError(f"Invalid file object: {fd!r}") from None
    transport = owners.get(fileno)
    if transport is not None and not transport.is_closing():
        raise RuntimeError(f"File descriptor {fd!r} is used by transport {transport!r}")
