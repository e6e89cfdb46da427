"""Loop factories and the asyncio policy glue for layerloop.

The primary way to run on a loop other than asyncio's is a *loop factory*:
``asyncio.run(main, loop_factory=...)`` (3.12+) or ``asyncio.Runner(loop_factory=...)``
(3.11+).  :func:`loop_factory` and :class:`LoopFactory` build such factories, and
:func:`run` is ``asyncio.run`` with a factory on every supported Python.

For code that calls plain ``asyncio.run(main())`` or ``asyncio.get_event_loop()``,
:class:`EventLoopPolicy` and :func:`install` use the older policy system, which
asyncio deprecates from Python 3.14.
"""

from ._factory import ExceptionHandler, LoopFactory, TaskFactory, loop_factory, run
from ._policy import EventLoopPolicy, install
from ._version import __version__

__all__ = [
    "EventLoopPolicy",
    "ExceptionHandler",
    "LoopFactory",
    "TaskFactory",
    "__version__",
    "install",
    "loop_factory",
    "run",
]
