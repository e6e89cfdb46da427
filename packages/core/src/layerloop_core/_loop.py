"""The scheduler: :class:`EventLoop`.

One iteration of the run loop (``EventLoop._run``) is:

1. drop cancelled timers from the top of the heap (or rebuild the heap when more than
   half of it is cancelled);
2. publish "I may sleep" (``_may_sleep``), *then* look at the ready queue and the
   earliest timer to choose the poll timeout (0 when something is ready or ``stop()``
   was called);
3. ``backend.poll(timeout)``: the backend enqueues the handles of ready watches and
   completed operations;
4. clear ``_may_sleep`` and ``_wakeup_pending``; move due timers to the ready queue;
5. run exactly the handles that are in the ready queue now (callbacks they schedule run
   in the next iteration, after another poll); stop if ``stop()`` was called.

Thread-safe wakeups are batched.  ``call_soon_threadsafe`` appends its handle first and
only then reads the two flags; it calls ``backend.wakeup()`` only when the loop may be
sleeping and no wakeup is pending, setting ``_wakeup_pending`` just before the call.  No
wakeup is lost:

* a writer that sees ``_may_sleep`` false appended before the loop published it, so the
  loop's later look at the ready queue sees the handle and polls without blocking;
* a writer that sees ``_wakeup_pending`` true appended before the loop's next clear of
  that flag; the clear happens only after a poll has returned and before the loop counts
  its batch, so the handle is in that batch.  The poll cannot block forever meanwhile:
  whoever set the flag calls ``wakeup()`` after setting it, and a wakeup made before or
  during a poll makes it return.

(Under the GIL these attribute loads and stores and ``deque.append`` are sequentially
consistent.)

After ``os.fork()`` the child retires every loop that was open in the parent (a handler
registered with :func:`os.register_at_fork`, see ``EventLoop._after_fork``): the loop
shares its backend's kernel objects with the parent, so in the child it is closed, its
queued callbacks never run, and it never polls or closes the backend; the backend's
optional ``after_fork_in_child`` hook releases the child's copies of its fds.

Timers live in a binary heap of ``(when, sequence, handle)`` tuples: comparisons stay in
C, and the sequence number makes timers due at the same instant run in the order they
were scheduled.  Cancelling a scheduled timer only bumps ``_timer_cancelled_count``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import errno
import heapq
import itertools
import logging
import os
import socket
import sys
import threading
import time
import traceback
import warnings
import weakref
from collections import deque
from collections.abc import Awaitable, Callable, Generator
from typing import IO, TYPE_CHECKING, Any, Final, NoReturn, TypeVar, TypeVarTuple, cast

from ._handles import (
    Handle,
    LoopHandle,
    LoopTimerHandle,
    TimerHandle,
    caller_stack,
    describe_callback,
    describe_handle,
)
from ._resolver import ExecutorResolver, numeric_address
from ._util import fileobj_to_fd
from .abc import Address, AddrInfo, IOBackend, Resolver

if TYPE_CHECKING:
    from asyncio import _CoroutineLike
    from collections.abc import AsyncGenerator
    from socket import _GetAddrInfoResult

    from _typeshed import FileDescriptorLike

try:
    import ssl as _ssl
except ImportError:  # pragma: no cover - Python built without ssl
    _SSLSocket: type | None = None
else:
    _SSLSocket = _ssl.SSLSocket

import signal

__all__ = ["EventLoop"]

_T = TypeVar("_T")
_Ts = TypeVarTuple("_Ts")

logger = logging.getLogger("asyncio")

#: Upper bound on one poll's timeout: some kernels misbehave with huge timeouts and a
#: bounded sleep also bounds the damage of a clock jump.  asyncio uses a day.
MAX_POLL_TIMEOUT: Final = 24 * 3600.0
#: Rebuild the timer heap only when it is at least this big and over half cancelled.
MIN_HEAP_FOR_REBUILD: Final = 100
#: Read size of the sendfile fallback (asyncio's value).
SENDFILE_FALLBACK_CHUNK: Final = 256 * 1024
#: Coroutine origin tracking depth in debug mode (asyncio's value).
DEBUG_ORIGIN_DEPTH: Final = 10

_monotonic = time.monotonic
_popleft = deque.popleft
_repeat = itertools.repeat
_copy_context = contextvars.copy_context
_get_ident = threading.get_ident
_heappush = heapq.heappush
_heappop = heapq.heappop
_get_running_loop = asyncio._get_running_loop
_set_running_loop = asyncio._set_running_loop

_LATER_LAYERS = {
    "create_connection": "layerloop-transports",
    "create_server": "layerloop-transports",
    "create_unix_connection": "layerloop-transports",
    "create_unix_server": "layerloop-transports",
    "create_datagram_endpoint": "layerloop-transports",
    "connect_accepted_socket": "layerloop-transports",
    "connect_read_pipe": "layerloop-transports",
    "connect_write_pipe": "layerloop-transports",
    "start_tls": "layerloop-transports",
    "sendfile": "layerloop-transports",
    "subprocess_exec": "layerloop-subprocess",
    "subprocess_shell": "layerloop-subprocess",
}


def _debug_from_environment() -> bool:
    """asyncio's rule: ``-X dev``, or ``PYTHONASYNCIODEBUG`` set to a non-empty value
    unless ``-E`` tells Python to ignore the environment."""
    if sys.flags.dev_mode:
        return True
    return not sys.flags.ignore_environment and bool(os.environ.get("PYTHONASYNCIODEBUG"))


def _is_coroutine_callable(obj: object) -> bool:
    return asyncio.iscoroutine(obj) or asyncio.iscoroutinefunction(obj)


def _stop_when_done(fut: asyncio.Future[Any]) -> None:
    # run_until_complete's done callback.  A SystemExit/KeyboardInterrupt result has
    # already unwound run_forever, so there is nothing to stop.
    if not fut.cancelled() and isinstance(fut.exception(), SystemExit | KeyboardInterrupt):
        return
    fut.get_loop().stop()


def _ignore_signal(signum: int, frame: object) -> None:
    """Python-level handler for signals the loop watches: the work happens when the
    byte that ``signal.set_wakeup_fd`` writes is read by the loop."""


def _resolve_future(
    fut: asyncio.Future[None], exc: BaseException | None
) -> None:  # runs on the loop
    if fut.done():
        return
    if exc is None:
        fut.set_result(None)
    else:
        fut.set_exception(exc)


class EventLoop(asyncio.AbstractEventLoop):
    """An asyncio event loop that schedules callbacks itself and delegates I/O to
    *backend* and name resolution to *resolver*.

    *backend* is any :class:`layerloop_core.abc.IOBackend` (for example
    ``layerloop_selector.EpollBackend()``); the loop attaches to it and owns it from
    then on (``close()`` closes it).  *resolver* answers ``getaddrinfo`` and
    ``getnameinfo`` and defaults to :class:`~layerloop_core.ExecutorResolver`.

    The loop implements every scheduling method of :class:`asyncio.AbstractEventLoop`
    with CPython's behaviour (error types and messages included).  Methods that need a
    higher layer (transports, servers, subprocesses, TLS) raise
    :class:`NotImplementedError` naming the package that provides them.
    """

    #: In debug mode, a callback or task step running longer than this (seconds) is
    #: logged as a warning naming the callback or the task.
    slow_callback_duration: float

    def __init__(self, backend: IOBackend, *, resolver: Resolver | None = None) -> None:
        self._closed = False
        self._stopping = False
        self._ready: deque[asyncio.Handle] = deque()
        self._timers: list[tuple[float, int, TimerHandle]] = []
        self._timer_cancelled_count = 0
        self._timer_seq = itertools.count()
        self._thread_id: int | None = None
        # Wakeup batching (see the module docstring for the ordering argument).
        self._may_sleep = False
        self._wakeup_pending = False
        self._clock_resolution = time.get_clock_info("monotonic").resolution
        self._exception_handler: (
            Callable[[asyncio.AbstractEventLoop, dict[str, Any]], object] | None
        ) = None
        self._task_factory: Any = None
        self._current_handle: Any = None
        self._default_executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._executor_shutdown_called = False
        self._asyncgens: weakref.WeakSet[Any] = weakref.WeakSet()
        self._asyncgens_shutdown_called = False
        self._old_agen_hooks: Any = None
        self._origin_tracking = False
        self._saved_origin_depth = 0
        self._signal_handlers: dict[int, Handle] = {}
        self._signal_socks: tuple[socket.socket, socket.socket] | None = None
        # Set in a forked child for loops created before the fork (see _after_fork).
        self._forked = False
        self._debug = False
        self.slow_callback_duration = 0.1
        self.set_debug(_debug_from_environment())
        self._backend = backend
        self._resolver: Resolver = ExecutorResolver() if resolver is None else resolver
        backend.attach(self, self._ready.append)
        self._resolver.attach(self)
        _open_loops.add(self)

    # -- the seams ---------------------------------------------------------------------

    @property
    def backend(self) -> IOBackend:
        """The I/O backend this loop drives."""
        return self._backend

    @property
    def resolver(self) -> Resolver:
        """The resolver behind ``getaddrinfo``/``getnameinfo`` and ``sock_connect``."""
        return self._resolver

    def __repr__(self) -> str:
        name = getattr(self._backend, "name", "?") if hasattr(self, "_backend") else "?"
        return (
            f"<{type(self).__name__} running={self.is_running()} "
            f"closed={self.is_closed()} debug={self.get_debug()} backend={name}>"
        )

    # -- running and stopping ----------------------------------------------------------

    def _closed_error(self) -> RuntimeError:
        if self._forked:
            return RuntimeError(
                "Event loop is closed: it was created before this process was forked "
                "and belongs to the parent; create a new event loop in the child"
            )
        return RuntimeError("Event loop is closed")

    def _check_closed(self) -> None:
        if self._closed:
            raise self._closed_error()

    def _check_running(self) -> None:
        if self._thread_id is not None:
            raise RuntimeError("This event loop is already running")
        if _get_running_loop() is not None:
            raise RuntimeError("Cannot run the event loop while another loop is running")

    def _run_forever_setup(self) -> None:
        """Make this the running loop of the current thread (the first half of
        :meth:`run_forever`, usable by subclasses that drive iterations themselves)."""
        self._check_closed()
        self._check_running()
        self._set_coroutine_origin_tracking(self._debug)
        self._old_agen_hooks = sys.get_asyncgen_hooks()
        self._thread_id = _get_ident()
        self._may_sleep = False
        self._wakeup_pending = False
        sys.set_asyncgen_hooks(
            firstiter=self._asyncgen_firstiter_hook, finalizer=self._asyncgen_finalizer_hook
        )
        _set_running_loop(self)

    def _run_forever_cleanup(self) -> None:
        """Undo :meth:`_run_forever_setup`."""
        self._stopping = False
        self._thread_id = None
        self._may_sleep = False
        self._wakeup_pending = False
        _set_running_loop(None)
        self._set_coroutine_origin_tracking(False)
        if self._old_agen_hooks is not None:
            sys.set_asyncgen_hooks(*self._old_agen_hooks)
            self._old_agen_hooks = None

    def run_forever(self) -> None:
        """Run the loop until :meth:`stop` is called."""
        self._run_forever_setup()
        try:
            self._run()
        finally:
            self._run_forever_cleanup()
        if self._forked:
            # A callback forked and this is the child: the loop stopped after that
            # callback's batch instead of polling a backend the parent still uses.
            raise self._closed_error()

    def _run(self) -> None:
        # Everything the iteration touches is bound to a local once: attribute lookups
        # on self are paid per iteration only where the value can change meanwhile.
        ready = self._ready
        enqueue = ready.append
        timers = self._timers
        poll = self._backend.poll
        monotonic = _monotonic
        heappop = _heappop
        resolution = self._clock_resolution
        # Any: the backends enqueue asyncio.Handle objects, whose slots typeshed omits.
        handle: Any = None
        args: Any = None
        while True:
            if self._timer_cancelled_count:
                self._prune_timers()

            # Publish first, then look: see the module docstring.
            self._may_sleep = True
            # 0.0, not 0: the backend compares the timeout with floats, and one type
            # keeps those comparisons on CPython's specialised float path.
            if ready or self._stopping:
                timeout: float | None = 0.0
            elif timers:
                timeout = timers[0][0] - monotonic()
                if timeout > MAX_POLL_TIMEOUT:
                    timeout = MAX_POLL_TIMEOUT
                elif timeout < 0.0:
                    timeout = 0.0
            else:
                timeout = None
            poll(timeout)
            self._may_sleep = False
            self._wakeup_pending = False

            if timers:
                end = monotonic() + resolution
                while timers and timers[0][0] < end:
                    timer = heappop(timers)[2]
                    timer._scheduled = False
                    if timer._cancelled:
                        self._timer_cancelled_count -= 1
                    else:
                        enqueue(timer)

            # Run exactly what is ready now.  The try/except wraps the whole batch, not
            # each handle; after reporting a failed callback the batch is re-entered
            # with the same iterator, which remembers how many handles are left.  The
            # iterator pops the handles in C (map over repeat): two small objects per
            # iteration instead of an int object and a method call per handle.
            if self._debug:
                self._run_batch_debug(len(ready))
            else:
                batch = map(_popleft, _repeat(ready, len(ready)))
                while True:
                    try:
                        for handle in batch:
                            if handle._cancelled:
                                continue
                            # Spelled out by arity: run(cb, *args) builds a list and a
                            # tuple per call, which costs more than the callback itself.
                            args = handle._args
                            if not args:
                                handle._context.run(handle._callback)
                            elif len(args) == 1:
                                handle._context.run(handle._callback, args[0])
                            else:
                                handle._context.run(handle._callback, *args)
                    except (SystemExit, KeyboardInterrupt):
                        raise
                    except BaseException as exc:
                        self._report_callback_error(handle, exc)
                        continue
                    break
                # Do not keep the last callback and its arguments alive while sleeping.
                handle = args = None
            if self._stopping:
                break

    def _run_batch_debug(self, todo: int) -> None:
        ready = self._ready
        monotonic = _monotonic
        handle: Any
        while todo:
            todo -= 1
            handle = ready.popleft()
            if handle._cancelled:
                continue
            self._current_handle = handle
            started = monotonic()
            try:
                args = handle._args
                if not args:
                    handle._context.run(handle._callback)
                else:
                    handle._context.run(handle._callback, *args)
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._report_callback_error(handle, exc)
            finally:
                self._current_handle = None
            took = monotonic() - started
            if took >= self.slow_callback_duration:
                logger.warning("Executing %s took %.3f seconds", describe_handle(handle), took)

    def _report_callback_error(self, handle: Any, exc: BaseException) -> None:
        context: dict[str, Any] = {
            "message": "Exception in callback "
            + describe_callback(handle._callback, handle._args, self._debug),
            "exception": exc,
            "handle": handle,
        }
        if handle._source_traceback:
            context["source_traceback"] = handle._source_traceback
        self.call_exception_handler(context)

    def _prune_timers(self) -> None:
        timers = self._timers
        if len(timers) >= MIN_HEAP_FOR_REBUILD and self._timer_cancelled_count * 2 > len(timers):
            kept = []
            for entry in timers:
                if entry[2]._cancelled:
                    entry[2]._scheduled = False
                else:
                    kept.append(entry)
            # In place: _run holds a reference to this very list.
            timers[:] = kept
            heapq.heapify(timers)
            self._timer_cancelled_count = 0
        else:
            while timers and timers[0][2]._cancelled:
                _heappop(timers)[2]._scheduled = False
                self._timer_cancelled_count -= 1

    def run_until_complete(self, future: Generator[Any, None, _T] | Awaitable[_T]) -> _T:
        """Run until *future* (a future, task, coroutine or awaitable) is done; return its
        result or raise its exception.  A coroutine is wrapped in a task; a future
        attached to another loop raises :class:`ValueError`."""
        self._check_closed()
        self._check_running()
        wrapped = not asyncio.isfuture(future)
        fut = asyncio.ensure_future(cast("Awaitable[_T]", future), loop=self)
        if wrapped:
            # The caller cannot see this task: an unfinished one raises below, so
            # "Task was destroyed but it is pending" would only be noise.
            fut._log_destroy_pending = False  # type: ignore[attr-defined]
        fut.add_done_callback(_stop_when_done)
        try:
            self.run_forever()
        except BaseException:
            if wrapped and fut.done() and not fut.cancelled():
                # Mark the BaseException the coroutine raised as retrieved.
                fut.exception()
            raise
        finally:
            fut.remove_done_callback(_stop_when_done)
        if not fut.done():
            raise RuntimeError("Event loop stopped before Future completed.")
        return fut.result()

    def stop(self) -> None:
        """Stop after the callbacks that are ready now have run.  Called before the loop
        runs, the next :meth:`run_forever` polls once (without blocking) and returns."""
        self._stopping = True

    def is_running(self) -> bool:
        """``True`` while :meth:`run_forever` is running."""
        return self._thread_id is not None

    def is_closed(self) -> bool:
        """``True`` once :meth:`close` was called."""
        return self._closed

    def close(self) -> None:
        """Close the loop: drop pending callbacks, shut the default executor down without
        waiting, remove signal handlers, close the backend and the resolver.

        Idempotent; raises :class:`RuntimeError` while the loop is running.
        """
        if self.is_running():
            raise RuntimeError("Cannot close a running event loop")
        if self._closed:
            return
        if self._debug:
            logger.debug("Close %r", self)
        self._closed = True
        _open_loops.discard(self)
        self._ready.clear()
        self._timers.clear()
        self._timer_cancelled_count = 0
        self._executor_shutdown_called = True
        executor = self._default_executor
        if executor is not None:
            self._default_executor = None
            executor.shutdown(wait=False)
        if self._signal_handlers:
            if sys.is_finalizing():
                warnings.warn(
                    f"Closing the loop {self!r} on interpreter shutdown "
                    f"stage, skipping signal handlers removal",
                    ResourceWarning,
                    stacklevel=2,
                    source=self,
                )
                self._signal_handlers.clear()
            else:
                for signum in list(self._signal_handlers):
                    self.remove_signal_handler(signum)
        self._close_signal_socks()
        try:
            self._backend.close()
        finally:
            self._resolver.close()

    def __del__(self, _warn: Callable[..., None] = warnings.warn) -> None:
        if not getattr(self, "_closed", True):
            _warn(f"unclosed event loop {self!r}", ResourceWarning, source=self)
            if not self.is_running():
                self.close()

    # -- scheduling callbacks ----------------------------------------------------------

    def time(self) -> float:
        """The loop's clock: :func:`time.monotonic`."""
        return _monotonic()

    # The scheduling methods build LoopHandle/LoopTimerHandle objects (calling the class
    # allocates in C, see _handles) and store every slot asyncio.Handle declares, exactly
    # as Handle.__init__ would.  ``self`` is positional-only: asyncio's C tasks and
    # futures call call_soon(callback, context=...), and the "context" string they pass
    # is not the interned one (3.11-3.13), so CPython matches it by comparing strings
    # against each parameter name that may be given by keyword: one fewer per call.

    def call_soon(
        self,
        /,
        callback: Callable[[*_Ts], object],
        *args: *_Ts,
        context: contextvars.Context | None = None,
    ) -> Handle:
        """Run ``callback(*args)`` in the next iteration, after the callbacks scheduled
        before it (in *context*, or a copy of the current context)."""
        if self._closed:
            raise self._closed_error()
        handle = LoopHandle()
        if self._debug:
            self._check_thread()
            self._check_callback(callback, "call_soon")
            handle._source_traceback = caller_stack(1)
        else:
            handle._source_traceback = None
        handle._context = _copy_context() if context is None else context
        handle._loop = self
        handle._callback = callback
        handle._args = args
        handle._cancelled = False
        handle._repr = None
        self._ready.append(handle)
        return handle

    def call_soon_threadsafe(
        self,
        /,
        callback: Callable[[*_Ts], object],
        *args: *_Ts,
        context: contextvars.Context | None = None,
    ) -> Handle:
        """Like :meth:`call_soon`, callable from any thread; wakes the loop if it sleeps."""
        if self._closed:
            raise self._closed_error()
        handle = LoopHandle()
        if self._debug:
            self._check_callback(callback, "call_soon_threadsafe")
            handle._source_traceback = caller_stack(1)
        else:
            handle._source_traceback = None
        handle._context = _copy_context() if context is None else context
        handle._loop = self
        handle._callback = callback
        handle._args = args
        handle._cancelled = False
        handle._repr = None
        self._ready.append(handle)
        # Append first, then read the flags (see the module docstring).
        if self._may_sleep and not self._wakeup_pending:
            self._wakeup_pending = True
            self._backend.wakeup()
        return handle

    def call_later(
        self,
        delay: float,
        callback: Callable[[*_Ts], object],
        *args: *_Ts,
        context: contextvars.Context | None = None,
    ) -> TimerHandle:
        """Run ``callback(*args)`` after *delay* seconds."""
        if delay is None:
            raise TypeError("delay must not be None")
        when = _monotonic() + delay
        if self._closed:
            raise self._closed_error()
        timer = LoopTimerHandle()
        if self._debug:
            self._check_thread()
            self._check_callback(callback, "call_at")
            timer._source_traceback = caller_stack(1)
        else:
            timer._source_traceback = None
        timer._context = _copy_context() if context is None else context
        timer._loop = self
        timer._callback = callback
        timer._args = args
        timer._cancelled = False
        timer._repr = None
        timer._when = when
        timer._scheduled = True
        _heappush(self._timers, (when, next(self._timer_seq), timer))
        return timer

    def call_at(
        self,
        when: float,
        callback: Callable[[*_Ts], object],
        *args: *_Ts,
        context: contextvars.Context | None = None,
    ) -> TimerHandle:
        """Run ``callback(*args)`` at *when*, a time on the :meth:`time` clock."""
        if when is None:
            raise TypeError("when cannot be None")
        if self._closed:
            raise self._closed_error()
        timer = LoopTimerHandle()
        if self._debug:
            self._check_thread()
            self._check_callback(callback, "call_at")
            timer._source_traceback = caller_stack(1)
        else:
            timer._source_traceback = None
        timer._context = _copy_context() if context is None else context
        timer._loop = self
        timer._callback = callback
        timer._args = args
        timer._cancelled = False
        timer._repr = None
        timer._when = when
        timer._scheduled = True
        _heappush(self._timers, (when, next(self._timer_seq), timer))
        return timer

    def _timer_handle_cancelled(self, handle: Any) -> None:
        # asyncio.TimerHandle.cancel's notification; our TimerHandle counts directly.
        if handle._scheduled:
            self._timer_cancelled_count += 1

    def _check_callback(self, callback: object, method: str) -> None:
        if _is_coroutine_callable(callback):
            raise TypeError(f"coroutines cannot be used with {method}()")
        if not callable(callback):
            raise TypeError(f"a callable object was expected by {method}(), got {callback!r}")

    def _check_thread(self) -> None:
        owner = self._thread_id
        if owner is not None and owner != _get_ident():
            raise RuntimeError(
                "Non-thread-safe operation invoked on an event loop other than the current one"
            )

    # -- futures and tasks -------------------------------------------------------------

    def create_future(self) -> asyncio.Future[Any]:
        """A new :class:`asyncio.Future` attached to this loop."""
        return asyncio.Future(loop=self)

    def create_task(
        self,
        coro: _CoroutineLike[_T],
        *,
        name: str | None = None,
        context: contextvars.Context | None = None,
        eager_start: bool | None = None,
        **kwargs: Any,
    ) -> asyncio.Task[_T]:
        """Schedule *coro* as a task, with Python 3.14's semantics on every version.

        Every keyword the caller gives (*name*, *context*, *eager_start* and any
        other) is handed to the task factory when one is set, or to
        :class:`asyncio.Task` otherwise; ``None`` counts as "not given" because
        asyncio's own helpers on 3.11-3.13 pass ``name=None``/``context=None``
        explicitly.  ``eager_start=True`` starts the coroutine synchronously when the
        loop is running (Python 3.12+; on 3.11 ``asyncio.Task`` cannot start eagerly and
        :class:`NotImplementedError` is raised).  With ``asyncio.eager_task_factory``
        set on 3.12/3.13 (whose factory predates the keyword), ``eager_start=False``
        creates an ordinary task, as 3.14's factory does.
        """
        if self._closed:
            raise RuntimeError("Event loop is closed")
        if self._task_factory is None and eager_start is None and not kwargs:
            # The common case, without building a keyword dictionary (and without
            # keywords that only restate Task's defaults: each costs a lookup in C).
            task: asyncio.Task[_T] = (
                asyncio.Task(coro, loop=self)
                if name is None and context is None
                else asyncio.Task(coro, loop=self, name=name, context=context)
            )
            if self._debug:
                _drop_own_frame(task)
            return task
        if name is not None:
            kwargs["name"] = name
        if context is not None:
            kwargs["context"] = context
        factory = self._task_factory
        if factory is not None:
            if eager_start is not None:
                if factory is _EAGER_FACTORY and sys.version_info < (3, 14):
                    if not eager_start:
                        return asyncio.Task(coro, loop=self, **kwargs)
                else:
                    kwargs["eager_start"] = eager_start
            task = factory(self, coro, **kwargs)
            return task
        if eager_start:
            if sys.version_info >= (3, 12):
                kwargs["eager_start"] = True
            else:
                raise NotImplementedError(
                    "create_task(eager_start=True) needs Python 3.12 or newer: "
                    "asyncio.Task cannot start eagerly on this version"
                )
        task = asyncio.Task(coro, loop=self, **kwargs)
        if self._debug:
            _drop_own_frame(task)
        return task

    def set_task_factory(self, factory: Any) -> None:
        """Use *factory* (``factory(loop, coro, **kwargs)`` returning a task) for
        :meth:`create_task`; ``None`` restores :class:`asyncio.Task`."""
        if factory is not None and not callable(factory):
            raise TypeError("task factory must be a callable or None")
        self._task_factory = factory

    def get_task_factory(self) -> Any:
        """The task factory, or ``None`` when :class:`asyncio.Task` is used."""
        return self._task_factory

    # -- executor ----------------------------------------------------------------------

    def run_in_executor(
        self,
        executor: concurrent.futures.Executor | None,
        func: Callable[[*_Ts], _T],
        *args: *_Ts,
    ) -> asyncio.Future[_T]:
        """Run ``func(*args)`` in *executor* (``None``: the default thread pool) and
        return an asyncio future for the result."""
        if self._closed:
            raise RuntimeError("Event loop is closed")
        if self._debug:
            self._check_callback(func, "run_in_executor")
        if executor is None:
            if self._executor_shutdown_called:
                raise RuntimeError("Executor shutdown has been called")
            executor = self._default_executor
            if executor is None:
                executor = self._default_executor = concurrent.futures.ThreadPoolExecutor(
                    thread_name_prefix="asyncio"
                )
        return asyncio.wrap_future(executor.submit(func, *args), loop=self)

    def set_default_executor(self, executor: concurrent.futures.Executor) -> None:
        """Use *executor*, a :class:`concurrent.futures.ThreadPoolExecutor`, for
        ``run_in_executor(None, ...)``."""
        if not isinstance(executor, concurrent.futures.ThreadPoolExecutor):
            raise TypeError("executor must be ThreadPoolExecutor instance")
        self._default_executor = executor

    async def shutdown_default_executor(self, timeout: float | None = None) -> None:
        """Shut the default executor down and wait (at most *timeout* seconds, ``None``
        meaning no limit) for its threads; warn with :class:`RuntimeWarning` and stop
        waiting when the timeout expires."""
        self._executor_shutdown_called = True
        executor = self._default_executor
        if executor is None:
            return
        done = self.create_future()
        joiner = threading.Thread(
            target=self._join_executor, args=(executor, done), name="layerloop-executor-join"
        )
        joiner.start()
        try:
            async with asyncio.timeout(timeout):
                await done
        except TimeoutError:
            warnings.warn(
                f"The executor did not finishing joining its threads within {timeout} seconds.",
                RuntimeWarning,
                stacklevel=2,
            )
            executor.shutdown(wait=False)
        else:
            joiner.join()

    def _join_executor(
        self, executor: concurrent.futures.Executor, done: asyncio.Future[None]
    ) -> None:
        error: BaseException | None = None
        try:
            executor.shutdown(wait=True)
        except Exception as exc:
            error = exc
        if not self._closed:
            with contextlib.suppress(RuntimeError):  # closed in the meantime
                self.call_soon_threadsafe(_resolve_future, done, error)

    # -- asynchronous generators -------------------------------------------------------

    def _asyncgen_firstiter_hook(self, agen: AsyncGenerator[Any, Any]) -> None:
        if self._asyncgens_shutdown_called:
            warnings.warn(
                f"asynchronous generator {agen!r} was scheduled after "
                f"loop.shutdown_asyncgens() call",
                ResourceWarning,
                stacklevel=2,
                source=self,
            )
        self._asyncgens.add(agen)

    def _asyncgen_finalizer_hook(self, agen: AsyncGenerator[Any, Any]) -> None:
        self._asyncgens.discard(agen)
        if not self._closed:
            self.call_soon_threadsafe(self.create_task, agen.aclose())

    async def shutdown_asyncgens(self) -> None:
        """Close every asynchronous generator still alive (``aclose()``), reporting
        failures to the exception handler."""
        self._asyncgens_shutdown_called = True
        if not len(self._asyncgens):
            return
        agens = list(self._asyncgens)
        self._asyncgens.clear()
        outcomes = await asyncio.gather(*[ag.aclose() for ag in agens], return_exceptions=True)
        for outcome, agen in zip(outcomes, agens, strict=True):
            if isinstance(outcome, Exception):
                self.call_exception_handler(
                    {
                        "message": "an error occurred during closing of "
                        f"asynchronous generator {agen!r}",
                        "exception": outcome,
                        "asyncgen": agen,
                    }
                )

    # -- error handling ----------------------------------------------------------------

    def get_exception_handler(
        self,
    ) -> Callable[[asyncio.AbstractEventLoop, dict[str, Any]], object] | None:
        """The handler set with :meth:`set_exception_handler`, or ``None``."""
        return self._exception_handler

    def set_exception_handler(
        self, handler: Callable[[asyncio.AbstractEventLoop, dict[str, Any]], object] | None
    ) -> None:
        """Use ``handler(loop, context)`` for errors the loop catches; ``None`` restores
        :meth:`default_exception_handler`."""
        if handler is not None and not callable(handler):
            raise TypeError(f"A callable object or None is expected, got {handler!r}")
        self._exception_handler = handler

    def default_exception_handler(self, context: dict[str, Any]) -> None:
        """Log *context* on the ``asyncio`` logger at ERROR level.

        The first line is ``context["message"]``; every other key follows on its own
        line in sorted order (``source_traceback`` and ``handle_traceback`` rendered as
        stacks), and ``context["exception"]`` supplies the logged traceback.  In debug
        mode the creation stack of the handle being run is added as
        ``handle_traceback``.
        """
        message = context.get("message") or "Unhandled exception in event loop"
        exception = context.get("exception")
        exc_info: Any = (
            (type(exception), exception, exception.__traceback__)
            if exception is not None
            else False
        )
        current = self._current_handle
        if "source_traceback" not in context and current is not None and current._source_traceback:
            context["handle_traceback"] = current._source_traceback
        lines = [message]
        for key in sorted(context):
            if key in ("message", "exception"):
                continue
            value = context[key]
            if key == "source_traceback":
                text = "Object created at (most recent call last):\n" + _format_stack(value)
            elif key == "handle_traceback":
                text = "Handle created at (most recent call last):\n" + _format_stack(value)
            else:
                text = repr(value)
            lines.append(f"{key}: {text}")
        logger.error("\n".join(lines), exc_info=exc_info)

    def call_exception_handler(self, context: dict[str, Any]) -> None:
        """Report an error to the exception handler.

        Keys asyncio documents: ``message``, ``exception``, ``future``, ``task``,
        ``handle``, ``protocol``, ``transport``, ``socket``, ``asyncgen`` (plus
        ``source_traceback``/``handle_traceback`` in debug mode).  A custom handler
        runs in the context of the task, future or handle named in *context*; an
        exception it raises is logged by :meth:`default_exception_handler`.
        """
        handler = self._exception_handler
        if handler is None:
            try:
                self.default_exception_handler(context)
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException:
                logger.error("Exception in default exception handler", exc_info=True)
            return
        try:
            owner = context.get("task")
            if owner is None:
                owner = context.get("future")
            if owner is None:
                owner = context.get("handle")
            run_in: Any = None
            if owner is not None and hasattr(owner, "get_context"):
                run_in = owner.get_context()
            if run_in is not None and hasattr(run_in, "run"):
                run_in.run(handler, self, context)
            else:
                handler(self, context)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            try:
                self.default_exception_handler(
                    {
                        "message": "Unhandled error in exception handler",
                        "exception": exc,
                        "context": context,
                    }
                )
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException:
                logger.error(
                    "Exception in default exception handler while handling an "
                    "unexpected error in custom exception handler",
                    exc_info=True,
                )

    # -- debug mode --------------------------------------------------------------------

    def get_debug(self) -> bool:
        """Whether debug mode is on."""
        return self._debug

    def set_debug(self, enabled: bool) -> None:
        """Turn debug mode on or off: thread checks, callback checks, creation
        tracebacks, slow-callback reports and coroutine origin tracking."""
        self._debug = enabled
        if self.is_running():
            self.call_soon_threadsafe(self._set_coroutine_origin_tracking, enabled)

    def _set_coroutine_origin_tracking(self, enabled: bool) -> None:
        if bool(enabled) == self._origin_tracking:
            return
        if enabled:
            self._saved_origin_depth = sys.get_coroutine_origin_tracking_depth()
            sys.set_coroutine_origin_tracking_depth(DEBUG_ORIGIN_DEPTH)
        else:
            sys.set_coroutine_origin_tracking_depth(self._saved_origin_depth)
        self._origin_tracking = bool(enabled)

    # -- file descriptor watches -------------------------------------------------------

    def add_reader(
        self, fd: FileDescriptorLike, callback: Callable[[*_Ts], Any], *args: *_Ts
    ) -> None:
        """Call ``callback(*args)`` whenever *fd* (an int or an object with
        ``fileno()``) is readable, until :meth:`remove_reader`."""
        self._check_closed()
        handle = Handle(callback, args, self, None)
        self._backend.add_reader(fileobj_to_fd(fd), handle)

    def remove_reader(self, fd: FileDescriptorLike) -> bool:
        """Stop watching *fd* for reading; ``False`` if it was not watched."""
        if self._closed:
            return False
        return self._backend.remove_reader(fileobj_to_fd(fd))

    def add_writer(
        self, fd: FileDescriptorLike, callback: Callable[[*_Ts], Any], *args: *_Ts
    ) -> None:
        """Call ``callback(*args)`` whenever *fd* is writable, until :meth:`remove_writer`."""
        self._check_closed()
        handle = Handle(callback, args, self, None)
        self._backend.add_writer(fileobj_to_fd(fd), handle)

    def remove_writer(self, fd: FileDescriptorLike) -> bool:
        """Stop watching *fd* for writing; ``False`` if it was not watched."""
        if self._closed:
            return False
        return self._backend.remove_writer(fileobj_to_fd(fd))

    # -- signals -----------------------------------------------------------------------

    def _check_signal(self, sig: object) -> int:
        if not isinstance(sig, int):
            raise TypeError(f"sig must be an int, not {sig!r}")
        if sig not in signal.valid_signals():
            raise ValueError(f"invalid signal number {sig}")
        return sig

    def add_signal_handler(self, sig: int, callback: Callable[[*_Ts], object], *args: *_Ts) -> None:
        """Run ``callback(*args)`` as a loop callback each time signal *sig* arrives.

        Only from the main thread (otherwise :class:`RuntimeError`).  An invalid signal
        number is a :class:`ValueError`, a non-int one or a coroutine callback a
        :class:`TypeError`, an uncatchable signal (``SIGKILL``) a :class:`RuntimeError`.
        A signal arriving while the loop sleeps wakes it: the loop sets
        :func:`signal.set_wakeup_fd` to a socket pair it watches through the backend.
        """
        if sys.platform == "win32":
            raise NotImplementedError("add_signal_handler() is not supported on Windows")
        else:
            if _is_coroutine_callable(callback):
                raise TypeError("coroutines cannot be used with add_signal_handler()")
            self._check_signal(sig)
            self._check_closed()
            writer = self._ensure_signal_socks()[1]
            try:
                # Fails off the main thread, which is how a loop running in another
                # thread is refused before any handler is installed.
                signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
            except (ValueError, OSError) as exc:
                raise RuntimeError(str(exc)) from None
            self._signal_handlers[sig] = Handle(callback, args, self, None)
            try:
                signal.signal(sig, _ignore_signal)
                # Let system calls be restarted (Python retries EINTR anyway, PEP 475).
                signal.siginterrupt(sig, False)
            except OSError as exc:
                del self._signal_handlers[sig]
                if not self._signal_handlers:
                    self._release_wakeup_fd()
                if exc.errno == errno.EINVAL:
                    raise RuntimeError(f"sig {sig:d} cannot be caught") from None
                raise

    def remove_signal_handler(self, sig: int) -> bool:
        """Remove the handler of *sig* and restore the default disposition; ``False``
        if there was none."""
        if sys.platform == "win32":
            raise NotImplementedError("remove_signal_handler() is not supported on Windows")
        else:
            self._check_signal(sig)
            if self._signal_handlers.pop(sig, None) is None:
                return False
            default: Any = signal.default_int_handler if sig == signal.SIGINT else signal.SIG_DFL
            try:
                signal.signal(sig, default)
            except OSError as exc:
                if exc.errno == errno.EINVAL:
                    raise RuntimeError(f"sig {sig:d} cannot be caught") from None
                raise
            if not self._signal_handlers:
                self._release_wakeup_fd()
            return True

    def _release_wakeup_fd(self) -> None:
        try:
            signal.set_wakeup_fd(-1)
        except (ValueError, OSError) as exc:
            logger.info("set_wakeup_fd(-1) failed: %s", exc)

    def _ensure_signal_socks(self) -> tuple[socket.socket, socket.socket]:
        socks = self._signal_socks
        if socks is None:
            reader, writer = socket.socketpair()
            reader.setblocking(False)
            writer.setblocking(False)
            socks = self._signal_socks = (reader, writer)
            self._backend.add_reader(
                reader.fileno(), Handle(self._read_signals, (reader,), self, None)
            )
        return socks

    def _read_signals(self, reader: socket.socket) -> None:
        # Each byte is the number of a signal that arrived (signal.set_wakeup_fd).
        while True:
            try:
                data = reader.recv(4096)
            except (BlockingIOError, InterruptedError):
                return
            if not data:
                return
            handlers = self._signal_handlers
            for signum in data:
                handle = handlers.get(signum)
                if handle is None:
                    continue
                if handle._cancelled:
                    self.remove_signal_handler(signum)
                else:
                    self._ready.append(handle)

    def _close_signal_socks(self) -> None:
        socks = self._signal_socks
        if socks is None:
            return
        self._signal_socks = None
        reader, writer = socks
        try:
            self._backend.remove_reader(reader.fileno())
        finally:
            reader.close()
            writer.close()

    # -- fork --------------------------------------------------------------------------

    def _after_fork(self) -> None:
        """Retire this loop in a child process forked while it was open.

        The child inherits the loop's memory but shares its kernel objects with the
        parent: the backend's (an epoll instance and its interest list, a wakeup channel,
        a completion ring) and the signal socket pair.  Using any of them here would
        disturb the parent: a watch removed from a shared epoll instance is removed for
        both, a drained wakeup channel loses the parent's wakeup.  So the loop becomes
        closed, its queued callbacks (the parent's work) are cancelled, a run in progress
        in this thread ends after the current batch with :class:`RuntimeError`, the
        child's copies of the signal sockets are closed, and the backend releases its
        copies through its optional ``after_fork_in_child`` hook.  Closing the loop
        afterwards is a no-op, so nothing ever reaches the shared state.
        """
        self._forked = True
        self._closed = True
        self._stopping = True
        if self._thread_id is not None and self._thread_id != _get_ident():
            # It was running in a thread the child does not have.
            self._thread_id = None
        socks = self._signal_socks
        if socks is not None:
            # The signal wakeup fd was released first (_after_fork_in_child).
            self._signal_socks = None
            socks[0].close()
            socks[1].close()
        hook = getattr(self._backend, "after_fork_in_child", None)
        if hook is not None:
            hook()
        # Last: the kernel side is settled even if some handle's cancel() misbehaves.
        for handle in self._ready:
            handle.cancel()

    # -- name resolution ---------------------------------------------------------------

    async def getaddrinfo(
        self,
        host: bytes | str | None,
        port: bytes | str | int | None,
        *,
        family: int = 0,
        type: int = 0,
        proto: int = 0,
        flags: int = 0,
    ) -> _GetAddrInfoResult:
        """As :func:`socket.getaddrinfo`, answered by :attr:`resolver`."""
        infos: list[AddrInfo] = await self._resolver.getaddrinfo(
            host, port, family=family, type=type, proto=proto, flags=flags
        )
        # abc.AddrInfo spells the same tuples with a plain AddressFamily.
        return cast("_GetAddrInfoResult", infos)

    async def getnameinfo(
        self, sockaddr: tuple[str, int] | tuple[str, int, int, int], flags: int = 0
    ) -> tuple[str, str]:
        """As :func:`socket.getnameinfo`, answered by :attr:`resolver`."""
        return await self._resolver.getnameinfo(sockaddr, flags)

    # -- socket operations -------------------------------------------------------------

    def _check_sock(self, sock: socket.socket) -> None:
        if self._forked:
            # The backend's kernel objects are shared with the parent: registering a
            # wait on them here would steal or disturb the parent's events.
            raise self._closed_error()
        if _SSLSocket is not None and isinstance(sock, _SSLSocket):
            raise TypeError("Socket cannot be of type SSLSocket")
        if self._debug and sock.gettimeout() != 0:
            raise ValueError("the socket must be non-blocking")

    async def sock_recv(self, sock: socket.socket, nbytes: int) -> bytes:
        """Receive up to *nbytes* from the non-blocking *sock*."""
        self._check_sock(sock)
        return await self._backend.sock_recv(sock, nbytes)

    async def sock_recv_into(self, sock: socket.socket, buf: Any) -> int:
        """Receive into *buf*; return the number of bytes received."""
        self._check_sock(sock)
        return await self._backend.sock_recv_into(sock, buf)

    async def sock_recvfrom(self, sock: socket.socket, bufsize: int) -> tuple[bytes, Any]:
        """Receive a datagram of at most *bufsize* bytes; return ``(data, address)``."""
        self._check_sock(sock)
        return await self._backend.sock_recvfrom(sock, bufsize)

    async def sock_recvfrom_into(
        self, sock: socket.socket, buf: Any, nbytes: int = 0
    ) -> tuple[int, Any]:
        """Receive a datagram into *buf*; return ``(nbytes, address)``."""
        self._check_sock(sock)
        return await self._backend.sock_recvfrom_into(sock, buf, nbytes)

    async def sock_sendall(self, sock: socket.socket, data: Any) -> None:
        """Send all of *data*."""
        self._check_sock(sock)
        return await self._backend.sock_sendall(sock, data)

    async def sock_sendto(self, sock: socket.socket, data: Any, address: Any) -> int:
        """Send one datagram to *address*; return the bytes sent."""
        self._check_sock(sock)
        return await self._backend.sock_sendto(sock, data, address)

    async def sock_connect(self, sock: socket.socket, address: Any) -> None:
        """Connect *sock* to *address*, resolving a host name through :attr:`resolver`
        for IPv4/IPv6 sockets."""
        self._check_sock(sock)
        if sock.family == socket.AF_INET or (socket.has_ipv6 and sock.family == socket.AF_INET6):
            address = await self._resolve_for(sock, address)
        return await self._backend.sock_connect(sock, address)

    async def _resolve_for(self, sock: socket.socket, address: Any) -> Address:
        host, port = address[:2]
        found = numeric_address(
            host,
            port,
            family=sock.family,
            type=sock.type,
            proto=sock.proto,
            flowinfo=address[2] if len(address) > 2 else 0,
            scopeid=address[3] if len(address) > 3 else 0,
        )
        if found is not None:
            return found[1]
        infos = await self.getaddrinfo(
            host, port, family=sock.family, type=sock.type, proto=sock.proto
        )
        return infos[0][4]

    async def sock_accept(self, sock: socket.socket) -> tuple[socket.socket, Any]:
        """Accept a connection on the listening *sock*; return ``(conn, address)``."""
        self._check_sock(sock)
        return await self._backend.sock_accept(sock)

    async def sock_sendfile(
        self,
        sock: socket.socket,
        file: IO[bytes],
        offset: int = 0,
        count: int | None = None,
        *,
        fallback: bool | None = True,
    ) -> int:
        """Send *file* (from *offset*, *count* bytes or to the end) over *sock*,
        zero-copy when the backend can; otherwise, if *fallback*, by reading the file in
        the default executor and sending the chunks.  Returns the bytes sent."""
        if self._forked:
            raise self._closed_error()
        if self._debug and sock.gettimeout() != 0:
            raise ValueError("the socket must be non-blocking")
        if _SSLSocket is not None and isinstance(sock, _SSLSocket):
            raise TypeError("Socket cannot be of type SSLSocket")
        _check_sendfile_params(sock, file, offset, count)
        try:
            return await self._backend.sock_sendfile_native(sock, file, offset, count)
        except asyncio.SendfileNotAvailableError:
            if not fallback:
                raise
        return await self._sock_sendfile_fallback(sock, file, offset, count)

    async def _sock_sendfile_fallback(
        self, sock: socket.socket, file: IO[bytes], offset: int, count: int | None
    ) -> int:
        if offset:
            file.seek(offset)
        chunk = min(count, SENDFILE_FALLBACK_CHUNK) if count else SENDFILE_FALLBACK_CHUNK
        buf = bytearray(chunk)
        sent = 0
        try:
            while True:
                if count:
                    chunk = min(count - sent, chunk)
                    if chunk <= 0:
                        break
                view = memoryview(buf)[:chunk]
                got = await self.run_in_executor(None, file.readinto, view)  # type: ignore[attr-defined]
                if not got:
                    break
                await self.sock_sendall(sock, view[:got])
                sent += got
            return sent
        finally:
            if sent > 0 and hasattr(file, "seek"):
                file.seek(offset + sent)

    # -- provided by higher layers -----------------------------------------------------

    def _needs_layer(self, method: str) -> NoReturn:
        package = _LATER_LAYERS[method]
        raise NotImplementedError(
            f"loop.{method}() is provided by {package}; layerloop_core.EventLoop alone "
            f"only schedules callbacks and does socket operations "
            f"(install {package} and use the loop it assembles, e.g. layerloop.EventLoop)"
        )

    async def create_connection(self, *args: Any, **kwargs: Any) -> Any:
        """Provided by ``layerloop-transports``."""
        self._needs_layer("create_connection")

    async def create_server(self, *args: Any, **kwargs: Any) -> Any:
        """Provided by ``layerloop-transports``."""
        self._needs_layer("create_server")

    async def create_unix_connection(self, *args: Any, **kwargs: Any) -> Any:
        """Provided by ``layerloop-transports``."""
        self._needs_layer("create_unix_connection")

    async def create_unix_server(self, *args: Any, **kwargs: Any) -> Any:
        """Provided by ``layerloop-transports``."""
        self._needs_layer("create_unix_server")

    async def create_datagram_endpoint(self, *args: Any, **kwargs: Any) -> Any:
        """Provided by ``layerloop-transports``."""
        self._needs_layer("create_datagram_endpoint")

    async def connect_accepted_socket(self, *args: Any, **kwargs: Any) -> Any:
        """Provided by ``layerloop-transports``."""
        self._needs_layer("connect_accepted_socket")

    async def connect_read_pipe(self, *args: Any, **kwargs: Any) -> Any:
        """Provided by ``layerloop-transports``."""
        self._needs_layer("connect_read_pipe")

    async def connect_write_pipe(self, *args: Any, **kwargs: Any) -> Any:
        """Provided by ``layerloop-transports``."""
        self._needs_layer("connect_write_pipe")

    async def start_tls(self, *args: Any, **kwargs: Any) -> Any:
        """Provided by ``layerloop-transports``."""
        self._needs_layer("start_tls")

    async def sendfile(self, *args: Any, **kwargs: Any) -> Any:
        """Provided by ``layerloop-transports``."""
        self._needs_layer("sendfile")

    async def subprocess_exec(self, *args: Any, **kwargs: Any) -> Any:
        """Provided by ``layerloop-subprocess``."""
        self._needs_layer("subprocess_exec")

    async def subprocess_shell(self, *args: Any, **kwargs: Any) -> Any:
        """Provided by ``layerloop-subprocess``."""
        self._needs_layer("subprocess_shell")


