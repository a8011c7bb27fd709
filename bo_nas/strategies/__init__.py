"""Search strategies: the TW-GP Bayesian optimiser and the baselines it is measured against."""

from collections.abc import Callable
from typing import Any

from ._bananas import BananasStrategy, MLPEnsembleConfig
from ._base import Strategy
from ._batch import (
    BATCH_STRATEGIES,
    BatchGPStrategy,
    BUCBStrategy,
    KDPPStrategy,
    KrigingBelieverStrategy,
    QLogNEIStrategy,
    ThompsonBatchStrategy,
    TopKStrategy,
)
from ._evolution import RegularizedEvolution
from ._gp import GPConfig, GPStrategy
from ._local_search import LocalSearch
from ._nasbowl import NasBowlStrategy
from ._pool import PoolConfig, candidate_pool
from ._random_search import RandomSearch


def builtin_strategies() -> dict[str, Callable[[dict[str, Any]], Strategy]]:
    """Factories from stored settings, by strategy name."""

    def gp(cfg: dict[str, Any]) -> Strategy:
        return GPStrategy(**cfg)

    batch = {name: (lambda cfg, cls=cls: cls(**cfg)) for name, cls in BATCH_STRATEGIES.items()}
    return {
        **batch,
        "gp-tw": gp,
        "gp-hamming": lambda cfg: GPStrategy(**{"features": "categorical", **cfg}),
        "random": lambda cfg: RandomSearch(**cfg),
        "evolution": lambda cfg: RegularizedEvolution(**cfg),
        "local-search": lambda cfg: LocalSearch(**cfg),
        "bananas": lambda cfg: BananasStrategy(**cfg),
        "nasbowl": lambda cfg: NasBowlStrategy(**cfg),
    }


__all__ = [
    "BUCBStrategy",
    "BananasStrategy",
    "BatchGPStrategy",
    "GPConfig",
    "GPStrategy",
    "KDPPStrategy",
    "KrigingBelieverStrategy",
    "LocalSearch",
    "MLPEnsembleConfig",
    "NasBowlStrategy",
    "PoolConfig",
    "QLogNEIStrategy",
    "RandomSearch",
    "RegularizedEvolution",
    "Strategy",
    "ThompsonBatchStrategy",
    "TopKStrategy",
    "builtin_strategies",
    "candidate_pool",
]
