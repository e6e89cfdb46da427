"""One benchmark on one loop, in a process of its own.

``python -m layerloop._bench._child LOOP CASE SECONDS REPEAT [OPS]`` sizes the case so
that one run takes about SECONDS (the sizing runs double as warm-up) unless OPS, the size
found by an earlier child, is given (then one run of a tenth of it warms up).  It then
runs the case REPEAT times, each time on a new loop, and prints one JSON object on its
last line of output (for an I/O case also the server's CPU seconds per operation).
Exit status 3 means the loop is not available here (uvloop not installed, a backend
this platform lacks), 4 that this case cannot run on this loop or machine (a feature
the loop lacks, a tool not installed); the message says why.  A timed
case (``wrk`` runs for a duration) is not sized: it runs for SECONDS x 5, at least 1s.
An I/O case aims at :data:`IO_STRETCH` times SECONDS per run.

The parent runs every (case, loop) pair in fresh interpreters so no loop inherits
another's warm caches, imported modules, installed policy or leaked threads.
"""

from __future__ import annotations

import asyncio
import gc
import json
import sys
from collections.abc import Sequence

from . import _io_cases
from ._cases import CASES, Case
from ._io_cases import CaseUnavailable

__all__ = ["LoopUnavailable", "main", "make_loop"]

UNAVAILABLE = 3
CASE_UNAVAILABLE = 4
#: An I/O case runs this many times SECONDS.
IO_STRETCH = 2.5


class LoopUnavailable(Exception):
    """This loop cannot be built in this environment."""


def make_loop(name: str) -> asyncio.AbstractEventLoop:
    """``asyncio``, ``uvloop``, ``layerloop`` (the default backend) or ``layerloop-NAME``."""
    if name == "asyncio":
        return asyncio.new_event_loop()
    if name == "uvloop":
        try:
            import uvloop  # noqa: PLC0415  (optional, and only in the uvloop child)
        except ImportError as exc:
            raise LoopUnavailable(
                f"uvloop is not installed ({exc}); pip install 'layerloop[bench]'"
            ) from None
        return uvloop.new_event_loop()
    family, _, backend = name.partition("-")
    if family == "layerloop":
        import layerloop  # noqa: PLC0415  (the asyncio and uvloop children do not need it)

        try:
            return layerloop.new_event_loop(backend or "auto")
        except ValueError as exc:
            raise LoopUnavailable(str(exc)) from None
    raise LoopUnavailable(f"unknown loop {name!r}")


def _measure(case: Case, loop_name: str, n: int) -> tuple[int, float]:
    loop = make_loop(loop_name)
    try:
        gc.collect()
        return case.run(loop, n)
    finally:
        loop.close()


def _size(case: Case, loop_name: str, seconds: float) -> int:
    """Operations for one run of about *seconds*."""
    n = case.minimum
    while True:
        ops, elapsed = _measure(case, loop_name, n)
        if elapsed >= min(0.02, seconds / 4) or n >= 10**9:
            break
        n *= 8
    return max(case.minimum, int(ops * seconds / max(elapsed, 1e-9)))


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) not in (4, 5):
        print(
            "usage: python -m layerloop._bench._child LOOP CASE SECONDS REPEAT [OPS]",
            file=sys.stderr,
        )
        return 2
    loop_name, case_name, seconds_text, repeat_text = args[:4]
    case = CASES[case_name]
    seconds, repeat = float(seconds_text), int(repeat_text)
    try:
        make_loop(loop_name).close()
    except LoopUnavailable as exc:
        print(json.dumps({"unavailable": str(exc)}))
        return UNAVAILABLE
    if case.io:
        # I/O runs involve two processes and the kernel: longer runs, less noise.
        seconds *= IO_STRETCH
    samples = []
    cpu_per_op: list[float] = []
    try:
        if case.timed:
            n = max(1000, round(seconds * 2000))
        elif len(args) == 5:
            n = int(args[4])
            _measure(case, loop_name, max(case.minimum, n // 10))
        else:
            n = _size(case, loop_name, seconds)
        for _ in range(repeat):
            ops, elapsed = _measure(case, loop_name, n)
            samples.append(ops / elapsed)
            if _io_cases.last_server_cpu_per_op is not None:
                cpu_per_op.append(_io_cases.last_server_cpu_per_op)
    except CaseUnavailable as exc:
        print(json.dumps({"case_unavailable": str(exc)}))
        return CASE_UNAVAILABLE
    payload = {"case": case_name, "loop": loop_name, "ops": n, "samples": samples}
    if cpu_per_op:
        payload["server_cpu_per_op"] = cpu_per_op
    print(json.dumps(payload))
    return 0


if __name__ == "__main__":
    sys.exit(main())
