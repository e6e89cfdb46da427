"""layerloop-selector: readiness I/O backends for layerloop.

Each backend implements :class:`layerloop_core.abc.IOBackend` over one kernel readiness
mechanism: :class:`EpollBackend` (Linux), :class:`KqueueBackend` (macOS, BSD),
:class:`PollBackend` (POSIX) and :class:`SelectBackend` (everywhere).  They watch fds for
``add_reader``/``add_writer`` and perform the ``sock_*`` operations the readiness way:
try the system call, and wait for readiness only when it would block.

>>> from layerloop_core import EventLoop
>>> from layerloop_selector import new_backend
>>> loop = EventLoop(new_backend())      # the best backend for this platform
>>> loop.close()
"""

from __future__ import annotations

from ._choose import available_backends, new_backend
from ._epoll import EpollBackend
from ._kqueue import KqueueBackend
from ._poll import PollBackend
from ._select import SelectBackend
from ._version import __version__

__all__ = [
    "EpollBackend",
    "KqueueBackend",
    "PollBackend",
    "SelectBackend",
    "__version__",
    "available_backends",
    "new_backend",
]
