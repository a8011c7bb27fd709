"""Search strategies: the TW-GP Bayesian optimiser and the baselines it is measured against."""

from collections.abc import Callable
from typing import Any

from ._bananas import BananasStrategy, MLPEnsembleConfig
from ._base import Strategy
from ._bohb import BOHBSettings, BOHBStrategy
from ._evolution import RegularizedEvolution
from ._gp import GPSettings, GPStrategy
from ._local_search import LocalSearch
from ._nasbowl import NasBowlStrategy
from ._nsga2 import NSGA2, NSGA2Settings
from ._pool import PoolConfig, candidate_pool
from ._presets import gp_preset, gp_presets
from ._prior import ZeroCostPrior
from ._random_search import RandomSearch


def builtin_strategies() -> dict[str, Callable[[dict[str, Any]], Strategy]]:
    """Factories from stored settings, by strategy name."""
    gp = {name: (lambda cfg, name=name: gp_preset(name, cfg)) for name in gp_presets()}
    baselines = (RandomSearch, RegularizedEvolution, LocalSearch, BananasStrategy,
                 NasBowlStrategy, NSGA2, BOHBStrategy)
    return {**gp, **{cls.name: cls.from_config for cls in baselines}}


__all__ = [
    "NSGA2",
    "BOHBSettings",
    "BOHBStrategy",
    "BananasStrategy",
    "GPSettings",
    "GPStrategy",
    "LocalSearch",
    "MLPEnsembleConfig",
    "NSGA2Settings",
    "NasBowlStrategy",
    "PoolConfig",
    "RandomSearch",
    "RegularizedEvolution",
    "Strategy",
    "ZeroCostPrior",
    "builtin_strategies",
    "candidate_pool",
    "gp_preset",
]
