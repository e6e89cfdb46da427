"""``EventLoopPolicy`` and ``install()``: the policy system, for code that still uses it.

What the policy system does on each supported Python (the behaviour this module keeps by
inheriting it from the stdlib's public ``asyncio.DefaultEventLoopPolicy`` and changing
only where loops come from):

* The policy is process-global; the *current loop* it hands out is per thread.
* ``get_event_loop()`` in the main thread, when no loop was ever set there, creates one
  with ``new_event_loop()`` and makes it current.  3.11 does so silently; 3.12 and 3.13
  emit ``DeprecationWarning("There is no current event loop")`` first, attributed to the
  first caller outside asyncio.  After any ``set_event_loop()`` call in a thread (even
  ``set_event_loop(None)``), and always in other threads, it raises ``RuntimeError``.
* ``set_event_loop()`` takes a loop or ``None`` and raises ``TypeError`` for anything
  else.
* ``asyncio.run()`` and ``asyncio.Runner`` without a ``loop_factory`` get their loop from
  the policy's ``new_event_loop()``: installing a policy is how code that calls plain
  ``asyncio.run(main())`` ends up on another loop.
* 3.14 deprecates the whole system (``asyncio.set_event_loop_policy``,
  ``asyncio.DefaultEventLoopPolicy``, ...) for removal in 3.16; the replacement is
  ``asyncio.run(main, loop_factory=...)`` or ``asyncio.Runner(loop_factory=...)``.
  There, creating an :class:`EventLoopPolicy` warns the way CPython warns for its own
  policy classes.
"""

from __future__ import annotations

import asyncio
import sys
import warnings
from collections.abc import Callable
from types import FrameType
from typing import TypeVar, overload

__all__ = ["EventLoopPolicy", "install"]

#: Python version that removes the policy system (announced by 3.14).
_REMOVAL = "3.16"

if sys.version_info >= (3, 14):  # pragma: no cover - not installed on the test machines
    # Reading the name warns on 3.14; the warning belongs to whoever creates a policy.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        _DefaultPolicy = asyncio.DefaultEventLoopPolicy
else:
    _DefaultPolicy = asyncio.DefaultEventLoopPolicy


def _caller_stacklevel() -> int:
    """The ``stacklevel`` that attributes a warning to the first frame outside layerloop.

    Counted for a ``warnings.warn`` call made directly by the function calling this one,
    so a warning raised through the meta-package's wrappers still names the user's line.
    """
    frame: FrameType | None = sys._getframe(2)
    level = 2
    while frame is not None:
        name = frame.f_globals.get("__name__", "")
        if not (isinstance(name, str) and name.startswith("layerloop")):
            break
        frame = frame.f_back
        level += 1
    return level


def _policy_deprecated(what: str) -> None:
    warnings.warn(
        f"{what!r} is deprecated and slated for removal in Python {_REMOVAL}",
        DeprecationWarning,
        stacklevel=_caller_stacklevel(),
    )


class EventLoopPolicy(_DefaultPolicy):
    """The default asyncio policy, with loops made by *loop_factory*.

    Everything except where loops come from is the stdlib's own
    ``asyncio.DefaultEventLoopPolicy`` of the running Python: the per-thread current loop,
    the main-thread auto-creation of ``get_event_loop()`` and its version-specific
    ``DeprecationWarning``, the ``TypeError`` of ``set_event_loop()``, and (on Unix, up
    to 3.13) the child-watcher methods.  ``new_event_loop()`` calls *loop_factory*, so
    after ``asyncio.set_event_loop_policy(EventLoopPolicy(factory))`` a plain
    ``asyncio.run(main())`` runs on ``factory()``'s loop.

    Prefer ``asyncio.run(main, loop_factory=factory)`` (3.12+) or
    ``asyncio.Runner(loop_factory=factory)`` (3.11+): they need no global state.  On
    Python 3.14, where asyncio deprecates policies, creating one emits a
    ``DeprecationWarning``.
    """

    def __init__(self, loop_factory: Callable[[], asyncio.AbstractEventLoop]) -> None:
        if not callable(loop_factory):
            raise TypeError(f"loop_factory must be callable, not {type(loop_factory).__name__!r}")
        if sys.version_info >= (3, 14):  # pragma: no cover
            _policy_deprecated(f"{type(self).__module__}.{type(self).__qualname__}")
        super().__init__()
        self._layerloop_factory = loop_factory

    @property
    def loop_factory(self) -> Callable[[], asyncio.AbstractEventLoop]:
        """The zero-argument callable :meth:`new_event_loop` calls."""
        return self._layerloop_factory

    def new_event_loop(self) -> asyncio.AbstractEventLoop:
        """Return a new loop from the factory; it does not become the current loop."""
        return self._layerloop_factory()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} loop_factory={self._layerloop_factory!r}>"


_P = TypeVar("_P", bound=EventLoopPolicy)


@overload
def install(loop_factory: Callable[[], asyncio.AbstractEventLoop]) -> EventLoopPolicy: ...
@overload
def install(
    loop_factory: Callable[[], asyncio.AbstractEventLoop], *, policy_class: type[_P]
) -> _P: ...
def install(
    loop_factory: Callable[[], asyncio.AbstractEventLoop],
    *,
    policy_class: type[EventLoopPolicy] = EventLoopPolicy,
) -> EventLoopPolicy:
    """Make ``policy_class(loop_factory)`` asyncio's global policy, and return it.

    *policy_class* is :class:`EventLoopPolicy` or a subclass of it.  From Python 3.12
    on, where ``asyncio.run()`` accepts ``loop_factory`` and the policy system is on its
    way out, this emits a ``DeprecationWarning`` naming the first caller outside
    layerloop, as ``uvloop.install()`` does: prefer ``asyncio.run(main,
    loop_factory=...)`` or ``asyncio.Runner(loop_factory=...)``.
    """
    if sys.version_info >= (3, 12):
        warnings.warn(
            "install() is deprecated in favour of asyncio.run(main, loop_factory=...) "
            "or asyncio.Runner(loop_factory=...) starting with Python 3.12",
            DeprecationWarning,
            stacklevel=_caller_stacklevel(),
        )
    if sys.version_info >= (3, 14):  # pragma: no cover
        # One warning for one call: the policy's own and asyncio's would repeat it.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            policy = policy_class(loop_factory)
            asyncio.set_event_loop_policy(policy)
        return policy
    policy = policy_class(loop_factory)
    asyncio.set_event_loop_policy(policy)
    return policy
