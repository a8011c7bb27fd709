"""Batch selection: quality k-DPPs (exact sampling and greedy MAP) over candidate pools."""

from ._kdpp import (
    DEFAULT_RTOL,
    KDPP,
    greedy_map_kdpp,
    log_det_subset,
    log_elementary_symmetric,
    quality_kernel,
    sample_kdpp,
)

__all__ = [
    "DEFAULT_RTOL",
    "KDPP",
    "greedy_map_kdpp",
    "log_det_subset",
    "log_elementary_symmetric",
    "quality_kernel",
    "sample_kdpp",
]
