"""tools/instructions.py: the summary parsing and the per-operation slope; one real
count under valgrind where valgrind is installed."""

from __future__ import annotations

import importlib.util
import shutil

import pytest

from tools import instructions

SUMMARY = """==123== Cachegrind, a cache and branch-prediction profiler
==123==
==123== I   refs:      916,909,043
"""


def test_the_total_is_read_from_the_summary() -> None:
    assert instructions.total_instructions(SUMMARY) == 916_909_043


def test_a_summary_without_a_total_is_an_error() -> None:
    with pytest.raises(ValueError, match="I refs"):
        instructions.total_instructions("==1== ERROR SUMMARY: 0 errors")


def test_the_slope_cancels_what_both_runs_share() -> None:
    # 5 M instructions of start-up, then 14 000 per operation.
    counts = {n: 5_000_000 + 14_000 * n for n in (1000, 3000)}
    assert instructions.instructions_per_op(counts) == 14_000
    with pytest.raises(ValueError, match="two lengths"):
        instructions.instructions_per_op({1000: 19_000_000})


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed")
@pytest.mark.skipif(
    importlib.util.find_spec("layerloop") is None,
    reason="layerloop is not installed here (the layers session tests the tools alone)",
)
def test_a_real_count_is_positive_and_per_operation(capsys: pytest.CaptureFixture[str]) -> None:
    assert instructions.main(["unix_protocol_1k", "layerloop-epoll", "--ops", "200,400"]) == 0
    printed = capsys.readouterr().out.split()
    per_op = float(printed[2])
    # A 1 KiB echo round trip costs thousands of instructions, far from 0 and far from
    # the millions start-up costs.
    assert 2_000 < per_op < 200_000
