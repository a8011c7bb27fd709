"""Table cells shared by the benchmark scripts."""

from __future__ import annotations

import numpy as np


def error_cell(errors: np.ndarray, optimum: float) -> str:
    """``mean ± sd (k/n)``: test errors over trials (sample sd) and how many sit at the
    optimum."""
    errors = np.asarray(errors, dtype=float)
    at = int(np.sum(np.abs(errors - optimum) < 1e-9))
    sd = errors.std(ddof=1) if len(errors) > 1 else 0.0
    return f"{errors.mean():.2f} ± {sd:.2f} ({at}/{len(errors)})"
