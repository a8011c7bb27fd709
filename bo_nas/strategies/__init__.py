"""Search strategies: the TW-GP Bayesian optimiser and the baselines it is measured against."""

from collections.abc import Callable
from typing import Any

from ._base import Strategy
from ._gp import GPConfig, GPStrategy
from ._pool import PoolConfig, candidate_pool


def builtin_strategies() -> dict[str, Callable[[dict[str, Any]], Strategy]]:
    """Factories from stored settings, by strategy name."""

    def gp(cfg: dict[str, Any]) -> Strategy:
        return GPStrategy(**cfg)

    return {"gp-tw": gp, "gp-hamming": gp}


__all__ = [
    "GPConfig",
    "GPStrategy",
    "PoolConfig",
    "Strategy",
    "builtin_strategies",
    "candidate_pool",
]
