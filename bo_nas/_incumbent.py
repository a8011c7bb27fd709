r"""The incumbent curve: after each query, a value of the best-validation result so far.

This is the one place that computes it; the campaign's `incumbent_curve`, the
evaluators' `incumbent_test_accuracy`, the benchmark harness and the simulated
schedules all read their curves from `incumbent_values`. Only numpy is imported, so
reports and plots can use it without the modelling stack.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Literal

import numpy as np

if TYPE_CHECKING:
    from bo_nas.evaluators import EvaluationResult

IncumbentKey = Literal["val_accuracy", "test_accuracy"]

_KEYS: tuple[str, ...] = ("val_accuracy", "test_accuracy")


def incumbent_values(
    results: Iterable[EvaluationResult | None], key: IncumbentKey = "test_accuracy"
) -> np.ndarray:
    r"""``key`` of the best-validation result among the first t queries, for every t.

    With :math:`v_i` the validation accuracy of result :math:`i` and :math:`S_t` the
    successful queries among :math:`0..t`, the incumbent after query :math:`t` is

    .. math::

        i^\star(t) = \min \operatorname*{arg\,max}_{i \in S_t} v_i,
        \qquad c_t = \mathrm{key}(r_{i^\star(t)}),

    the earliest of equally good results, so a later tie never replaces it. Test
    accuracy never chooses the incumbent; it is only what is reported.

    Args:
        results: Evaluation results in query order; ``None`` marks a failed
            evaluation, which counts as a query but never becomes the incumbent (nor
            does a result whose validation accuracy is NaN).
        key: ``"test_accuracy"`` (what NAS papers report) or ``"val_accuracy"`` (the
            best validation accuracy so far).

    Returns:
        Array of shape `n` (one entry per query): :math:`c_t`, NaN before the first
        success or when the incumbent has no such value.

    Raises:
        ValueError: for an unknown ``key``.

    Example:
        >>> from bo_nas.evaluators import EvaluationResult
        >>> r = [None, EvaluationResult(80.0, 81.0), EvaluationResult(80.0, 90.0),
        ...      EvaluationResult(85.0, 84.0)]
        >>> incumbent_values(r).tolist()
        [nan, 81.0, 81.0, 84.0]
        >>> incumbent_values(r, "val_accuracy").tolist()
        [nan, 80.0, 80.0, 85.0]
    """
    if key not in _KEYS:
        raise ValueError(f"key: expected 'val_accuracy' or 'test_accuracy', got {key!r}")
    out: list[float] = []
    best_val = -np.inf
    current = np.nan
    for r in results:
        # Strictly greater: ties keep the earlier incumbent, and NaN never wins.
        if r is not None and r.val_accuracy > best_val:
            best_val = r.val_accuracy
            value = getattr(r, key)
            current = np.nan if value is None else float(value)
        out.append(current)
    return np.asarray(out, dtype=float)
