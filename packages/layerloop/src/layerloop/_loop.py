"""The assembled loop: the core scheduler, a backend chosen by name, the threaded resolver."""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import warnings
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import layerloop_core
import layerloop_policy
from layerloop_core.abc import IOBackend, Resolver
from layerloop_dns import ThreadedResolver
from layerloop_selector import new_backend
from layerloop_subprocess import SubprocessMixin
from layerloop_transports import TransportsMixin

__all__ = [
    "BackendSpec",
    "EventLoop",
    "EventLoopPolicy",
    "UringFallbackWarning",
    "install",
    "loop_factory",
    "new_event_loop",
    "run",
]

_T = TypeVar("_T")

#: How a backend is named: ``"auto"`` (the best this platform has), ``"epoll"``,
#: ``"kqueue"``, ``"poll"``, ``"select"``, ``"uring"`` (io_uring from layerloop-proactor,
#: falling back to ``"auto"`` with a :class:`UringFallbackWarning`), or a ready-made,
#: unattached backend object.
BackendSpec = str | IOBackend


class UringFallbackWarning(RuntimeWarning):
    """``backend="uring"`` could not use io_uring and fell back to a selector backend;
    the message says why.  Make it an error for strictness
    (``warnings.simplefilter("error", layerloop.UringFallbackWarning)``), or pass
    ``layerloop_proactor.UringBackend()`` itself, which raises instead of falling back."""


def _uring_or_fallback() -> IOBackend:
    """The io_uring backend, or the best selector backend with a warning saying why."""
    try:
        import layerloop_proactor  # noqa: PLC0415 - optional: the layerloop[uring] extra
    except ImportError:
        reason = "layerloop-proactor is not installed (pip install 'layerloop[uring]')"
    else:
        try:
            return layerloop_proactor.UringBackend()
        except layerloop_proactor.UringUnavailableError as exc:
            reason = str(exc)
    fallback = new_backend("auto")
    warnings.warn(
        f"io_uring is unavailable ({reason}); using the {fallback.name!r} backend instead",
        UringFallbackWarning,
        stacklevel=4,
    )
    return fallback


def _make_backend(backend: BackendSpec) -> IOBackend:
    if isinstance(backend, str):
        if backend == "uring":
            return _uring_or_fallback()
        return new_backend(backend)  # ValueError names the valid choices
    if not isinstance(backend, IOBackend):
        raise TypeError(
            "backend must be a backend name ('auto', 'epoll', 'poll', 'select', ...) or "
            f"an IOBackend object, not {type(backend).__name__!r}"
        )
    return backend


class EventLoop(SubprocessMixin, TransportsMixin, layerloop_core.EventLoop):
    """The full layerloop event loop.

    ``EventLoop()`` runs on the best backend of the platform (``"auto"``: epoll on
    Linux, kqueue on macOS and the BSDs, select on Windows); ``backend`` picks another by
    name or takes a backend object (which the loop then owns and closes).  Name lookups
    go to *resolver*, by default a :class:`layerloop_dns.ThreadedResolver`, which answers
    IP literals without a thread hop.

    Raises :class:`ValueError` for an unknown backend name or one this platform lacks.
    """

    def __init__(self, backend: BackendSpec = "auto", *, resolver: Resolver | None = None) -> None:
        io = _make_backend(backend)
        try:
            super().__init__(io, resolver=ThreadedResolver() if resolver is None else resolver)
        except BaseException:
            if io is not backend:
                io.close()
            raise


def new_event_loop(backend: BackendSpec = "auto", *, resolver: Resolver | None = None) -> EventLoop:
    """Return a new :class:`EventLoop`; usable as ``loop_factory`` as it stands::

        asyncio.run(main(), loop_factory=layerloop.new_event_loop)      # 3.12+
        with asyncio.Runner(loop_factory=layerloop.new_event_loop) as r:  # 3.11+
            r.run(main())

    *backend* is ``"auto"``, a backend name, or an :class:`~layerloop_core.abc.IOBackend`;
    *resolver* defaults to :class:`layerloop_dns.ThreadedResolver`.
    """
    return EventLoop(backend, resolver=resolver)


