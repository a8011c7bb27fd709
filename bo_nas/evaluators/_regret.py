"""What a benchmark harness reports: the test score of the best-validation architecture.

The protocol of BANANAS, NAS-BOWL and NASLib: after each query, take the architecture
with the best *validation* accuracy seen so far (the incumbent) and report its *test*
accuracy (or error, or regret against the benchmark's optimum). Test numbers never
choose the incumbent.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from bo_nas._incumbent import incumbent_values

from ._base import EvaluationResult


def incumbent_test_accuracy(results: Iterable[EvaluationResult | None]) -> np.ndarray:
    r"""Test accuracy of the best-validation result among the first t, for every t.

    ``incumbent_values(results, "test_accuracy")``; see `bo_nas._incumbent`.

    Args:
        results: Evaluation results in query order; ``None`` marks a failed evaluation,
            which counts as a query but never becomes the incumbent.

    Returns:
        Array of shape `n`: entry t is the ``test_accuracy`` of the result with the
        highest ``val_accuracy`` among results ``0..t`` (ties keep the earlier one),
        NaN before the first success or when the incumbent has no test accuracy.

    Example:
        >>> r = [EvaluationResult(80.0, 81.0), None, EvaluationResult(85.0, 84.0)]
        >>> incumbent_test_accuracy(r).tolist()
        [81.0, 81.0, 84.0]
    """
    return incumbent_values(results, "test_accuracy")


def incumbent_test_error(results: Iterable[EvaluationResult | None]) -> np.ndarray:
    """``100 - incumbent_test_accuracy(results)``: the test error (%) the field reports.

    Returns:
        Array of shape `n`, NaN where `incumbent_test_accuracy` is NaN.
    """
    return 100.0 - incumbent_test_accuracy(results)
