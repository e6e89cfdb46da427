"""``python -m layerloop bench``: every case on every loop, side by side.

Each run of a case on a loop happens in a fresh subprocess (:mod:`._child`) with the
same harness code for every loop.  The runs are interleaved, one round over all the loops
after another, so that a burst of load from elsewhere on the machine hits every loop
alike instead of one loop's whole series.  The first round sizes each pair to the
requested duration and later rounds reuse that size.  The parent keeps the best sample
of each pair (noise on a shared machine only ever slows a run down) and prints a table
with each loop's ratio to asyncio and to uvloop, and the issue's targets for layerloop.
"""

from __future__ import annotations

import json
import math
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from ._cases import CASES

__all__ = ["Measurement", "Report", "default_loops", "format_report", "run_benchmarks"]

#: A generous bound on one child: sizing plus the runs, on a loaded machine.
CHILD_TIMEOUT = 300.0


@dataclass(slots=True)
class Measurement:
    case: str
    loop: str
    samples: list[float] = field(default_factory=list)
    ops: int = 0
    #: Why there are no samples: "unavailable: ..." or "error: ...".
    problem: str | None = None
    #: I/O cases: the server process's CPU seconds per operation, one per run.
    cpu: list[float] = field(default_factory=list)

    @property
    def cpu_best(self) -> float | None:
        return min(self.cpu) if self.cpu else None

    @property
    def best(self) -> float | None:
        return max(self.samples) if self.samples else None

    @property
    def median(self) -> float | None:
        return statistics.median(self.samples) if self.samples else None


@dataclass(slots=True)
class Report:
    loops: list[str]
    cases: list[str]
    seconds: float
    repeat: int
    quick: bool
    results: dict[tuple[str, str], Measurement] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    elapsed: float = 0.0

    def ratio(self, case: str, loop: str, reference: str) -> float | None:
        mine = self.results.get((case, loop))
        ref = self.results.get((case, reference))
        if mine is None or ref is None or mine.best is None or ref.best is None:
            return None
        return mine.best / ref.best

    def targets(self) -> list[tuple[str, float, float | None, str | None]]:
        """Per case: (case, target, worst layerloop ratio to asyncio, the loop that had it)."""
        rows = []
        for case in self.cases:
            worst: tuple[float, str] | None = None
            for loop in self.loops:
                if not loop.startswith("layerloop"):
                    continue
                ratio = self.ratio(case, loop, "asyncio")
                if ratio is not None and (worst is None or ratio < worst[0]):
                    worst = (ratio, loop)
            rows.append(
                (
                    case,
                    CASES[case].target,
                    None if worst is None else worst[0],
                    None if worst is None else worst[1],
                )
            )
        return rows

    def io_geomean(self, loop: str, reference: str) -> tuple[float, int] | None:
        """Geometric mean of *loop*'s ratios to *reference* over the I/O cases both ran,
        and how many cases that is."""
        logs = [
            math.log(ratio)
            for case in self.cases
            if CASES[case].io and (ratio := self.ratio(case, loop, reference)) is not None
        ]
        if not logs:
            return None
        return math.exp(sum(logs) / len(logs)), len(logs)

    def cpu_ratio(self, case: str, loop: str, reference: str) -> float | None:
        """*reference*'s server CPU per operation over *loop*'s (above 1: *loop* spends
        less CPU per operation), from the best runs of an I/O case."""
        mine = self.results.get((case, loop))
        ref = self.results.get((case, reference))
        if mine is None or ref is None or not mine.cpu_best or not ref.cpu_best:
            return None
        return ref.cpu_best / mine.cpu_best

    def io_cpu_geomean(self, loop: str, reference: str) -> tuple[float, int] | None:
        """Geometric mean of :meth:`cpu_ratio` over the I/O cases both ran."""
        logs = [
            math.log(ratio)
            for case in self.cases
            if CASES[case].io and (ratio := self.cpu_ratio(case, loop, reference)) is not None
        ]
        if not logs:
            return None
        return math.exp(sum(logs) / len(logs)), len(logs)

    def missed_targets(self) -> list[str]:
        return [
            case
            for case, target, worst, _ in self.targets()
            if worst is not None and worst < target
        ]

    def to_json(self) -> dict[str, Any]:
        return {
            "python": platform.python_version(),
            "implementation": platform.python_implementation(),
            "platform": sys.platform,
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "quick": self.quick,
            "seconds_per_run": self.seconds,
            "repeat": self.repeat,
            "statistic": "best",
            "elapsed": self.elapsed,
            "skipped": self.skipped,
            "results": [
                {
                    "case": m.case,
                    "loop": m.loop,
                    "ops_per_run": m.ops,
                    "best": m.best,
                    "median": m.median,
                    "samples": m.samples,
                    "server_cpu_per_op": m.cpu_best,
                    "problem": m.problem,
                    "vs_asyncio": self.ratio(m.case, m.loop, "asyncio"),
                    "vs_uvloop": self.ratio(m.case, m.loop, "uvloop"),
                }
                for m in self.results.values()
            ],
            "io_cpu_geomean": {
                loop: {
                    ref: None if (g := self.io_cpu_geomean(loop, ref)) is None else g[0]
                    for ref in ("asyncio", "uvloop")
                }
                for loop in self.loops
            },
            "io_geomean": {
                loop: {
                    ref: None if (g := self.io_geomean(loop, ref)) is None else g[0]
                    for ref in ("asyncio", "uvloop")
                }
                for loop in self.loops
            },
            "targets": [
                {
                    "case": case,
                    "target": target,
                    "worst": worst,
                    "worst_loop": loop,
                    "met": None if worst is None else worst >= target,
                }
                for case, target, worst, loop in self.targets()
            ],
        }