_EAGER_FACTORY: Any = getattr(asyncio, "eager_task_factory", None)

#: Loops not closed yet, which a forked child must retire (EventLoop._after_fork).
_open_loops: weakref.WeakSet[EventLoop] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    """``os.register_at_fork(after_in_child=...)``: retire every loop the parent had open.

    CPython 3.12+ resets the running loop and the signal wakeup fd in a forked child
    (``asyncio.events``), so that a signal sent to the child is not written into the
    parent's wakeup socket and ``asyncio.get_running_loop()`` raises.  3.11 leaves the
    wakeup fd alone (its running-loop lookup checks the process id instead).  Here the
    wakeup fd is released on every version when it is one of our loops' sockets, before
    those sockets are closed (the child could reuse a closed fd number for anything).
    """
    loops = list(_open_loops)
    _open_loops.clear()
    ours = {loop._signal_socks[1].fileno() for loop in loops if loop._signal_socks is not None}
    if ours:
        try:
            previous = signal.set_wakeup_fd(-1)
        except (ValueError, OSError):  # pragma: no cover - not the main interpreter
            previous = -1
        if previous != -1 and previous not in ours:
            # Someone else's: put it back (only reachable on 3.11, whose asyncio does not
            # reset it; warn_on_full_buffer returns to its default).
            with contextlib.suppress(ValueError, OSError):
                signal.set_wakeup_fd(previous)
    for loop in loops:
        try:
            loop._after_fork()
        except Exception:  # one broken backend must not keep the others' fds shared
            logger.exception("Retiring %r after fork failed", loop)


if sys.platform != "win32":
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _drop_own_frame(task: asyncio.Task[Any]) -> None:
    # The creation traceback should end where the caller called create_task.
    stack = getattr(task, "_source_traceback", None)
    if stack:
        del stack[-1]


def _format_stack(stack: Any) -> str:
    return "".join(traceback.format_list(stack)).rstrip()


def _check_sendfile_params(sock: socket.socket, file: Any, offset: object, count: object) -> None:
    if "b" not in getattr(file, "mode", "b"):
        raise ValueError("file should be opened in binary mode")
    if sock.type != socket.SOCK_STREAM:
        raise ValueError("only SOCK_STREAM type sockets are supported")
    if count is not None:
        if not isinstance(count, int):
            raise TypeError(f"count must be a positive integer (got {count!r})")
        if count <= 0:
            raise ValueError(f"count must be a positive integer (got {count!r})")
    if not isinstance(offset, int):
        raise TypeError(f"offset must be a non-negative integer (got {offset!r})")
    if offset < 0:
        raise ValueError(f"offset must be a non-negative integer (got {offset!r})")
