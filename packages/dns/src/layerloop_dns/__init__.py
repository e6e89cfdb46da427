"""Name resolution for layerloop.

:class:`ThreadedResolver` implements :class:`layerloop_core.abc.Resolver`: IP literals
with numeric ports are answered on the loop's thread with no thread hop, everything else
runs :func:`socket.getaddrinfo`/:func:`socket.getnameinfo` in the loop's default
executor.  Results are identical to the :mod:`socket` functions'.

    loop = layerloop_core.EventLoop(backend, resolver=layerloop_dns.ThreadedResolver())
"""

from ._threaded import ThreadedResolver
from ._version import __version__

__all__ = ["ThreadedResolver", "__version__"]
