"""CPYTHON-TEST-BINDING CODE: binds CPython's own ``test.test_asyncio`` to layerloop.

This module and the ``test_cpython_*.py`` modules that use it are the one clearly marked
place where layerloop's tests touch CPython internals: they import the test package that
ships with each Python (its helpers reach into asyncio's private modules), and to catch
a silent fallback to asyncio's own loop they wrap ``asyncio.BaseEventLoop.__init__``
(public name, private behaviour) to record every stdlib loop created.  Nothing here is
imported by any layerloop package.

How a CPython test ends up on our loop:

* **Loop mixins** (``EventLoopTestsMixin``, ``BaseSockTestsMixin``, ``SendfileTestsBase``)
  are subclassed once per backend (:data:`BACKENDS`: every installed one, io_uring
  included) with ``create_event_loop`` returning our loop (:func:`bind_mixin`).
* **Modules that ask asyncio for a loop** (``asyncio.new_event_loop()``,
  ``asyncio.run``, ``asyncio.Runner``, ``unittest.IsolatedAsyncioTestCase``) get ours
  through ``layerloop_policy.EventLoopPolicy``, installed around every test by the
  autouse fixture in ``conftest.py``.
* **``test_utils.TestCase.new_test_loop()``** (a ``BaseEventLoop`` with a
  generator-driven virtual clock) is rebound to our loop when called without a time
  generator (those tests schedule no timers, so the fake clock plays no part); tests
  that drive the virtual clock are listed in the exclusions, and calling it with a
  generator from a test that is not excluded fails loudly.
* Tests that patch ``asyncio.base_events.logger`` (the module global through which
  ``BaseEventLoop.default_exception_handler`` logs) and assert on the mock: our loop
  logs to the same ``"asyncio"`` logger, and :class:`BaseEventsLoggerForwarder`
  hands each of its records to whatever object ``asyncio.base_events.logger`` is
  while a test has it patched, so the assertions (positive and negative) are about
  what our loop logged.
* Per-module rebindings replace helpers that build a mocked
  ``BaseEventLoop`` (``test_runners.BaseTest.new_loop``) with equivalents on our
  loop; the assertions of the tests are unchanged.

Every loop created through :func:`new_loop` is recorded with the backend it was asked
for, and every stdlib loop is recorded too: ``conftest.py`` fails a test that created a
stdlib loop or a loop on the wrong backend, and fails a module that never created one of
ours.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import sys
import threading
import unittest
import unittest.mock
from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from test.test_asyncio import utils as test_utils

import layerloop  # the assembled loop, exactly as users get it
import layerloop_core
import layerloop_policy
import layerloop_selector
import layerloop_testing

ASSEMBLY = "layerloop.new_event_loop"

#: Every backend installed here, found as layerloop-testing finds them (the
#: ``layerloop.backends`` entry points: epoll, poll, select, then uring from
#: layerloop-proactor), in that order.
INSTALLED: dict[str, layerloop_testing.BackendInfo] = {
    info.name: info for info in layerloop_testing.discover_backends()
}
#: Backends installed but unable to run here (io_uring missing or denied), with the
#: reason: their classes are bound all the same and skipped with it (``conftest.py``).
UNAVAILABLE: dict[str, str] = {
    name: f"the {name!r} backend cannot run on this machine: {info.unavailable}"
    for name, info in INSTALLED.items()
    if info.unavailable is not None
}
#: ``LAYERLOOP_IT_CPYTHON_SKIP_BACKENDS=uring`` (comma-separated names): CPython's bound
#: tests are not bound to these backends in this run; everything else (layerloop-testing's
#: suites, the real-library scenarios) still runs on them.  The noxfile uses it to give
#: the CPython suites on io_uring to one Python per default run (see noxfile.py).
CPYTHON_SKIPPED_BACKENDS: list[str] = [
    name
    for name in os.environ.get("LAYERLOOP_IT_CPYTHON_SKIP_BACKENDS", "").split(",")
    if name.strip()
]
_unknown = set(CPYTHON_SKIPPED_BACKENDS) - set(INSTALLED)
if _unknown:
    raise RuntimeError(
        f"LAYERLOOP_IT_CPYTHON_SKIP_BACKENDS names {sorted(_unknown)}: installed backends "
        f"are {sorted(INSTALLED)}"
    )
#: The backends every per-backend suite is bound to, in that order.
BACKENDS: list[str] = list(INSTALLED)
#: The backends CPython's loop mixins and per-backend classes are bound to.
CPYTHON_BACKENDS: list[str] = [b for b in BACKENDS if b not in CPYTHON_SKIPPED_BACKENDS]
#: The backend of everything bound once (and of ``asyncio.new_event_loop()`` outside a
#: bound class): the best readiness backend, what ``backend="auto"`` picks.
DEFAULT_BACKEND: str = layerloop_selector.available_backends()[0]
#: The Python whose test.test_asyncio is bound: selects the exclusion file.
PY = f"{sys.version_info[0]}{sys.version_info[1]}"
CPYTHON_PACKAGE = "test.test_asyncio"


def assemble(backend: str) -> asyncio.AbstractEventLoop:
    """Our loop on *backend*, not recorded (for tests outside the CPython binding).

    A selector backend goes by its name, as users name it; any other installed backend
    (io_uring) as the object its entry point makes, which raises where it cannot run
    instead of falling back to a selector backend with a warning."""
    if backend in layerloop_selector.available_backends():
        return layerloop.new_event_loop(backend=backend)
    return layerloop.new_event_loop(backend=INSTALLED[backend].new_backend())


# -- recording --------------------------------------------------------------------------


@dataclass
class Recorder:
    """What the current test created."""

    #: ``(loop, backend asked for)`` for every loop made by :func:`new_loop`.
    ours: list[tuple[asyncio.AbstractEventLoop, str]] = field(default_factory=list)
    #: ``repr(type)`` of every ``asyncio.BaseEventLoop`` created (stdlib loops, TestLoop).
    stdlib: list[str] = field(default_factory=list)
    #: Set while a test runs: the backend its loops must use.
    expected_backend: str = DEFAULT_BACKEND

    def problems(self) -> list[str]:
        found = [f"a stdlib loop was created: {name}" for name in self.stdlib]
        for loop, asked in self.ours:
            if not isinstance(loop, layerloop_core.EventLoop):
                found.append(f"{ASSEMBLY} returned {type(loop)!r}, not a layerloop EventLoop")
                continue
            actual = loop.backend.name
            if actual != asked or actual != self.expected_backend:
                found.append(
                    f"loop on backend {actual!r}, expected {self.expected_backend!r} "
                    f"(asked for {asked!r})"
                )
        return found


RECORDER = Recorder()
#: Per module: how many of our loops its tests created (checked at module teardown).
MODULE_LOOPS: dict[str, int] = {}


def new_loop(backend: str | None = None) -> asyncio.AbstractEventLoop:
    """Our loop on *backend* (default: the backend the current test expects)."""
    asked = backend or RECORDER.expected_backend
    loop = assemble(asked)
    RECORDER.ours.append((loop, asked))
    return loop


_original_base_init = asyncio.BaseEventLoop.__init__


def _recording_base_init(self: asyncio.BaseEventLoop, *args: Any, **kwargs: Any) -> None:
    RECORDER.stdlib.append(f"{type(self).__module__}.{type(self).__qualname__}")
    _original_base_init(self, *args, **kwargs)


def install_stdlib_loop_detector() -> None:
    asyncio.BaseEventLoop.__init__ = _recording_base_init  # type: ignore[method-assign]


def injection_policy(backend: str) -> asyncio.AbstractEventLoopPolicy:
    """The policy conftest.py installs around each CPython test."""
    return layerloop_policy.EventLoopPolicy(loop_factory=lambda: new_loop(backend))


def injection_disabled() -> bool:
    """``LAYERLOOP_IT_NO_INJECTION=1`` turns injection off: used by the test proving that
    a fallback to asyncio's loop is caught."""
    return os.environ.get("LAYERLOOP_IT_NO_INJECTION") == "1"


