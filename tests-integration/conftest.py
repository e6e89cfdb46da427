"""Integration tests: the assembled loop, CPython's own tests bound to it, type tests.

For the CPython-bound classes (``test_cpython_*.py``, see ``_harness.py``) this file

* applies the exclusions of the running Python (``cpython_exclusions/py3XX.py``) as
  skips carrying their reason, and skips the classes of a backend that cannot run on
  this machine (io_uring missing or denied) with the probe's reason;
* installs ``layerloop_policy.EventLoopPolicy`` around every test, making
  ``asyncio.new_event_loop()``, ``asyncio.run()``, ``asyncio.Runner()`` and
  ``IsolatedAsyncioTestCase`` create our loop on the backend the class expects;
* fails a test that created a stdlib loop or a loop on another backend, and fails a
  module whose tests ran without ever creating one of our loops.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import traceback
from collections.abc import Generator, Iterator

import pytest

import _harness
import cpython_exclusions

_harness.install_stdlib_loop_detector()
EXCLUSIONS = cpython_exclusions.load(_harness.PY)
_MODULE_RUNS: dict[str, int] = {}


def pytest_report_header(config: pytest.Config) -> str:
    return _harness.describe()


def pytest_collection_finish(session: pytest.Session) -> None:
    # Thousands of collected CPython tests make every gc.collect() walk a big heap, and
    # test_task_del_collect/test_future_del_collect call it hundreds of times (over half
    # the run's time).  What collection built lives until the end anyway: move it out of
    # the collector's sight.  Objects the tests create are collected as before.
    gc.collect()
    gc.freeze()


_last_frozen_group: list[object] = [None]


def pytest_runtest_setup(item: pytest.Item) -> None:
    # pytest keeps every test's report (and what it references) until the end of the run,
    # so the heap the collector walks grows with each test: by the CPython task tests,
    # late in the run, one gc.collect() costs ~80 ms.  Freezing again whenever a new test
    # class (or module) starts keeps that heap down to what the current group created.
    # Garbage is collected first, so nothing collectable is frozen.
    group = getattr(item, "cls", None) or getattr(item, "module", None)
    if group is not _last_frozen_group[0]:
        _last_frozen_group[0] = group
        gc.collect()
        gc.freeze()


#: Per-test bound for the CPython tests (the slowest passing one takes ~8 s on a loaded
#: 2-core machine): a hang or a busy loop becomes a failure.
_CPYTHON_TEST_TIMEOUT = 20


#: Differences of one backend from asyncio that are open bugs of that backend, not choices:
#: ``(backend, "module.Class.test")`` (the class as CPython names it) -> the bug.  Each is a
#: *strict* xfail: the test still runs, and once the bug is fixed it fails as XPASS until
#: its entry goes.  An entry that matches no test of its collected module fails the run
#: (no rot).
KNOWN_BACKEND_BUGS: dict[tuple[str, str], str] = {}


def _known_bug_applies(key: tuple[str, str]) -> bool:
    backend, name = key
    module, cls, test = name.split(".")
    bound = backend in _harness.CPYTHON_BACKENDS and backend not in _harness.UNAVAILABLE
    return bound and hasattr(getattr(_harness.cpython_module(module), cls, None), test)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    run_excluded = os.environ.get("LAYERLOOP_IT_RUN_EXCLUDED") == "1"
    with_timeout = config.pluginmanager.hasplugin("timeout")
    unmatched = {key for key in KNOWN_BACKEND_BUGS if _known_bug_applies(key)}
    bound_modules: set[str] = set()
    for item in items:
        cls = getattr(item, "cls", None)
        module = getattr(cls, "layerloop_cpython_module", None)
        if cls is None or module is None:
            continue
        bound_modules.add(module)
        if with_timeout:
            # SIGALRM (the tests run in the main thread): a hang fails this test only,
            # where the thread method would end the whole run.
            item.add_marker(pytest.mark.timeout(_CPYTHON_TEST_TIMEOUT, method="signal"))
        unavailable = _harness.UNAVAILABLE.get(cls.layerloop_backend)
        if unavailable is not None:
            item.add_marker(pytest.mark.skip(reason=unavailable))
            continue
        if run_excluded:
            continue  # which excluded tests pass now that a later layer landed?
        reason = cpython_exclusions.reason_for(EXCLUSIONS, cls, item.name, module)
        if reason is not None:
            item.add_marker(pytest.mark.skip(reason=reason))
            continue
        backend = cls.layerloop_backend
        key = (backend, f"{module}.{cls.__name__.removesuffix('_' + backend)}.{item.name}")
        bug = KNOWN_BACKEND_BUGS.get(key)
        if bug is not None:
            unmatched.discard(key)
            item.add_marker(pytest.mark.xfail(reason=bug, strict=True))
    # Only where the module was collected in full: a run of other files, or with -k, is
    # not a rot check.
    unmatched = {key for key in unmatched if key[1].split(".")[0] in bound_modules}
    if unmatched and not config.option.keyword and not run_excluded:
        raise pytest.UsageError(
            f"KNOWN_BACKEND_BUGS entries match no collected test: {sorted(unmatched)}"
        )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, None, None]:
    yield
    # pytest's unittest items keep the exception info of a failure for the whole run.
    # Once reported, drop the frames' locals: a failing CPython test can hold a lot (a
    # Mock that recorded millions of calls of a busy loop held gigabytes).
    if call.excinfo is not None and getattr(item, "cls", None) is not None:
        traceback.clear_frames(call.excinfo.tb)


@pytest.fixture(autouse=True, scope="module")
def _layerloop_module_check(request: pytest.FixtureRequest) -> Iterator[None]:
    name = request.module.__name__
    yield
    if not name.startswith("test_cpython_"):
        return
    ran = _MODULE_RUNS.get(name, 0)
    if ran and not _harness.MODULE_LOOPS.get(name):
        pytest.fail(
            f"{ran} tests of {name} ran and not one created a layerloop loop: the "
            "injection is not reaching these tests"
        )


@pytest.fixture(autouse=True)
def _layerloop_injection(request: pytest.FixtureRequest) -> Iterator[None]:
    cls = request.cls
    module = getattr(cls, "layerloop_cpython_module", None)
    if module is None:
        yield
        return
    backend: str = cls.layerloop_backend
    recorder = _harness.RECORDER
    recorder.ours.clear()
    recorder.stdlib.clear()
    recorder.expected_backend = backend
    asyncio_logger = logging.getLogger("asyncio")
    asyncio_logger.addHandler(_harness.FORWARDER)
    if not _harness.injection_disabled():
        asyncio.set_event_loop_policy(_harness.injection_policy(backend))
    try:
        yield
    finally:
        asyncio.set_event_loop_policy(None)
        asyncio_logger.removeHandler(_harness.FORWARDER)
        name = request.module.__name__
        _MODULE_RUNS[name] = _MODULE_RUNS.get(name, 0) + 1
        _harness.MODULE_LOOPS[name] = _harness.MODULE_LOOPS.get(name, 0) + len(recorder.ours)
        problems = recorder.problems()
        recorder.ours.clear()
        recorder.stdlib.clear()
    if problems:
        pytest.fail("the loop under test was not layerloop's: " + "; ".join(problems))
