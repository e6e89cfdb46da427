"""User-space instructions per operation of a benchmark case, counted by valgrind.

CPU time on a shared two-CPU VM moves by 20-50% from one run to the next, which hides
differences of a few percent between two backends.  An instruction count moves far
less (two runs of the same commit differed by up to 6%, from how many completions one
``io_uring_enter`` happened to reap; run two versions side by side to compare them):
this runs the server side of one ``python -m layerloop bench`` case under
``valgrind --tool=cachegrind --cache-sim=no`` at two lengths and reports the difference
divided by the difference in operations, so start-up and teardown cancel out.

What it does not see: the kernel (system calls, the copies they make, io_uring's
completion work) and the cost of an instruction (cache misses count one each).  The
server runs about 50 times slower under valgrind, so a case whose client keeps many
requests in flight batches more per loop iteration than it would natively; the
one-connection echo cases keep their shape.

Command line, with the interpreter that has layerloop installed::

    python tools/instructions.py unix_protocol_1k layerloop-epoll,layerloop-uring
    python tools/instructions.py tcp_buffered_1k layerloop-uring --ops 1000,4000
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

__all__ = ["instructions_per_op", "main", "total_instructions"]

# The server side of one case, as the bench runs it in its child process.
_RUN_CASE = """
import sys
from layerloop._bench._cases import CASES
from layerloop._bench._child import make_loop
loop = make_loop(sys.argv[2])
CASES[sys.argv[1]].run(loop, int(sys.argv[3]))
loop.close()
"""

_TOTAL = re.compile(r"I\s+refs:\s+([\d,]+)")


def total_instructions(valgrind_output: str) -> int:
    """The ``I refs`` total of a cachegrind run's summary."""
    found = _TOTAL.search(valgrind_output)
    if found is None:
        raise ValueError("no 'I refs' line in valgrind's output")
    return int(found.group(1).replace(",", ""))


def instructions_per_op(counts: dict[int, int]) -> float:
    """Instructions per operation from totals at two or more operation counts: the slope
    between the shortest and the longest run."""
    if len(counts) < 2:
        raise ValueError("need runs of at least two lengths")
    low, high = min(counts), max(counts)
    return (counts[high] - counts[low]) / (high - low)


def _count(case: str, loop: str, ops: int, python: str) -> int:
    with tempfile.TemporaryDirectory() as scratch:
        command = [
            "valgrind", "--tool=cachegrind", "--cache-sim=no",
            f"--cachegrind-out-file={os.path.join(scratch, 'out')}",
            python, "-c", _RUN_CASE, case, loop, str(ops),
        ]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"{case} on {loop} failed under valgrind: {tail}")
    return total_instructions(done.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("case", help="a benchmark case, e.g. unix_protocol_1k")
    parser.add_argument("loops", help="comma-separated, e.g. layerloop-epoll,layerloop-uring")
    parser.add_argument("--ops", default="1000,3000", help="two operation counts")
    parser.add_argument("--python", default=sys.executable, help="interpreter to run")
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None:
        parser.error("valgrind is not installed (Debian: apt-get install valgrind)")
    lengths = [int(part) for part in args.ops.split(",")]
    for loop in args.loops.split(","):
        counts = {ops: _count(args.case, loop, ops, args.python) for ops in lengths}
        print(f"{args.case:20} {loop:18} {instructions_per_op(counts):9.0f} instructions/op")
    return 0


if __name__ == "__main__":
    sys.exit(main())
