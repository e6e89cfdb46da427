"""Name resolution for layerloop.

:class:`ThreadedResolver` implements :class:`layerloop_core.abc.Resolver`: IP literals
with numeric ports are answered on the loop's thread with no thread hop, everything else
runs :func:`socket.getaddrinfo`/:func:`socket.getnameinfo` in the loop's default
executor.  Results are identical to the :mod:`socket` functions'.

    loop = layerloop_core.EventLoop(backend, resolver=layerloop_dns.ThreadedResolver())

:class:`CaresResolver` (the ``layerloop-dns[cares]`` extra) does DNS lookups through
c-ares on the loop itself, without a thread, and hands what c-ares cannot answer
exactly as the C library would to a :class:`ThreadedResolver`.
"""

from ._cares import CaresResolver
from ._threaded import ThreadedResolver
from ._version import __version__

__all__ = ["CaresResolver", "ThreadedResolver", "__version__"]
