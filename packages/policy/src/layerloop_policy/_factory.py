"""Loop factories: the zero-argument callables ``asyncio.Runner`` and ``asyncio.run`` take.

``asyncio.Runner(loop_factory=...)`` (3.11+) and ``asyncio.run(main,
loop_factory=...)`` (3.12+) call the factory once per run and own the loop it returns:
they make it current, run the coroutine, cancel what is left, shut down async generators
and the default executor, and close it.  A factory therefore has to build a *new* loop on
every call, with its own backend and resolver (each is attached to one loop for life),
and any per-loop setting has to be applied by the factory itself because the runner
accepts only ``debug``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable, Coroutine
from typing import Any, Generic, TypeVar

from layerloop_core import EventLoop
from layerloop_core.abc import IOBackend, Resolver

__all__ = ["ExceptionHandler", "LoopFactory", "TaskFactory", "loop_factory", "run"]

_T = TypeVar("_T")
_L = TypeVar("_L", bound=asyncio.AbstractEventLoop)

#: What ``loop.set_task_factory()`` accepts (called as ``factory(loop, coro, **kwargs)``).
TaskFactory = Callable[..., "asyncio.Future[Any]"]
#: What ``loop.set_exception_handler()`` accepts.
ExceptionHandler = Callable[[asyncio.AbstractEventLoop, dict[str, Any]], object]


class LoopFactory(Generic[_L]):
    """A loop factory that applies the same settings to every loop it makes.

    *make* is any zero-argument callable returning a new loop (``layerloop.new_event_loop``,
    ``asyncio.new_event_loop``, ``uvloop.new_event_loop``...).  Each call of the
    ``LoopFactory`` calls *make*, then applies, in this order and only those given:

    * ``debug``: ``loop.set_debug(debug)``;
    * ``slow_callback_duration``: the loop attribute of that name (seconds);
    * ``task_factory``: ``loop.set_task_factory(task_factory)``, for example
      ``asyncio.eager_task_factory`` on 3.12+;
    * ``exception_handler``: ``loop.set_exception_handler(exception_handler)``;
    * ``executor_factory``: ``loop.set_default_executor(executor_factory())``, a new
      ``ThreadPoolExecutor`` per loop since closing a loop shuts its executor down.

    If *make* or a setting raises, the half-made loop is closed before the error
    propagates.
    """

    __slots__ = (
        "_debug",
        "_exception_handler",
        "_executor_factory",
        "_make",
        "_slow_callback_duration",
        "_task_factory",
    )

    def __init__(
        self,
        make: Callable[[], _L],
        *,
        debug: bool | None = None,
        slow_callback_duration: float | None = None,
        task_factory: TaskFactory | None = None,
        exception_handler: ExceptionHandler | None = None,
        executor_factory: Callable[[], concurrent.futures.ThreadPoolExecutor] | None = None,
    ) -> None:
        if not callable(make):
            raise TypeError(f"make must be callable, not {type(make).__name__!r}")
        if slow_callback_duration is not None and slow_callback_duration < 0:
            raise ValueError("slow_callback_duration must be >= 0")
        for name, value in (
            ("task_factory", task_factory),
            ("exception_handler", exception_handler),
            ("executor_factory", executor_factory),
        ):
            if value is not None and not callable(value):
                raise TypeError(f"{name} must be callable or None, not {type(value).__name__!r}")
        self._make = make
        self._debug = debug
        self._slow_callback_duration = slow_callback_duration
        self._task_factory = task_factory
        self._exception_handler = exception_handler
        self._executor_factory = executor_factory

    def __call__(self) -> _L:
        loop = self._make()
        try:
            if self._debug is not None:
                loop.set_debug(self._debug)
            if self._slow_callback_duration is not None:
                # A documented loop attribute that AbstractEventLoop does not declare.
                setattr(loop, "slow_callback_duration", self._slow_callback_duration)  # noqa: B010
            if self._task_factory is not None:
                loop.set_task_factory(self._task_factory)
            if self._exception_handler is not None:
                loop.set_exception_handler(self._exception_handler)
            if self._executor_factory is not None:
                loop.set_default_executor(self._executor_factory())
        except BaseException:
            loop.close()
            raise
        return loop

    def __repr__(self) -> str:
        settings = [f"{self._make!r}"]
        for name in (
            "debug",
            "slow_callback_duration",
            "task_factory",
            "exception_handler",
            "executor_factory",
        ):
            value = getattr(self, "_" + name)
            if value is not None:
                settings.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(settings)})"


class _CoreLoopMaker:
    """``layerloop_core.EventLoop(backend(), resolver=resolver())``, as a plain callable."""

    __slots__ = ("_backend", "_resolver")

    def __init__(
        self, backend: Callable[[], IOBackend], resolver: Callable[[], Resolver] | None
    ) -> None:
        self._backend = backend
        self._resolver = resolver

    def __call__(self) -> EventLoop:
        backend = self._backend()
        try:
            resolver = None if self._resolver is None else self._resolver()
            return EventLoop(backend, resolver=resolver)
        except BaseException:
            backend.close()
            raise

    def __repr__(self) -> str:
        return f"EventLoop(backend={self._backend!r}, resolver={self._resolver!r})"


def loop_factory(
    backend: Callable[[], IOBackend],
    *,
    resolver: Callable[[], Resolver] | None = None,
    debug: bool | None = None,
    slow_callback_duration: float | None = None,
    task_factory: TaskFactory | None = None,
    exception_handler: ExceptionHandler | None = None,
    executor_factory: Callable[[], concurrent.futures.ThreadPoolExecutor] | None = None,
) -> LoopFactory[EventLoop]:
    """A factory of :class:`layerloop_core.EventLoop` s for ``asyncio.Runner``/``asyncio.run``.

    *backend* and *resolver* are called once per loop (a backend or resolver serves one
    loop for life): pass classes or factories, such as ``layerloop_selector.EpollBackend``
    and ``layerloop_dns.ThreadedResolver``.  Without *resolver* the loop uses the core's
    default.  The other settings are applied to every loop as :class:`LoopFactory`
    describes::

        factory = loop_factory(EpollBackend, resolver=ThreadedResolver, debug=True)
        with asyncio.Runner(loop_factory=factory) as runner:
            runner.run(main())
    """
    if not callable(backend):
        raise TypeError(
            "backend must be a zero-argument callable returning a new backend "
            f"(a backend serves one loop), not {type(backend).__name__!r}"
        )
    if resolver is not None and not callable(resolver):
        raise TypeError(
            "resolver must be a zero-argument callable returning a new resolver or None, "
            f"not {type(resolver).__name__!r}"
        )
    return LoopFactory(
        _CoreLoopMaker(backend, resolver),
        debug=debug,
        slow_callback_duration=slow_callback_duration,
        task_factory=task_factory,
        exception_handler=exception_handler,
        executor_factory=executor_factory,
    )


def run(
    main: Coroutine[Any, Any, _T],
    *,
    loop_factory: Callable[[], asyncio.AbstractEventLoop],
    debug: bool | None = None,
) -> _T:
    """Run the coroutine *main* on a new loop from *loop_factory* and return its result.

    ``asyncio.run(main, debug=debug, loop_factory=loop_factory)`` on every supported
    Python, 3.11 included (through ``asyncio.Runner``): the loop is made current, left
    over tasks are cancelled, async generators and the default executor are shut down,
    and the loop is closed.  Calling it from a running loop raises ``RuntimeError``
    before *main* is touched.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise RuntimeError("run() cannot be called from a running event loop")
    with asyncio.Runner(debug=debug, loop_factory=loop_factory) as runner:
        return runner.run(main)
