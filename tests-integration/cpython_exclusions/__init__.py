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
SUBPROCESS = "needs subprocesses (later issue)"

# Tests of CPython's private internals or of its fake loop.  Each reason says what the
# test depends on and, where the property it checks applies to any loop, where layerloop
# checks that property instead.

#: test_utils.TestLoop drives time from a generator; our loop runs on the real clock.
VIRTUAL_CLOCK = (
    "drives test_utils.TestLoop's virtual clock (a BaseEventLoop whose time() is fed by a "
    "generator) and asserts exact fake timestamps: a test of the fake loop, not of a loop"
)
SELF_PIPE = (
    "asserts BaseSelectorEventLoop's private self-pipe attributes (_internal_fds, _csock, "
    "_ssock); layerloop's wakeups are the backend's (layerloop_testing.BackendSuite "
    "wakeup tests, run by test_conformance.py)"
)
TIMEOUT_ROUNDING = (
    "counts calls of the private BaseEventLoop._run_once; the property it checks (sub-"
    "millisecond timeouts are not rounded down into a busy loop) is "
    "layerloop_testing.BackendSuite.test_sub_millisecond_timeouts_are_not_rounded_down, "
    "run on every backend by test_conformance.py"
)
RUN_ONCE = (
    "steps the loop by calling the private BaseEventLoop._run_once(); the behaviour it "
    "then checks (a pending task destroyed is reported to the exception handler) is "
    "covered by test_tasks' other 'destroyed pending' tests"
)
BASE_EVENTS_PRIVATE = (
    "patches asyncio.base_events.BaseEventLoop.call_exception_handler on CPython's class, "
    "which layerloop's loop does not derive from (the rules forbid it), so the assertion "
    "could never fail"
)
IS_DEBUG_MODE_PATCH = (
    "patches the private asyncio.coroutines._is_debug_mode, which BaseEventLoop.__init__ "
    "reads for its default debug flag; layerloop derives the same default from "
    "PYTHONASYNCIODEBUG and -X dev itself (the debug=True/False halves of this test are "
    "the same as test_non_debug/test_debug of RunnerTests, which run)"
)
MOCKED_BASE_EVENTS_SOCKET = (
    "patches the socket module as asyncio.base_events sees it and the private "
    "loop._start_serving, so create_server binds mock sockets only inside BaseEventLoop; "
    "layerloop binds real sockets (several hosts, each bound once in order: "
    "packages/transports/tests test_server_on_several_hosts_and_all_interfaces)"
)
TRSOCK = (
    "asserts that Server.sockets are instances of the private asyncio.trsock."
    "TransportSocket, a module layerloop may not import; layerloop's Server.sockets are the "
    "listening socket objects themselves (packages/transports/README.md)"
)
SERVER_ATTACH_312 = (
    "fakes a client with asyncio.Server's private _attach()/_detach(), which in 3.12 take "
    "no argument (a counter); layerloop's Server tracks real client transports, and the "
    "rule checked (wait_closed returns once closed and every client is gone) is "
    "packages/transports/tests test_wait_closed_waits_for_clients"
)
SENDFILE_NATIVE_HOOK = (
    "replaces BaseEventLoop's private _sendfile_native hook on the loop instance with "
    "base_events' own to force the fallback; layerloop's loop.sendfile has no such hook, "
    "so the test would run the native path under the fallback's name (the fallback runs "
    "in this mixin's _ssl_ tests, TLS transports always falling back, and with the peer "
    "closing mid-transfer in packages/transports/tests test_transports_sendfile.py::"
    "test_fallback_with_the_peer_closing_in_the_middle)"
)
SENDFILE_MODE_PRIVATE = (
    "hands loop.sendfile a Mock marked with the private _sendfile_compatible = "
    "constants._SendfileMode.FALLBACK, which only BaseEventLoop.sendfile reads; layerloop "
    "decides by the transport's class, and the rule (fallback=False on a transport that "
    "can only fall back raises 'fallback is disabled ...') is packages/transports/tests "
    "test_transports_sendfile.py::test_tls_transport_takes_the_fallback"
)
STDLIB_LOOP_BY_DESIGN = (
    "runs asyncio.run(loop_factory=asyncio.EventLoop) and asserts the loop is asyncio's "
    "SelectorEventLoop: a test of the stdlib loop by design"
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
