"""Evaluators: tabular benchmarks that answer instantly, and real training.

Names are imported when first read (PEP 562): observers of a store (``bo-nas status``,
the dashboard) and the tables need neither torch nor the trainer.
"""

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bo_nas._lazy import attach

# Public name -> the module it is imported from. Keep in step with the imports below.
_WHERE = {
    "Budget": "._base",
    "EvaluationError": "._base",
    "EvaluationResult": "._base",
    "Evaluator": "._base",
    "InvalidResultError": "._base",
    "NB101Benchmark": "._nb101_table",
    "NB201_DATASETS": "._nb201_datasets",
    "NB201Benchmark": "._nb201_table",
    "TabularOptimum": "._table",
    "TabularResults": "._table",
    "BenchmarkDataError": "._tables",
    "BenchmarkFileNotFoundError": "._tables",
    "BenchmarkTableError": "._tables",
    "TrainingEvaluator": "._training",
}

__getattr__, __dir__ = attach(__name__, _WHERE)

if TYPE_CHECKING:
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


def builtin_evaluators() -> dict[str, Callable[[dict[str, Any]], "Evaluator"]]:
    """Factories from stored settings, by evaluator kind. The trainer (torch) is
    imported only when a stored training campaign is rebuilt."""
    from ._nb101_table import NB101Benchmark
    from ._nb201_table import NB201Benchmark

    def training(cfg: dict[str, Any]) -> "Evaluator":
        from ._training import TrainingEvaluator

        return TrainingEvaluator.from_config(cfg)

    return {
        NB201Benchmark.kind: lambda cfg: NB201Benchmark.from_config(cfg),
        NB101Benchmark.kind: lambda cfg: NB101Benchmark.from_config(cfg),
        "training": training,
    }
