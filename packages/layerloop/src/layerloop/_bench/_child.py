"""One benchmark on one loop, in a process of its own.

``python -m layerloop._bench._child LOOP CASE SECONDS REPEAT [OPS]`` sizes the case so
that one run takes about SECONDS (the sizing runs double as warm-up) unless OPS, the size
found by an earlier child, is given (then one run of a tenth of it warms up).  It then
runs the case REPEAT times, each time on a new loop, and prints one JSON object on its
last line of output.  Exit status 3 means the loop is not available here (uvloop not
installed, a backend this platform lacks); the message says why.

The parent runs every (case, loop) pair in fresh interpreters so no loop inherits
another's warm caches, imported modules, installed policy or leaked threads.
"""

from __future__ import annotations

import asyncio
import gc
import json
import sys
from collections.abc import Sequence

from ._cases import CASES, Case

__all__ = ["LoopUnavailable", "main", "make_loop"]

UNAVAILABLE = 3


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
    if len(args) == 5:
        n = int(args[4])
        _measure(case, loop_name, max(case.minimum, n // 10))
    else:
        n = _size(case, loop_name, seconds)
    samples = []
    for _ in range(repeat):
        ops, elapsed = _measure(case, loop_name, n)
        samples.append(ops / elapsed)
    print(json.dumps({"case": case_name, "loop": loop_name, "ops": n, "samples": samples}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
