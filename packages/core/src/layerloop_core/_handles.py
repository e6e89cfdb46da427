"""Callback handles and the formatting helpers the loop uses to describe them.

:class:`Handle` and :class:`TimerHandle` are real subclasses of :class:`asyncio.Handle`
and :class:`asyncio.TimerHandle`, so ``isinstance`` checks, ``repr`` and every attribute
asyncio code reads keep working.  They add no slots: the base classes already declare
``_callback``, ``_args``, ``_cancelled``, ``_loop``, ``_source_traceback``, ``_repr``,
``_context`` (and ``_when``, ``_scheduled`` for timers).  What they change is cost: the
constructor is a plain sequence of slot stores (the loop fills in the debug-mode source
traceback itself, so the hot path never asks the loop whether it is in debug mode), and
``TimerHandle.cancel`` tells the loop directly so that cancelled timers are counted for
lazy removal from the heap.

The scheduling methods do not call these constructors: they build :class:`LoopHandle`
and :class:`LoopTimerHandle` objects, subclasses (with the same names in reprs) whose
``__init__`` is :meth:`object.__init__`, and store the slots themselves.  Calling such a
class with no arguments allocates entirely in C (``type.__call__`` then ``object.__new__``
and ``object.__init__``), which on CPython 3.11-3.13 costs about a quarter less than
``object.__new__(Handle)``: that goes through a generic wrapper that packs its argument
into a tuple and checks that ``object.__new__`` may build the class.  Allocation is the
largest single cost of ``call_soon`` after the call itself.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import reprlib
import sys
import traceback
from collections.abc import Callable, Mapping, Sequence
from types import FrameType
from typing import TYPE_CHECKING, Any

__all__ = ["Handle", "LoopHandle", "LoopTimerHandle", "TimerHandle"]

#: How many frames a debug-mode source traceback keeps (asyncio uses the same depth).
DEBUG_STACK_DEPTH = 10

_copy_context = contextvars.copy_context


class Handle(asyncio.Handle):
    """A callback scheduled with ``call_soon``, ``call_soon_threadsafe`` or ``add_reader``.

    Returned by the scheduling methods; :meth:`cancel` prevents the callback from
    running if it has not run yet.  :meth:`get_context` returns the
    :class:`contextvars.Context` the callback runs in (available on every supported
    Python, although ``asyncio.Handle`` only grew it in 3.12).
    """

    __slots__ = ()
    # The slots asyncio.Handle declares (typeshed only spells out two of them).
    _callback: Callable[..., object] | None
    _context: contextvars.Context
    _loop: asyncio.AbstractEventLoop
    _repr: str | None
    _source_traceback: traceback.StackSummary | None

    def __init__(
        self,
        callback: Callable[..., object],
        args: Sequence[Any],
        loop: asyncio.AbstractEventLoop,
        context: contextvars.Context | None = None,
    ) -> None:
        # Deliberately does not call asyncio.Handle.__init__: that asks the loop for its
        # debug flag on every construction.  The loop sets _source_traceback itself when
        # it is in debug mode.
        self._context = _copy_context() if context is None else context
        self._loop = loop
        self._callback = callback
        self._args = args
        self._cancelled = False
        self._repr = None
        self._source_traceback = None

    def get_context(self) -> contextvars.Context:
        """Return the :class:`contextvars.Context` the callback runs in."""
        return self._context

    def cancel(self) -> None:
        """Cancel the callback.  A no-op if it already ran or was cancelled."""
        if not self._cancelled:
            self._cancelled = True
            if self._loop.get_debug():
                # Keep the description: slow-callback and error reports still name
                # the callback after its reference is dropped below.
                self._repr = repr(self)
            self._callback = None
            self._args = None  # type: ignore[assignment]


class TimerHandle(asyncio.TimerHandle):
    """A callback scheduled with ``call_later`` or ``call_at``.

    :meth:`when` returns the absolute time (on the loop's :meth:`~EventLoop.time`
    clock) at which the callback is due.  Cancelling notifies the loop, which removes
    cancelled timers from its heap lazily.
    """

    __slots__ = ()
    _callback: Callable[..., object] | None
    _context: contextvars.Context
    _loop: asyncio.AbstractEventLoop
    _repr: str | None
    _source_traceback: traceback.StackSummary | None
    _scheduled: bool
    _when: float

    def __init__(
        self,
        when: float,
        callback: Callable[..., object],
        args: Sequence[Any],
        loop: asyncio.AbstractEventLoop,
        context: contextvars.Context | None = None,
    ) -> None:
        self._context = _copy_context() if context is None else context
        self._loop = loop
        self._callback = callback
        self._args = args
        self._cancelled = False
        self._repr = None
        self._source_traceback = None
        self._when = when
        self._scheduled = False

    def get_context(self) -> contextvars.Context:
        """Return the :class:`contextvars.Context` the callback runs in."""
        return self._context

    def cancel(self) -> None:
        """Cancel the timer.  A no-op if it already ran or was cancelled."""
        if not self._cancelled:
            if self._scheduled:
                # Still in the heap of the loop that scheduled it (only our loop sets
                # _scheduled): count it so the loop knows when a rebuild pays off, and
                # read its debug flag directly rather than through get_debug().
                owner: Any = self._loop
                owner._timer_cancelled_count += 1
                debug: bool = owner._debug
            else:
                debug = self._loop.get_debug()
            self._cancelled = True
            if debug:
                self._repr = repr(self)
            self._callback = None
            self._args = None  # type: ignore[assignment]


class LoopHandle(Handle):
    """The :class:`Handle` the scheduling methods return (see the module docstring).

    It cannot be built with arguments; its name in reprs and messages is ``Handle``.
    """

    __slots__ = ()

    if TYPE_CHECKING:

        def __init__(self) -> None: ...

    else:
        # object.__init__ makes CPython fill tp_init with object_init itself, so calling
        # the class runs no Python frame.
        __init__ = object.__init__


class LoopTimerHandle(TimerHandle):
    """The :class:`TimerHandle` ``call_later``/``call_at`` return (see :class:`LoopHandle`)."""

    __slots__ = ()

    if TYPE_CHECKING:

        def __init__(self) -> None: ...

    else:
        __init__ = object.__init__


# asyncio's reprs start with the class name; keep them identical to those of the public
# classes, which is what users and CPython's tests see.
LoopHandle.__name__ = LoopHandle.__qualname__ = "Handle"
LoopTimerHandle.__name__ = LoopTimerHandle.__qualname__ = "TimerHandle"


# -- descriptions of callbacks, for error messages and debug reports ---------------------


def callback_source(func: object) -> tuple[str, int] | None:
    """Where *func* is defined, as ``(filename, first line)``, or ``None``."""
    seen = 0
    while seen < 16:
        seen += 1
        if isinstance(func, functools.partial | functools.partialmethod):
            func = func.func
            continue
        try:
            func = inspect.unwrap(func)  # type: ignore[arg-type]
        except ValueError:
            return None
        if inspect.isfunction(func):
            code = func.__code__
            return code.co_filename, code.co_firstlineno
        return None
    return None


class _ReprProbeLoop:
    """Just enough of a loop for ``asyncio.Handle`` to be built and printed."""

    def get_debug(self) -> bool:
        return False


def _probe_callback(arg: object) -> None:
    """Stands in for a callback while probing asyncio's ``Handle`` repr."""


