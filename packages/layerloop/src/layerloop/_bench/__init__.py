"""The benchmarks behind ``python -m layerloop bench`` (see :mod:`._runner`)."""

from ._cases import CASES, Case
from ._runner import Measurement, Report, default_loops, format_report, run_benchmarks

__all__ = [
    "CASES",
    "Case",
    "Measurement",
    "Report",
    "default_loops",
    "format_report",
    "run_benchmarks",
]