class BaseEventsLoggerForwarder(logging.Handler):
    """Forward ``"asyncio"`` log records to a *patched* ``asyncio.base_events.logger``."""

    def emit(self, record: logging.LogRecord) -> None:
        module = sys.modules.get("asyncio.base_events")
        target = getattr(module, "logger", None)
        if isinstance(target, unittest.mock.NonCallableMock):
            log = getattr(target, record.levelname.lower())
            log(record.getMessage(), exc_info=record.exc_info)


FORWARDER = BaseEventsLoggerForwarder()


# -- the test_utils.TestCase rebinding --------------------------------------------------


class VirtualClockRequested(AssertionError):
    """A test that is not excluded asked for TestLoop's virtual clock."""


def _new_test_loop(self: test_utils.TestCase, gen: Any = None) -> asyncio.AbstractEventLoop:
    if gen is not None:
        raise VirtualClockRequested(
            f"{self.id()} drives test_utils.TestLoop's virtual clock, which cannot be our "
            "loop: list it in tests-integration/cpython_exclusions/py"
            f"{PY}.py with VIRTUAL_CLOCK as the reason"
        )
    loop = new_loop()
    self.set_event_loop(loop)
    return loop


#: Loop methods a test may replace on the instance (``loop.call_soon = raiser``); such a
#: loop can no longer run the executor shutdown, so it is only closed.
_PATCHABLE = ("call_soon", "call_at", "call_later", "create_task", "create_future")


