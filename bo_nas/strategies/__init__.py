"""Search strategies: the TW-GP Bayesian optimiser and the baselines it is measured against."""

from ._base import Strategy
from ._pool import PoolConfig, candidate_pool

__all__ = ["PoolConfig", "Strategy", "candidate_pool"]
