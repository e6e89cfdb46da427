"""The exclusion list of the running Python cannot rot, and the binding covers the issue.

* every entry names a CPython module, class and test that exist in this Python's
  ``test.test_asyncio`` (a test by the class that defines it);
* every entry matches at least one bound test (no entry for something we do not run);
* the ``VIRTUAL_CLOCK`` entries are exactly the bound tests that call
  ``new_test_loop()`` with a time generator;
* every reason is a real sentence, later-issue skips use exactly the agreed words, and
  no temporary ("pending:") skip is left: the transports issue has landed;
* every CPython module the issue names is bound, the loop-sensitive ones once per
  selector backend.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import inspect
import textwrap
import unittest
from pathlib import Path

import pytest

import _harness
import cpython_exclusions

HERE = Path(__file__).resolve().parent
for _path in sorted(HERE.glob("test_cpython_*.py")):
    with contextlib.suppress(pytest.skip.Exception):  # a module this Python lacks
        importlib.import_module(_path.stem)

EXCLUSIONS = cpython_exclusions.load(_harness.PY)
LATER_ISSUES = {cpython_exclusions.SUBPROCESS}

#: What issues 2 and 3 require to run on layerloop (beyond these, test_futures2 and
#: test_eager_task_factory are bound as well).
REQUIRED_PER_BACKEND = {
    "test_events",
    "test_sock_lowlevel",
    "test_sendfile",
    "test_server",
    "test_streams",
    "test_buffered_proto",
}
REQUIRED_DEFAULT_BACKEND = {
    "test_tasks",
    "test_futures",
    "test_locks",
    "test_queues",
    "test_taskgroups",
    "test_timeouts",
    "test_waitfor",
    "test_runners",
    "test_context",
}


def _split(key: str) -> tuple[str, str, str | None]:
    parts = key.split(".")
    assert len(parts) in (2, 3), f"{key!r}: expected module.Class or module.Class.test"
    return parts[0], parts[1], parts[2] if len(parts) == 3 else None


@pytest.mark.parametrize("key", sorted(EXCLUSIONS))
def test_entry_names_an_existing_test(key: str) -> None:
    module, cls_name, method = _split(key)
    mod = _harness.cpython_module(module)
    cls = getattr(mod, cls_name, None)
    assert isinstance(cls, type), f"{key}: no class {cls_name} in {mod.__name__}"
    if method is not None:
        assert method in vars(cls), (
            f"{key}: {cls_name} does not define {method} (name the class that defines it)"
        )


@pytest.mark.parametrize("key", sorted(EXCLUSIONS))
def test_entry_matches_a_bound_test(key: str) -> None:
    module, cls_name, method = _split(key)
    qualified = f"{_harness.CPYTHON_PACKAGE}.{module}"
    for bound, test in _harness.iter_bound_tests():
        if method is not None and test != method:
            continue
        if any(k.__name__ == cls_name and k.__module__ == qualified for k in bound.__mro__):
            return
    pytest.fail(f"{key} matches no bound test: remove it or bind what it names")


@pytest.mark.parametrize("key", sorted(EXCLUSIONS))
def test_reason_is_a_sentence(key: str) -> None:
    reason = EXCLUSIONS[key]
    assert reason in LATER_ISSUES or len(reason.split()) >= 8, f"{key}: say why"


def test_later_issue_reasons_are_the_agreed_words() -> None:
    assert cpython_exclusions.SUBPROCESS == "needs subprocesses (later issue)"
    assert not hasattr(cpython_exclusions, "TRANSPORTS"), "the transports issue has landed"
    assert not hasattr(cpython_exclusions, "PENDING"), "the transports issue has landed"
    pending = {key: r for key, r in EXCLUSIONS.items() if r.lower().startswith("pending")}
    assert not pending, f"temporary exclusions left: {sorted(pending)}"


def _function_tree(func: object) -> ast.AST:
    source = inspect.getsource(func)  # type: ignore[arg-type]
    try:
        return ast.parse(textwrap.dedent(source))
    except SyntaxError:
        # A string literal with lines at column 0 (test_streams embeds a script) defeats
        # dedent: parse the method inside an indented block instead.
        return ast.parse("class _Method:\n" + source)


def _calls_new_test_loop_with_a_generator(func: object) -> bool:
    tree = _function_tree(func)
    return any(
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "new_test_loop"
        and bool(node.args or node.keywords)
        for node in ast.walk(tree)
    )


def test_virtual_clock_entries_are_exactly_the_virtual_clock_tests() -> None:
    found: set[str] = set()
    for bound, test in _harness.iter_bound_tests():
        for klass in bound.__mro__:
            if test in vars(klass):
                if klass.__module__.startswith(_harness.CPYTHON_PACKAGE + ".") and (
                    _calls_new_test_loop_with_a_generator(vars(klass)[test])
                ):
                    module = klass.__module__.rsplit(".", 1)[1]
                    found.add(f"{module}.{klass.__name__}.{test}")
                break
    listed = {k for k, v in EXCLUSIONS.items() if v == cpython_exclusions.VIRTUAL_CLOCK}
    assert found, "the scan found no virtual-clock test at all: the scan is broken"
    assert listed == found


def test_required_modules_are_bound() -> None:
    bound: dict[str, set[str]] = {}
    for cls in _harness.BOUND_CLASSES:
        bound.setdefault(cls.layerloop_cpython_module, set()).add(  # type: ignore[attr-defined]
            cls.layerloop_backend  # type: ignore[attr-defined]
        )
    for module in REQUIRED_PER_BACKEND:
        assert bound.get(module) == set(_harness.CPYTHON_BACKENDS), module
    for module in REQUIRED_DEFAULT_BACKEND:
        assert bound.get(module) == {_harness.DEFAULT_BACKEND}, module


def test_bound_classes_run_tests() -> None:
    per_module: dict[str, int] = {}
    for cls, _ in _harness.iter_bound_tests():
        module = cls.layerloop_cpython_module  # type: ignore[attr-defined]
        per_module[module] = per_module.get(module, 0) + 1
    for module in REQUIRED_PER_BACKEND | REQUIRED_DEFAULT_BACKEND:
        assert per_module.get(module, 0) > 0, module
    assert all(issubclass(c, unittest.TestCase) for c in _harness.BOUND_CLASSES)