def _close_loop(loop: asyncio.AbstractEventLoop) -> None:
    # test_utils.TestCase.close_loop reads loop._default_executor: shut the default
    # executor down if there is one, then close.  This is the same sequence through the
    # public API (shutting down an executor that was never created does nothing).
    if loop.is_closed():
        return
    patched = any(name in vars(loop) for name in _PATCHABLE)
    if not loop.is_running() and not patched:
        loop.run_until_complete(loop.shutdown_default_executor())
    loop.close()


#: Attributes every bound subclass of ``test_utils.TestCase`` gets.
TEST_CASE_REBIND: dict[str, Any] = {
    "new_test_loop": _new_test_loop,
    "close_loop": staticmethod(_close_loop),
}


# -- binding ----------------------------------------------------------------------------


def cpython_module(name: str) -> Any:
    return importlib.import_module(f"{CPYTHON_PACKAGE}.{name}")


def _bound_class(
    namespace: MutableMapping[str, Any],
    *,
    name: str,
    bases: tuple[type, ...],
    module: str,
    attrs: dict[str, Any],
    backend: str,
) -> type:
    body: dict[str, Any] = {
        "__module__": namespace["__name__"],
        "__qualname__": name,
        # Read by conftest.py: which CPython module it binds, which backend it expects.
        "layerloop_cpython_module": module,
        "layerloop_backend": backend,
    }
    if any(issubclass(base, test_utils.TestCase) for base in bases):
        body.update(TEST_CASE_REBIND)
    body.update(attrs)
    cls = type(name, bases, body)
    BOUND_CLASSES.append(cls)
    return cls


#: Every class the test_cpython_* modules expose (for the exclusion-rot check).
BOUND_CLASSES: list[type] = []


def bind_mixin(
    namespace: MutableMapping[str, Any],
    module: str,
    mixin: str,
    *,
    prefix: str,
    attrs: dict[str, Any] | None = None,
    shims: dict[str, Callable[[Any], Callable[..., Any]]] | None = None,
) -> None:
    """Subclass ``module.mixin`` + ``test_utils.TestCase`` once per backend of
    :data:`CPYTHON_BACKENDS`.

    *shims* maps a private ``BaseEventLoop`` method a test calls to a factory building its
    public-API equivalent for a given loop; each loop the class creates gets them.
    """
    mod = cpython_module(module)
    base = getattr(mod, mixin)
    for backend in CPYTHON_BACKENDS:

        def create_event_loop(self: Any, _backend: str = backend) -> asyncio.AbstractEventLoop:
            if injection_disabled():
                return asyncio.SelectorEventLoop()
            loop = new_loop(_backend)
            for name, make in (shims or {}).items():
                setattr(loop, name, make(loop))
            return loop

        name = f"{prefix}_{backend}"
        namespace[name] = _bound_class(
            namespace,
            name=name,
            bases=(base, test_utils.TestCase),
            module=module,
            attrs={"create_event_loop": create_event_loop, **(attrs or {})},
            backend=backend,
        )