def default_loops() -> list[str]:
    """``layerloop-<backend>`` for every usable backend, then asyncio and uvloop."""
    from layerloop_selector import available_backends  # noqa: PLC0415

    return [f"layerloop-{name}" for name in available_backends()] + ["asyncio", "uvloop"]


#: Set to a random-length value in every benchmark child (see :func:`_run_child`).
LAYOUT_VARIABLE = "LAYERLOOP_BENCH_LAYOUT"


def _run_child(case: str, loop: str, seconds: float, ops: int | None) -> Measurement:
    """One run (one sample) of *case* on *loop* in a new process; *ops* from round one."""
    measurement = Measurement(case, loop)
    command = [sys.executable, "-m", "layerloop._bench._child", loop, case, str(seconds), "1"]
    if ops is not None:
        command.append(str(ops))
    env = dict(os.environ)
    # Same conditions for every loop: no debug mode, no dev mode, no bytecode writes.
    for name in ("PYTHONASYNCIODEBUG", "PYTHONDEVMODE"):
        env.pop(name, None)
    # A fresh layout of the heap for every run.  Where a copy's source and destination
    # sit at nearly the same offset inside their pages, the CPU stalls the copy (4K
    # aliasing): a 100 KiB echo measured 2.5x the CPU that way.  Those offsets follow from
    # what the process allocated before, so without this a loop would keep the same
    # luck in every run; an environment variable of random length shifts them.
    env[LAYOUT_VARIABLE] = "." * random.randrange(0, 4096, 16)
    try:
        proc = subprocess.run(
            command, capture_output=True, text=True, timeout=CHILD_TIMEOUT, env=env, check=False
        )
    except subprocess.TimeoutExpired:
        measurement.problem = f"error: timed out after {CHILD_TIMEOUT:.0f}s"
        return measurement
    lines = proc.stdout.strip().splitlines()
    try:
        payload = json.loads(lines[-1]) if lines else {}
    except json.JSONDecodeError:
        payload = {}
    if "unavailable" in payload:
        measurement.problem = f"unavailable: {payload['unavailable']}"
    elif "case_unavailable" in payload:
        # Only this case on this loop: the loop stays in the other benchmarks.
        measurement.problem = f"case unavailable: {payload['case_unavailable']}"
    elif proc.returncode != 0 or "samples" not in payload:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        measurement.problem = f"error: exit status {proc.returncode}: {tail}"
    else:
        measurement.samples = [float(s) for s in payload["samples"]]
        measurement.cpu = [float(c) for c in payload.get("server_cpu_per_op", [])]
        measurement.ops = int(payload["ops"])
    return measurement


def run_benchmarks(
    loops: Sequence[str],
    cases: Sequence[str],
    *,
    seconds: float,
    repeat: int,
    quick: bool,
    progress: TextIO | None = None,
) -> Report:
    """Run every case on every loop, *repeat* rounds, each run in a fresh process."""
    for case in cases:
        if case not in CASES:
            raise ValueError(f"unknown benchmark {case!r}; choose from {', '.join(CASES)}")
    report = Report(list(loops), list(cases), seconds, repeat, quick)
    started = time.perf_counter()
    for case in cases:
        for round_number in range(1, repeat + 1):
            shown = []
            for loop in loops:
                if loop in report.skipped:
                    report.results.setdefault(
                        (case, loop), Measurement(case, loop, problem=report.skipped[loop])
                    )
                    continue
                so_far = report.results.get((case, loop))
                if so_far is not None and so_far.problem is not None:
                    continue  # it failed in an earlier round: do not insist
                sample = _run_child(
                    case, loop, seconds, None if so_far is None else so_far.ops or None
                )
                if sample.problem is not None:
                    if sample.problem.startswith("unavailable"):
                        # Say it once, and do not start a child per case to learn it again.
                        report.skipped[loop] = sample.problem
                    report.results[case, loop] = sample
                    shown.append(f"{loop} {sample.problem}")
                    continue
                if so_far is None:
                    report.results[case, loop] = so_far = sample
                else:
                    so_far.samples += sample.samples
                    so_far.cpu += sample.cpu
                shown.append(f"{loop} {sample.samples[-1]:,.0f}")
            if progress is not None:
                print(
                    f"{case} round {round_number}/{repeat} (ops/s): {', '.join(shown)}",
                    file=progress,
                    flush=True,
                )
    report.elapsed = time.perf_counter() - started
    return report


