"""The ``python -m layerloop`` (or ``layerloop``) command line.

* ``info``: installed layerloop distributions, usable backends, the default and why.
* ``run [--backend NAME] [--debug] SCRIPT [ARGS...]`` or ``run ... -m MODULE [ARGS...]``:
  run a script as ``__main__`` with layerloop as asyncio's loop.  There is no way to hand
  a ``loop_factory`` to an ``asyncio.run()`` call made inside someone else's code, so
  ``run`` installs a :class:`layerloop.EventLoopPolicy` first: every ``asyncio.run()``,
  ``asyncio.Runner()`` and ``asyncio.new_event_loop()`` without an explicit loop factory
  then builds a layerloop loop.  This works on Python 3.11-3.13; on 3.14, where asyncio
  deprecates policies, it still works (the deprecation warning is silenced here, where
  the command line owns the process) until their removal in 3.16.  A script that passes
  its own ``loop_factory`` keeps it.
* ``demo``: a short program on layerloop that prints what it does.
* ``bench``: the benchmarks, side by side with asyncio and uvloop.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import json
import os
import platform
import runpy
import sys
import warnings
from collections.abc import Sequence
from typing import Any

from layerloop_selector import available_backends, new_backend

from ._loop import EventLoopPolicy, loop_factory
from ._version import __version__

__all__ = ["main"]

#: Every distribution of the project, installed or not, in layer order.
KNOWN_DISTRIBUTIONS = (
    "layerloop",
    "layerloop-core",
    "layerloop-selector",
    "layerloop-proactor",
    "layerloop-transports",
    "layerloop-subprocess",
    "layerloop-dns",
    "layerloop-policy",
    "layerloop-testing",
)

#: Backends ``layerloop_selector`` may offer, in its order of preference.
KNOWN_BACKENDS = ("epoll", "kqueue", "poll", "select")

#: What each backend costs: the reason ``"auto"`` prefers one over the next.
BACKEND_FACTS = {
    "epoll": "the interest list lives in the kernel; each wait costs O(ready fds)",
    "kqueue": "the interest list lives in the kernel; each wait costs O(ready events)",
    "poll": "no fd limit, but every watched fd is passed to the kernel on each wait",
    "select": "portable, but each wait scans up to the highest fd, and fds >= FD_SETSIZE "
    "(1024 on Linux) cannot be watched",
    "uring": "io_uring completions (layerloop-proactor), opt-in with backend='uring': "
    "the kernel does the I/O, one io_uring_enter per iteration; never chosen by 'auto'",
}


# -- info -----------------------------------------------------------------------------


def _distributions() -> list[tuple[str, str | None]]:
    names = list(KNOWN_DISTRIBUTIONS)
    for dist in importlib.metadata.distributions():
        name = (dist.metadata["Name"] or "").lower().replace("_", "-")
        if (name == "layerloop" or name.startswith("layerloop-")) and name not in names:
            names.append(name)
    found: list[tuple[str, str | None]] = []
    for name in names:
        try:
            found.append((name, importlib.metadata.version(name)))
        except importlib.metadata.PackageNotFoundError:
            found.append((name, None))
    return found


def _backends() -> list[tuple[str, str | None]]:
    """(name, None if usable else why not), in preference order."""
    states: list[tuple[str, str | None]] = []
    for name in KNOWN_BACKENDS:
        try:
            new_backend(name).close()
        except (ValueError, OSError) as exc:
            states.append((name, str(exc)))
        else:
            states.append((name, None))
    states.append(("uring", _uring_state()))
    return states


def _uring_state() -> str | None:
    """The io_uring probe's verdict: None if usable, else why not."""
    try:
        import layerloop_proactor  # noqa: PLC0415 - optional: the layerloop[uring] extra
    except ImportError:
        return "layerloop-proactor is not installed (pip install 'layerloop[uring]')"
    verdict = layerloop_proactor.probe_uring()
    return None if verdict.usable else verdict.reason


