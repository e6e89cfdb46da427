"""The guard that keeps the standard tests standard.

A conformance suite is only worth something if a backend cannot quietly make a failing
test disappear.  Every ``test_*`` method defined by a suite of this package is a
*standard test*.  A subclass may still replace one (a platform really lacks a feature,
a test needs a different fixture), but only out loud: the replacement must carry
:func:`override_standard_test` with a reason.  Replacing a standard test by anything
else (a plain method, ``None``, a ``unittest.skip``-decorated method without the
marker) is recorded when the subclass is created, and the standard test
``test_standard_tests_are_not_silently_overridden`` of every suite fails, naming each
silent override.

The guard test itself cannot be overridden at all: a class that tries raises
``TypeError`` at definition time, because a replaced guard could no longer report.
"""

from __future__ import annotations

import unittest
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

__all__ = ["GUARD_TEST_NAME", "StandardSuite", "override_standard_test", "silent_overrides"]

_F = TypeVar("_F", bound=Callable[..., Any])

#: The attribute :func:`override_standard_test` sets on the replacement function.
_MARK = "__layerloop_override_reason__"
#: Name of the guard test every suite inherits.
GUARD_TEST_NAME = "test_standard_tests_are_not_silently_overridden"
#: Only classes defined in this package's own modules define standard tests.
_KIT_PREFIX = "layerloop_testing."

if TYPE_CHECKING:
    # The suites are mixins (as CPython's ``EventLoopTestsMixin``): they are combined
    # with ``unittest.TestCase`` by the user, so that importing a suite into a test
    # module never makes a test runner collect the abstract suite itself.  For the type
    # checker they are TestCases, so ``self.assertEqual`` and friends are typed.
    _MixinBase = unittest.TestCase
else:
    _MixinBase = object


def override_standard_test(*, reason: str) -> Callable[[_F], _F]:
    """Mark a method as a deliberate replacement of a standard test.

    ::

        class MyBackendScheduling(SchedulingSuite, unittest.TestCase):
            @override_standard_test(reason="kqueue cannot watch /dev/null")
            @unittest.skip("kqueue cannot watch /dev/null")
            def test_reader_on_character_device(self) -> None: ...

    *reason* must be a non-empty sentence: it is what a reviewer reads.
    """
    if not reason.strip():
        raise ValueError("override_standard_test() needs a non-empty reason")

    def mark(func: _F) -> _F:
        setattr(func, _MARK, reason)
        return func

    return mark


def _override_reason(value: object) -> str | None:
    reason = getattr(value, _MARK, None)
    return reason if isinstance(reason, str) else None


def silent_overrides(cls: type) -> list[str]:
    """Return ``"Class.test_name"`` for each standard test *cls* replaces unmarked.

    Looks at every class in the MRO that is not part of the kit, so an unmarked
    override in an intermediate base class is reported too.
    """
    found: list[str] = []
    standard = _standard_tests(cls)
    for klass in cls.__mro__:
        if klass.__module__.startswith(_KIT_PREFIX) or klass is object:
            continue
        for name, value in vars(klass).items():
            if name in standard and _override_reason(value) is None:
                found.append(f"{klass.__name__}.{name}")
    return found


def _standard_tests(cls: type) -> set[str]:
    names: set[str] = set()
    for klass in cls.__mro__:
        names.update(getattr(klass, "_layerloop_defines", ()))
    return names


class StandardSuite(_MixinBase):
    """Root of every suite of the kit: registers standard tests, runs the guard."""

    #: The ``test_*`` names a kit class itself defines (set per class at creation).
    _layerloop_defines: ClassVar[frozenset[str]] = frozenset()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__module__.startswith(_KIT_PREFIX):
            cls._layerloop_defines = frozenset(
                name for name in vars(cls) if name.startswith("test")
            )
            return
        if GUARD_TEST_NAME in vars(cls):
            raise TypeError(
                f"{cls.__qualname__} overrides {GUARD_TEST_NAME}, the guard of the "
                "layerloop conformance suites; it cannot be overridden"
            )

    def test_standard_tests_are_not_silently_overridden(self) -> None:
        """Fail when a subclass replaced a standard test without
        :func:`override_standard_test`."""
        silent = silent_overrides(type(self))
        if silent:
            self.fail(
                "standard conformance tests overridden without "
                "@layerloop_testing.override_standard_test(reason=...): "
                + ", ".join(sorted(silent))
            )
