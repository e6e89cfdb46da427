"""Which transport owns which file descriptor, per loop.

``add_reader``/``add_writer``/``remove_reader``/``remove_writer`` and the ``sock_*``
operations refuse an fd a live transport is using, with CPython's ``RuntimeError``: the
backend drives that fd, and a second watch would steal its events (or, for a read,
its bytes).

A transport claims its fd when it takes the object (stream, datagram and pipe
transports) and releases it once the backend has closed it.  A transport that is
closing no longer owns its fd.

Cost model (the ``sock_*`` checks sit on a hot path):

* the map of a loop is found with one plain dict lookup keyed by ``id(loop)`` (a
  ``WeakKeyDictionary`` lookup builds a weak reference per call); the entry is removed
  by a ``weakref.finalize`` when the loop is collected, before its id can be reused;
* a loop that has never had a transport, or has none left, stops there;
* otherwise ``fileno()`` and a second lookup.  The values are weak references (as
  CPython's ``_transports`` is a ``WeakValueDictionary``) so that an abandoned
  transport is still collected and warns; a dead reference reads as "free" and is
  overwritten by the next claim of that fd number.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Coroutine
from typing import Any, NoReturn

__all__ = ["OWNERS_BY_LOOP", "check_fd_free", "claim_fd", "refuse_if_owned", "release_fd"]

_Owners = dict[int, "weakref.ref[asyncio.BaseTransport]"]
#: ``id(loop)`` -> ``{fd: weak reference to the transport using it}``.
OWNERS_BY_LOOP: dict[int, _Owners] = {}


def claim_fd(loop: asyncio.AbstractEventLoop, fd: int, transport: asyncio.BaseTransport) -> None:
    """Record that *transport* drives *fd* on *loop*."""
    key = id(loop)
    owners = OWNERS_BY_LOOP.get(key)
    if owners is None:
        owners = OWNERS_BY_LOOP[key] = {}
        weakref.finalize(loop, OWNERS_BY_LOOP.pop, key, None)
    owners[fd] = weakref.ref(transport)


def release_fd(loop: asyncio.AbstractEventLoop, fd: int, transport: asyncio.BaseTransport) -> None:
    """Forget *transport*'s claim on *fd* (its fd is closed), if still its own."""
    owners = OWNERS_BY_LOOP.get(id(loop))
    if owners is None:
        return
    ref = owners.get(fd)
    if ref is None:
        return
    owner = ref()
    if owner is transport or owner is None:
        del owners[fd]


def _live_owner(owners: _Owners, fileno: int) -> asyncio.BaseTransport | None:
    ref = owners.get(fileno)
    if ref is None:
        return None
    transport = ref()
    if transport is None or transport.is_closing():
        return None
    return transport


def check_fd_free(loop: asyncio.AbstractEventLoop, fd: Any) -> None:
    """Raise CPython's ``RuntimeError`` if a transport that is not closing uses *fd*
    (an int or an object with ``fileno()``); ``ValueError`` for an invalid object."""
    owners = OWNERS_BY_LOOP.get(id(loop))
    if not owners:
        return
    fileno = fd
    if not isinstance(fileno, int):
        try:
            fileno = int(fileno.fileno())
        except (AttributeError, TypeError, ValueError):
            raise ValueError(f"Invalid file object: {fd!r}") from None
    transport = _live_owner(owners, fileno)
    if transport is not None:
        raise RuntimeError(f"File descriptor {fd!r} is used by transport {transport!r}")


def refuse_if_owned(owners: _Owners, sock: Any) -> Coroutine[Any, Any, NoReturn] | None:
    """For a ``sock_*`` operation on *sock*: ``None`` if no live transport uses it,
    else a coroutine raising CPython's ``RuntimeError`` when awaited (CPython raises
    inside the operation's coroutine, not at the call).  An object without a usable
    ``fileno()`` passes: the operation itself reports it, as on CPython."""
    try:
        fileno = sock.fileno()
    except Exception:  # not a socket: left to the operation
        return None
    ref = owners.get(fileno)
    if ref is None:  # the common case: inlined
        return None
    transport = ref()
    if transport is None or transport.is_closing():
        return None
    return _refuse(fileno, transport)


async def _refuse(fileno: int, transport: asyncio.BaseTransport) -> NoReturn:
    raise RuntimeError(f"File descriptor {fileno!r} is used by transport {transport!r}")
