"""layerloop-core: the layerloop scheduler and the seams below it.

:class:`EventLoop` is a complete :class:`asyncio.AbstractEventLoop` scheduler (ready
queue, timers, tasks, executor, signals, debug mode, exception handling) that delegates
I/O to an :class:`~layerloop_core.abc.IOBackend` and name resolution to a
:class:`~layerloop_core.abc.Resolver`; :mod:`layerloop_core.abc` defines those seams.
"""

from __future__ import annotations

from . import abc
from ._handles import Handle, TimerHandle
from ._loop import EventLoop
from ._resolver import ExecutorResolver
from ._util import fileobj_to_fd
from ._version import __version__

__all__ = [
    "EventLoop",
    "ExecutorResolver",
    "Handle",
    "TimerHandle",
    "__version__",
    "abc",
    "fileobj_to_fd",
]