def _info_data() -> dict[str, Any]:
    usable = available_backends()
    default = usable[0] if usable else None
    why = None
    if default is not None:
        why = (
            f"'auto' takes the first usable backend in the order "
            f"{', '.join(KNOWN_BACKENDS)}: {default}: {BACKEND_FACTS.get(default, '')}"
        )
    return {
        "layerloop": __version__,
        "python": {
            "implementation": platform.python_implementation(),
            "version": platform.python_version(),
            "executable": sys.executable,
            "platform": sys.platform,
        },
        "distributions": {name: version for name, version in _distributions()},
        "backends": {
            name: {"usable": reason is None, "reason": reason, "facts": BACKEND_FACTS.get(name)}
            for name, reason in _backends()
        },
        "default_backend": default,
        "default_reason": why,
        "resolver": "layerloop_dns.ThreadedResolver: IP literals with numeric ports are "
        "answered on the loop thread, everything else in the default executor",
    }


def _info(as_json: bool) -> int:
    data = _info_data()
    if as_json:
        print(json.dumps(data, indent=2))
        return 0
    py = data["python"]
    print(
        f"layerloop {data['layerloop']} on {py['implementation']} {py['version']} "
        f"({py['platform']}, {py['executable']})"
    )
    print("\ninstalled distributions:")
    for name, version in data["distributions"].items():
        print(f"  {name:<24}{version or 'not installed'}")
    print("\nbackends (best first):")
    for name, state in data["backends"].items():
        status = "usable" if state["usable"] else f"unavailable: {state['reason']}"
        print(f"  {name:<8}{status}")
        if state["usable"]:
            print(f"          {state['facts']}")
    print(f"\ndefault backend: {data['default_backend']}")
    print(f"  why: {data['default_reason']}")
    print(f"resolver: {data['resolver']}")
    return 0


# -- run --------------------------------------------------------------------------------


def _install_policy(backend: str, debug: bool) -> None:
    policy = EventLoopPolicy(loop_factory(backend, debug=True if debug else None))
    if sys.version_info >= (3, 14):  # pragma: no cover - not installed on the test machines
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            asyncio.set_event_loop_policy(policy)
    else:
        asyncio.set_event_loop_policy(policy)


def _run(backend: str, debug: bool, command: Sequence[str]) -> int:
    if not command:
        print("layerloop run: expected SCRIPT [ARGS...] or -m MODULE [ARGS...]", file=sys.stderr)
        return 2
    if command[0] == "-m":
        if len(command) < 2:
            print("layerloop run: -m needs a module name", file=sys.stderr)
            return 2
        module, args, script = command[1], list(command[2:]), None
    else:
        module, script, args = None, command[0], list(command[1:])
        if not os.path.exists(script):
            print(f"layerloop run: can't open file {script!r}", file=sys.stderr)
            return 2
    try:
        _install_policy(backend, debug)
    except ValueError as exc:
        print(f"layerloop run: {exc}", file=sys.stderr)
        return 2
    # Make the target see the interpreter state it would have if run directly.
    if module is not None:
        sys.argv = [module, *args]
        sys.path[0] = os.getcwd()
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    else:
        assert script is not None
        sys.argv = [script, *args]
        sys.path[0] = os.path.dirname(os.path.abspath(script))
        runpy.run_path(script, run_name="__main__")
    return 0


# -- bench ------------------------------------------------------------------------------


