"""Which readiness backends this platform can use, and building one by name."""

from __future__ import annotations

import sys
from typing import Final

from layerloop_core.abc import IOBackend

from ._epoll import EpollBackend
from ._kqueue import KqueueBackend
from ._poll import PollBackend
from ._readiness import ReadinessBackend, UnavailableBackend
from ._select import SelectBackend

__all__ = ["available_backends", "new_backend"]

#: Every backend this package has, best first: the kernel-side interest lists (epoll,
#: kqueue) cost O(ready fds) per wait, poll costs O(watched fds), and select O(highest
#: fd) with a hard limit of FD_SETSIZE.
BACKENDS: Final[dict[str, type[ReadinessBackend]]] = {
    "epoll": EpollBackend,
    "kqueue": KqueueBackend,
    "poll": PollBackend,
    "select": SelectBackend,
}


def available_backends() -> list[str]:
    """The names of the backends usable on this platform, best first.

    ``["epoll", "poll", "select"]`` on Linux, ``["kqueue", "poll", "select"]`` on macOS
    and the BSDs, ``["select"]`` on Windows.  The first is what ``new_backend("auto")``
    builds.
    """
    return [name for name, cls in BACKENDS.items() if not issubclass(cls, UnavailableBackend)]


def new_backend(name: str = "auto") -> IOBackend:
    """A new, unattached backend: the best available one for ``"auto"``, else the named one.

    Raises :class:`ValueError` for an unknown name or one this platform lacks, listing
    the valid names.
    """
    usable = available_backends()
    if name == "auto":
        return BACKENDS[usable[0]]()
    cls = BACKENDS.get(name)
    if cls is None:
        valid = ", ".join(repr(n) for n in ["auto", *BACKENDS])
        raise ValueError(f"unknown backend {name!r}; valid names are {valid}")
    if name not in usable:
        valid = ", ".join(repr(n) for n in ["auto", *usable])
        raise ValueError(
            f"the {name!r} backend is not available on {sys.platform}; usable here: {valid}"
        )
    return cls()
