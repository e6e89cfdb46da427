"""The guard: a standard test cannot be replaced without saying so."""

from __future__ import annotations

import asyncio
import unittest

import layerloop_testing
from layerloop_testing import (
    GUARD_TEST_NAME,
    override_standard_test,
    silent_overrides,
)


class SchedulingSuite(layerloop_testing.SchedulingSuite):
    """The standard suite on the stdlib loop (the guard test runs a real setUp)."""

    def new_loop(self) -> asyncio.AbstractEventLoop:
        return layerloop_testing.new_stdlib_loop()


def _guard_result(cls: type[unittest.TestCase]) -> unittest.TestResult:
    result = unittest.TestResult()
    cls(GUARD_TEST_NAME).run(result)
    return result


class GuardTests(unittest.TestCase):
    def test_unmarked_override_fails_the_guard_test(self) -> None:
        class Sloppy(SchedulingSuite, unittest.TestCase):
            def test_call_soon_runs_callbacks_in_fifo_order(self) -> None:
                pass  # silently "passes" a standard test

        self.assertEqual(
            silent_overrides(Sloppy), ["Sloppy.test_call_soon_runs_callbacks_in_fifo_order"]
        )
        result = _guard_result(Sloppy)
        self.assertEqual(result.errors, [])
        self.assertEqual(len(result.failures), 1)
        self.assertIn("test_call_soon_runs_callbacks_in_fifo_order", result.failures[0][1])
        self.assertIn("override_standard_test", result.failures[0][1])

    def test_marked_override_passes_the_guard_test(self) -> None:
        class Careful(SchedulingSuite, unittest.TestCase):
            @override_standard_test(reason="this platform has no threads")
            @unittest.skip("this platform has no threads")
            def test_call_soon_threadsafe_from_many_threads_loses_nothing(self) -> None:
                pass

        self.assertEqual(silent_overrides(Careful), [])
        result = _guard_result(Careful)
        self.assertTrue(result.wasSuccessful(), result.failures + result.errors)
        self.assertEqual(result.testsRun, 1)

    def test_disabling_a_test_with_none_or_skip_is_caught(self) -> None:
        class Dropped(SchedulingSuite, unittest.TestCase):
            test_close_is_idempotent = None

            @unittest.skip("hidden failure")
            def test_close_while_running_raises(self) -> None:
                pass

        self.assertEqual(
            sorted(silent_overrides(Dropped)),
            ["Dropped.test_close_is_idempotent", "Dropped.test_close_while_running_raises"],
        )
        self.assertEqual(len(_guard_result(Dropped).failures), 1)

    def test_override_in_an_intermediate_class_is_caught(self) -> None:
        class Middle(SchedulingSuite):
            def test_close_is_idempotent(self) -> None:
                pass

        class Concrete(Middle, unittest.TestCase):
            pass

        self.assertEqual(silent_overrides(Concrete), ["Middle.test_close_is_idempotent"])
        self.assertEqual(len(_guard_result(Concrete).failures), 1)

    def test_new_tests_and_hooks_are_not_overrides(self) -> None:
        class Extended(SchedulingSuite, unittest.TestCase):
            def new_loop(self):  # type: ignore[no-untyped-def]
                raise NotImplementedError

            def setUp(self) -> None:
                super().setUp()

            def test_something_of_my_own(self) -> None:
                pass

        self.assertEqual(silent_overrides(Extended), [])

    def test_the_guard_itself_cannot_be_overridden(self) -> None:
        with self.assertRaisesRegex(TypeError, GUARD_TEST_NAME):

            class Cheat(SchedulingSuite, unittest.TestCase):
                def test_standard_tests_are_not_silently_overridden(self) -> None:
                    pass

    def test_an_override_needs_a_reason(self) -> None:
        for reason in ("", "   "):
            with self.subTest(reason=reason), self.assertRaises(ValueError):
                override_standard_test(reason=reason)

    def test_every_suite_test_is_standard(self) -> None:
        for suite in (
            *layerloop_testing.LOOP_SUITES,
            layerloop_testing.BackendSuite,
            layerloop_testing.ResolverSuite,
        ):
            names = {n for n in dir(suite) if n.startswith("test")} - {GUARD_TEST_NAME}
            with self.subTest(suite=suite.__name__):
                self.assertTrue(names)

                class Overrider(suite):  # type: ignore[valid-type,misc]
                    pass

                for name in names:
                    setattr(Overrider, name, lambda self: None)
                # setattr after creation is visible to the MRO scan as well.
                self.assertEqual(
                    sorted(silent_overrides(Overrider)),
                    sorted(f"Overrider.{n}" for n in names),
                )
