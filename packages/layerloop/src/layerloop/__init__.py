"""layerloop: a complete asyncio event loop in Python, assembled from its layers.

::

    import asyncio, layerloop

    asyncio.run(main(), loop_factory=layerloop.new_event_loop)   # Python 3.12+
    layerloop.run(main())                                        # any supported Python
    layerloop.run(main(), backend="poll")                        # pick the backend

:class:`EventLoop` is :class:`layerloop_core.EventLoop` (the scheduler) on a
``layerloop_selector`` backend (``"auto"``, ``"epoll"``, ``"kqueue"``, ``"poll"``,
``"select"``, or any backend object) with a :class:`layerloop_dns.ThreadedResolver`.
:func:`install` and :class:`EventLoopPolicy` serve code that relies on asyncio's policy
system.  ``python -m layerloop`` shows what is installed, runs scripts on layerloop,
runs a demo and the benchmarks.
"""

from ._loop import (
    BackendSpec,
    EventLoop,
    EventLoopPolicy,
    UringFallbackWarning,
    install,
    loop_factory,
    new_event_loop,
    run,
)
from ._version import __version__

__all__ = [
    "BackendSpec",
    "EventLoop",
    "EventLoopPolicy",
    "UringFallbackWarning",
    "__version__",
    "install",
    "loop_factory",
    "new_event_loop",
    "run",
]
