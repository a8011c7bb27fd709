"""Benchmark harness: seeded campaigns per method on tabular benchmarks, summarised."""

from ._harness import DEFAULT_CHECKPOINTS, BenchmarkReport, TrialResult, run_benchmark, run_trial
from ._methods import parse_method

__all__ = [
    "DEFAULT_CHECKPOINTS",
    "BenchmarkReport",
    "TrialResult",
    "parse_method",
    "run_benchmark",
    "run_trial",
]