def bind_classes_per_backend(
    namespace: MutableMapping[str, Any],
    module: str,
    class_names: list[str],
    *,
    loop_method: str | None = None,
    attrs: dict[str, Any] | None = None,
) -> None:
    """Subclass each of ``module``'s concrete test classes once per backend of
    :data:`CPYTHON_BACKENDS`.

    The subclass is ``{name}_{backend}``.  Tests that ask asyncio for a loop
    (``asyncio.new_event_loop()``, ``IsolatedAsyncioTestCase``) get ours on that backend
    through the policy ``conftest.py`` installs; a class that builds its loop in a
    method of its own (``FunctionalTestCaseMixin.new_loop`` returning
    ``asyncio.SelectorEventLoop()``) names that method as *loop_method*, rebound to
    return our loop on the backend.
    """
    mod = cpython_module(module)
    for class_name in class_names:
        base = getattr(mod, class_name)
        for backend in CPYTHON_BACKENDS:
            body: dict[str, Any] = dict(attrs or {})
            if loop_method is not None:

                def make_loop(self: Any, _backend: str = backend) -> asyncio.AbstractEventLoop:
                    if injection_disabled():
                        return asyncio.SelectorEventLoop()
                    return new_loop(_backend)

                body[loop_method] = make_loop
            name = f"{class_name}_{backend}"
            namespace[name] = _bound_class(
                namespace, name=name, bases=(base,), module=module, attrs=body, backend=backend
            )


def expose_module(
    namespace: MutableMapping[str, Any],
    module: str,
    rebind: dict[str, dict[str, Any]] | None = None,
) -> None:
    """Expose every ``unittest.TestCase`` class defined in ``module``, on our loop.

    Each is subclassed under the same name (so node ids read like CPython's) with the
    ``test_utils.TestCase`` rebinding and the per-class attributes of *rebind*, which
    may name a base class (``{"BaseTest": {...}}``) to apply to all its subclasses.
    """
    mod = cpython_module(module)
    rebind = rebind or {}
    for name, obj in sorted(vars(mod).items()):
        if not (
            isinstance(obj, type)
            and issubclass(obj, unittest.TestCase)
            and obj.__module__ == mod.__name__
        ):
            continue
        attrs: dict[str, Any] = {}
        for klass in reversed(obj.__mro__):
            attrs.update(rebind.get(klass.__name__, {}))
        namespace[name] = _bound_class(
            namespace, name=name, bases=(obj,), module=module, attrs=attrs, backend=DEFAULT_BACKEND
        )


def iter_bound_tests() -> Iterator[tuple[type, str]]:
    loader = unittest.TestLoader()
    for cls in BOUND_CLASSES:
        for method in loader.getTestCaseNames(cls):
            yield cls, method


def describe() -> str:
    unavailable = "".join(f"; {reason}" for reason in UNAVAILABLE.values())
    left_out = (
        f"; CPython's tests not bound to {CPYTHON_SKIPPED_BACKENDS} in this run "
        "(LAYERLOOP_IT_CPYTHON_SKIP_BACKENDS)"
        if CPYTHON_SKIPPED_BACKENDS
        else ""
    )
    return (
        f"layerloop via {ASSEMBLY}; backends {BACKENDS} (default {DEFAULT_BACKEND})"
        f"{unavailable}{left_out}; CPython {sys.version.split()[0]} test.test_asyncio; "
        f"{threading.active_count()} threads at start"
    )


__all__ = [
    "ASSEMBLY",
    "BACKENDS",
    "BOUND_CLASSES",
    "CPYTHON_BACKENDS",
    "CPYTHON_SKIPPED_BACKENDS",
    "DEFAULT_BACKEND",
    "INSTALLED",
    "FORWARDER",
    "MODULE_LOOPS",
    "PY",
    "RECORDER",
    "UNAVAILABLE",
    "Recorder",
    "VirtualClockRequested",
    "assemble",
    "bind_classes_per_backend",
    "bind_mixin",
    "cpython_module",
    "describe",
    "expose_module",
    "injection_disabled",
    "injection_policy",
    "install_stdlib_loop_detector",
    "iter_bound_tests",
    "new_loop",
]
