"""Evaluators: tabular benchmarks that answer instantly, and real training."""

from collections.abc import Callable
from typing import Any

from ._base import Budget, EvaluationError, EvaluationResult, Evaluator, InvalidResultError
from ._nb101_table import NB101Benchmark
from ._nb201_datasets import NB201_DATASETS
from ._nb201_table import NB201Benchmark
from ._table import TabularOptimum, TabularResults
from ._tables import BenchmarkDataError, BenchmarkFileNotFoundError, BenchmarkTableError
from ._training import TrainingEvaluator

__all__ = [
    "NB201_DATASETS",
    "BenchmarkDataError",
    "BenchmarkFileNotFoundError",
    "BenchmarkTableError",
    "Budget",
    "EvaluationError",
    "EvaluationResult",
    "Evaluator",
    "InvalidResultError",
    "NB101Benchmark",
    "NB201Benchmark",
    "TabularOptimum",
    "TabularResults",
    "TrainingEvaluator",
    "builtin_evaluators",
]


def builtin_evaluators() -> dict[str, Callable[[dict[str, Any]], Evaluator]]:
    """Factories from stored settings, by evaluator kind."""
    factories: dict[str, Callable[[dict[str, Any]], Evaluator]] = {
        NB201Benchmark.kind: lambda cfg: NB201Benchmark.from_config(cfg),
        NB101Benchmark.kind: lambda cfg: NB101Benchmark.from_config(cfg),
    }
    factories[TrainingEvaluator.kind] = lambda cfg: TrainingEvaluator.from_config(cfg)
    return factories
