"""The one function every executor runs: a single evaluation, in a worker process.

It lives apart from the campaign so that a worker unpickling it imports the evaluators'
base module alone, not the strategies and BoTorch: a fresh Dask, Ray or process-pool
worker then starts in the time its evaluator needs (a table: numpy).
"""

from __future__ import annotations

import traceback
from typing import Any

from bo_nas.encodings import Architecture
from bo_nas.evaluators._base import Budget, EvaluationError, EvaluationResult, Evaluator


def _evaluate(
    evaluator: Evaluator, arch: Architecture, budget: Budget | None = None
) -> dict[str, Any]:
    """Run one evaluation (at ``budget`` when given); never raises, so the outcome always
    reaches the campaign."""
    try:
        result = evaluator.evaluate(arch) if budget is None else evaluator.evaluate_at(
            arch, budget
        )
        if not isinstance(result, EvaluationResult):
            raise EvaluationError(
                f"evaluator returned {type(result).__name__}, expected EvaluationResult"
            )
        return {"ok": True, "result": result.to_dict()}
    except Exception as exc:
        return {
            "ok": False,
            "error": f"{type(exc).__name__}: {exc}",
            "traceback": traceback.format_exc(limit=5),
        }
