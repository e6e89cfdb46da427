"""layerloop-subprocess: ``subprocess_exec``/``subprocess_shell`` and a real
:class:`asyncio.SubprocessTransport`, over the pipe transports of
``layerloop-transports``.

:class:`SubprocessMixin` adds the two methods to a loop that has
``connect_read_pipe``/``connect_write_pipe``; each child's exit is watched on its own
(a pidfd, or a waiting thread), never through a process-wide watcher.

>>> import layerloop_core
>>> from layerloop_transports import TransportsMixin
>>> class EventLoop(SubprocessMixin, TransportsMixin, layerloop_core.EventLoop):
...     pass
"""

from __future__ import annotations

from ._mixin import SubprocessMixin
from ._transport import SubprocessTransport
from ._version import __version__
from ._watch import pidfd_usable

__all__ = ["SubprocessMixin", "SubprocessTransport", "__version__", "pidfd_usable"]