def _asyncio_shows_arguments() -> bool:
    # Newer asyncio versions (3.13) print callback arguments only in debug mode, since
    # they may hold secrets; older ones always print them.  Ask the running asyncio
    # rather than hard-coding which patch release changed it.
    probe = asyncio.Handle(_probe_callback, ("probe-arg",), _ReprProbeLoop())  # type: ignore[arg-type]
    return "probe-arg" in repr(probe)


#: Whether callback arguments appear in descriptions outside debug mode.
SHOW_ARGUMENTS_OUTSIDE_DEBUG = _asyncio_shows_arguments()


def _format_arguments(
    args: Sequence[Any] | None, kwargs: Mapping[str, Any] | None, debug: bool
) -> str:
    if not debug and not SHOW_ARGUMENTS_OUTSIDE_DEBUG:
        return "()"
    parts: list[str] = []
    if args:
        parts.extend(reprlib.repr(a) for a in args)
    if kwargs:
        parts.extend(f"{key}={reprlib.repr(value)}" for key, value in kwargs.items())
    return "(" + ", ".join(parts) + ")"


def describe_callback(func: object, args: Sequence[Any] | None, debug: bool = False) -> str:
    """Render ``name(args) at file:line`` for *func* called with *args*.

    ``functools.partial`` layers are unwrapped, their bound arguments shown after the
    call's own ones, as asyncio shows them.  Where the running asyncio hides arguments
    outside debug mode, so does this (``name()``).
    """
    trailer = ""
    kwargs: Mapping[str, Any] | None = None
    target = func
    while isinstance(target, functools.partial):
        trailer = _format_arguments(args, kwargs, debug) + trailer
        args, kwargs = target.args, target.keywords
        target = target.func
    name = getattr(target, "__qualname__", None) or getattr(target, "__name__", None)
    text = (name if isinstance(name, str) else repr(target)) + _format_arguments(
        args, kwargs, debug
    )
    text += trailer
    where = callback_source(func)
    if where is not None:
        text += f" at {where[0]}:{where[1]}"
    return text


def describe_handle(handle: asyncio.Handle) -> str:
    """Name what *handle* runs: the task whose step it is, else the handle itself."""
    owner = getattr(getattr(handle, "_callback", None), "__self__", None)
    if isinstance(owner, asyncio.Task):
        return repr(owner)
    return str(handle)


def extract_stack(frame: FrameType | None) -> traceback.StackSummary:
    """The creation stack of an object, oldest frame first, at most 10 frames deep."""
    stack = traceback.StackSummary.extract(
        traceback.walk_stack(frame), limit=DEBUG_STACK_DEPTH, lookup_lines=False
    )
    stack.reverse()
    return stack


def caller_stack(depth: int) -> traceback.StackSummary:
    """:func:`extract_stack` starting *depth* frames above the caller."""
    return extract_stack(sys._getframe(depth + 1))
