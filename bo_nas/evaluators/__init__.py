"""Evaluators: tabular benchmarks that answer instantly, and real training."""

from ._base import EvaluationError, EvaluationResult, Evaluator

__all__ = ["EvaluationError", "EvaluationResult", "Evaluator"]


def builtin_evaluators() -> dict:
    """Factories from stored settings, by evaluator kind."""
    return {}
