"""Which of CPython's tests do not run on layerloop, and why: one data file per Python.

``py311.py``, ``py312.py`` and ``py313.py`` each define ``EXCLUSIONS``, a dict from a
test or class name to the reason it does not run:

* ``"test_tasks.BaseTaskTests.test_wait_for"``: one test, named by the class that
  *defines* it in CPython (a mixin's test is excluded in every class using the mixin);
* ``"test_events.HandleTests"``: a whole class (and every class deriving from it).

Each Python ships its own ``test.test_asyncio``, so each file lists exactly the tests of
that version.  ``test_exclusions.py`` fails when an entry names a module, class or test
that does not exist in that version, or that no bound test matches: the lists cannot
rot.  Excluded tests are reported as skipped with the reason.
"""

from __future__ import annotations

import importlib

#: The skip reason for tests that need what later issues add.  Exactly these words.
TRANSPORTS = "needs transports (later issue)"
SUBPROCESS = "needs subprocesses (later issue)"

#: test_utils.TestLoop drives time from a generator; our loop runs on the real clock.
VIRTUAL_CLOCK = (
    "drives test_utils.TestLoop's virtual clock (a BaseEventLoop whose time() is fed by a "
    "generator) and asserts exact fake timestamps: not a property of any real loop"
)


def load(py: str) -> dict[str, str]:
    """The exclusions of Python *py* (``"311"``, ``"312"``, ``"313"``)."""
    module = importlib.import_module(f"cpython_exclusions.py{py}")
    table: dict[str, str] = module.EXCLUSIONS
    return table


def reason_for(table: dict[str, str], cls: type, method: str, module: str) -> str | None:
    """The reason *cls.method* (bound from CPython *module*) is excluded, if it is."""
    qualified = f"test.test_asyncio.{module}"
    for klass in cls.__mro__:
        if klass.__module__ != qualified:
            continue
        reason = table.get(f"{module}.{klass.__name__}.{method}") or table.get(
            f"{module}.{klass.__name__}"
        )
        if reason:
            return reason
    return None