def _ratio_text(value: float | None) -> str:
    # Rounded down, as the targets are: 1.4996x is not shown as 1.50x.
    return "-" if value is None else f"{math.floor(value * 100) / 100:.2f}x"


def format_report(report: Report) -> str:
    """The table: one block per benchmark, one row per loop, then the targets."""
    mode = "quick" if report.quick else "full"
    lines = [
        f"layerloop bench ({mode}): {platform.python_implementation()} "
        f"{platform.python_version()} on {sys.platform}/{platform.machine()}, "
        f"{os.cpu_count()} CPUs",
        f"every run in a fresh process, loops interleaved; best of {report.repeat} runs "
        f"of ~{report.seconds:g}s each; ratios are ops/s over asyncio's and uvloop's",
        "I/O: a client process the same for every loop; cpu us/op is the server "
        "process's CPU time (user + system) per operation, best run",
        "",
    ]
    header = (
        f"{'benchmark':<22}{'loop':<18}{'ops/s':>14}{'median':>14}{'MB/s':>9}{'cpu us/op':>10}"
        f"{'vs asyncio':>12}{'vs uvloop':>11}  target"
    )
    lines += [header, "-" * len(header)]
    for case in report.cases:
        target = CASES[case].target
        for index, loop in enumerate(report.loops):
            m = report.results.get((case, loop))
            name = case if index == 0 else ""
            if m is None or m.best is None:
                why = "not run" if m is None else (m.problem or "no samples")
                if len(why) > 90:
                    why = why[:87] + "..."
                lines.append(f"{name:<22}{loop:<18}{why}")
                continue
            vs_asyncio = report.ratio(case, loop, "asyncio")
            verdict = ""
            if loop.startswith("layerloop") and vs_asyncio is not None:
                verdict = f">={target:g}x {'met' if vs_asyncio >= target else 'MISSED'}"
            payload = CASES[case].payload
            rate = f"{m.best * payload / 1e6:,.1f}" if payload else ""
            cpu = "" if m.cpu_best is None else f"{m.cpu_best * 1e6:,.1f}"
            lines.append(
                f"{name:<22}{loop:<18}{m.best:>14,.0f}{m.median or 0:>14,.0f}{rate:>9}{cpu:>10}"
                f"{_ratio_text(vs_asyncio):>12}"
                f"{_ratio_text(report.ratio(case, loop, 'uvloop')):>11}  {verdict}"
            )
        lines.append("")
    lines.append("targets (layerloop vs asyncio, worst backend):")
    for case, target, worst, worst_loop in report.targets():
        goal = f">= {target:g}x"
        if worst is None:
            lines.append(f"  {case:<22}{goal:<9}no layerloop/asyncio pair measured")
            continue
        status = "met" if worst >= target else "MISSED"
        # Rounded down, so that a ratio shown as reaching the target really does.
        shown = f"{math.floor(worst * 100) / 100:.2f}x"
        lines.append(f"  {case:<22}{goal:<9}worst {shown:<8}{status:<8}({worst_loop})")
    if any(CASES[case].io for case in report.cases):
        lines.append("geometric mean of the I/O benchmarks (target: layerloop >= 1x uvloop):")
        for loop in report.loops:
            parts = []
            for reference in ("asyncio", "uvloop"):
                found = report.io_geomean(loop, reference) if loop != reference else None
                if found is not None:
                    parts.append(f"vs {reference} {_ratio_text(found[0])} ({found[1]} cases)")
            if parts:
                lines.append(f"  {loop:<18}{', '.join(parts)}")
        lines.append(
            "the same on server CPU per operation (a reference's CPU over the loop's: "
            "above 1x the loop spends less):"
        )
        for loop in report.loops:
            parts = []
            for reference in ("asyncio", "uvloop"):
                found = report.io_cpu_geomean(loop, reference) if loop != reference else None
                if found is not None:
                    parts.append(f"vs {reference} {_ratio_text(found[0])} ({found[1]} cases)")
            if parts:
                lines.append(f"  {loop:<18}{', '.join(parts)}")
    for loop, why in report.skipped.items():
        lines.append(f"skipped {loop}: {why}")
    lines.append(f"total time {report.elapsed:.1f}s")
    return "\n".join(line.rstrip() for line in lines)