def _bench(options: argparse.Namespace) -> int:
    from ._bench._cases import CASES  # noqa: PLC0415
    from ._bench._runner import default_loops, format_report, run_benchmarks  # noqa: PLC0415

    loops = options.loops.split(",") if options.loops else default_loops()
    cases = options.benchmarks.split(",") if options.benchmarks else list(CASES)
    # A family name stands for its cases: "dns" is dns_threaded and dns_cares.
    cases = [
        expanded
        for case in cases
        for expanded in (
            [case] if case in CASES else [n for n in CASES if n.startswith(case + "_")] or [case]
        )
    ]
    unknown = [case for case in cases if case not in CASES]
    if unknown:
        print(
            f"layerloop bench: unknown benchmark(s) {', '.join(unknown)}; "
            f"choose from {', '.join(CASES)}",
            file=sys.stderr,
        )
        return 2
    seconds = options.seconds or (0.1 if options.quick else 0.4)
    repeat = options.repeat or (3 if options.quick else 5)
    report = run_benchmarks(
        loops,
        cases,
        seconds=seconds,
        repeat=repeat,
        quick=options.quick,
        progress=None if options.no_progress else sys.stderr,
    )
    print(format_report(report))
    if options.json:
        with open(options.json, "w") as f:
            json.dump(report.to_json(), f, indent=2)
        print(f"results written to {options.json}")
    errors = [
        m
        for m in report.results.values()
        if m.problem is not None and m.problem.startswith("error")
    ]
    if options.strict and (errors or report.missed_targets()):
        return 1
    return 1 if errors else 0


# -- the parser -------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m layerloop",
        description="layerloop: an asyncio event loop in Python, assembled from layers.",
    )
    parser.add_argument("--version", action="version", version=f"layerloop {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    info = commands.add_parser("info", help="installed layers, usable backends, the default")
    info.add_argument("--json", action="store_true", help="machine-readable output")

    run = commands.add_parser(
        "run",
        help="run a script (or -m module) with layerloop as asyncio's loop",
        description="Run SCRIPT as __main__ (or -m MODULE) with layerloop installed as the "
        "asyncio event loop policy, so that asyncio.run() inside it uses layerloop.",
    )
    run.add_argument("--backend", default="auto", help="backend name (default: auto)")
    run.add_argument("--debug", action="store_true", help="enable asyncio debug mode")
    run.add_argument(
        "-m",
        dest="module",
        metavar="MODULE",
        help="run library module MODULE as a script (like python -m)",
    )
    run.add_argument(
        "command_args",
        nargs=argparse.REMAINDER,
        metavar="SCRIPT [ARGS...]",
        help="the script and its arguments, or -m MODULE and its arguments",
    )

    demo = commands.add_parser("demo", help="a small program on layerloop, narrated")
    demo.add_argument("--backend", default="auto", help="backend name (default: auto)")

    bench = commands.add_parser(
        "bench",
        help="benchmarks: layerloop on each backend vs asyncio and uvloop",
        description="Run each benchmark for each loop in a fresh subprocess and print "
        "ops/s with ratios to asyncio and uvloop.",
    )
    bench.add_argument(
        "--loops",
        help="comma-separated: layerloop-epoll, layerloop-poll, "
        "layerloop-select, layerloop (auto), asyncio, uvloop "
        "(default: every usable backend, asyncio, uvloop)",
    )
    bench.add_argument(
        "--benchmarks",
        help="comma-separated subset of the benchmarks; a prefix such as 'subprocess' or "
        "'dns' selects every benchmark named PREFIX_*",
    )
    bench.add_argument(
        "--quick", action="store_true", help="short runs (~0.1s, 3 repeats) for a fast side-by-side"
    )
    bench.add_argument("--seconds", type=float, help="target duration of one run")
    bench.add_argument("--repeat", type=int, help="runs per benchmark and loop")
    bench.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    bench.add_argument(
        "--strict", action="store_true", help="exit with status 1 when a layerloop target is missed"
    )
    bench.add_argument("--no-progress", action="store_true", help="no progress on stderr")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m layerloop`` and the ``layerloop`` script."""
    parser = _parser()
    options = parser.parse_args(argv)
    if options.command == "info":
        return _info(options.json)
    if options.command == "run":
        command = options.command_args
        if options.module is not None:
            command = ["-m", options.module, *command]
        return _run(options.backend, options.debug, command)
    if options.command == "demo":
        from ._demo import demo  # noqa: PLC0415

        try:
            return demo(options.backend)
        except ValueError as exc:
            print(f"layerloop demo: {exc}", file=sys.stderr)
            return 2
    if options.command == "bench":
        return _bench(options)
    parser.print_help()
    return 2