class _LoopMaker:
    """``EventLoop(backend, resolver=resolver())`` with a fresh backend per call."""

    __slots__ = ("_backend", "_resolver")

    def __init__(
        self,
        backend: str | Callable[[], IOBackend],
        resolver: Callable[[], Resolver] | None,
    ) -> None:
        self._backend = backend
        self._resolver = resolver

    def __call__(self) -> EventLoop:
        resolver = None if self._resolver is None else self._resolver()
        if isinstance(self._backend, str):
            return EventLoop(self._backend, resolver=resolver)
        backend = self._backend()
        try:
            return EventLoop(backend, resolver=resolver)
        except BaseException:
            backend.close()
            raise

    def __repr__(self) -> str:
        return f"layerloop.EventLoop(backend={self._backend!r}, resolver={self._resolver!r})"


def loop_factory(
    backend: str | Callable[[], IOBackend] = "auto",
    *,
    resolver: Callable[[], Resolver] | None = None,
    debug: bool | None = None,
    slow_callback_duration: float | None = None,
    task_factory: layerloop_policy.TaskFactory | None = None,
    exception_handler: layerloop_policy.ExceptionHandler | None = None,
    executor_factory: Callable[[], concurrent.futures.ThreadPoolExecutor] | None = None,
) -> layerloop_policy.LoopFactory[EventLoop]:
    """A zero-argument factory of configured :class:`EventLoop` s.

    For ``asyncio.Runner(loop_factory=...)`` and ``asyncio.run(main, loop_factory=...)``
    when the loop needs more than the defaults::

        factory = layerloop.loop_factory("poll", debug=True,
                                         task_factory=asyncio.eager_task_factory)
        asyncio.run(main(), loop_factory=factory)

    *backend* is a name or a zero-argument callable returning a new backend, and
    *resolver* a zero-argument callable returning a new resolver: each loop needs its
    own.  The name is checked now, so a typo fails here rather than in the runner.
    The other settings are those of :class:`layerloop_policy.LoopFactory`.
    """
    if isinstance(backend, str):
        if backend != "uring":  # "uring" always yields a backend (maybe a fallback)
            new_backend(backend).close()  # ValueError now for a bad or unusable name
    elif not callable(backend):
        raise TypeError(
            "backend must be a backend name or a zero-argument callable returning a new "
            f"backend (a backend serves one loop), not {type(backend).__name__!r}"
        )
    if resolver is not None and not callable(resolver):
        raise TypeError(
            "resolver must be a zero-argument callable returning a new resolver or None, "
            f"not {type(resolver).__name__!r}"
        )
    return layerloop_policy.LoopFactory(
        _LoopMaker(backend, resolver),
        debug=debug,
        slow_callback_duration=slow_callback_duration,
        task_factory=task_factory,
        exception_handler=exception_handler,
        executor_factory=executor_factory,
    )


def run(
    main: Coroutine[Any, Any, _T],
    *,
    debug: bool | None = None,
    backend: BackendSpec = "auto",
) -> _T:
    """Run the coroutine *main* on a new :class:`EventLoop` and return its result.

    The one-liner, like ``uvloop.run``: ``asyncio.run(main, debug=debug,
    loop_factory=...)`` semantics on every supported Python (``asyncio.Runner`` on
    3.11), without touching the global policy.
    """
    return layerloop_policy.run(
        main, loop_factory=functools.partial(EventLoop, backend), debug=debug
    )


class EventLoopPolicy(layerloop_policy.EventLoopPolicy):
    """asyncio's default policy, making :class:`EventLoop` s (or *loop_factory*'s loops).

    ``asyncio.set_event_loop_policy(layerloop.EventLoopPolicy())`` makes plain
    ``asyncio.run(main())``, ``asyncio.new_event_loop()`` and the main thread's implicit
    ``asyncio.get_event_loop()`` use layerloop on Python 3.11 to 3.13.  See
    :class:`layerloop_policy.EventLoopPolicy` for the inherited rules.
    """

    def __init__(
        self, loop_factory: Callable[[], asyncio.AbstractEventLoop] = new_event_loop
    ) -> None:
        super().__init__(loop_factory)


def install() -> EventLoopPolicy:
    """Install :class:`EventLoopPolicy` as asyncio's global policy and return it.

    Deprecated from Python 3.12 on, as ``uvloop.install()`` is (a ``DeprecationWarning``
    names the caller): prefer :func:`run`, or ``asyncio.run(main,
    loop_factory=layerloop.new_event_loop)``.
    """
    return layerloop_policy.install(new_event_loop, policy_class=EventLoopPolicy)
