"""Optuna integration: bo_nas's TW-GP as an Optuna sampler.

An Optuna study over a categorical NAS space gets the tree-Wasserstein GP by changing
its sampler::

    import optuna
    import bo_nas.optuna
    from bo_nas.spaces import NB201Space

    sampler = bo_nas.optuna.TWSampler(NB201Space(), seed=0)
    study = optuna.create_study(direction="maximize", sampler=sampler)

The objective suggests one categorical per decision of the space (NB-201: ``edge_1<-0``
... ``edge_3<-2`` over ``NB201_OPS``), by hand or with ``sampler.suggest(trial)``, which
returns the `Architecture`. This package is the only part of bo_nas that imports Optuna
(``pip install bo-nas[optuna]``).
"""

try:
    import optuna  # noqa: F401
except ImportError as exc:  # the engine runs without Optuna; only this package needs it
    raise ImportError(
        "bo_nas.optuna needs Optuna: pip install 'bo-nas[optuna]'"
    ) from exc

from ._params import SpaceParameters, UnsupportedSpaceError, space_parameters
from ._sampler import PROPOSAL_KEY, TWSampler, suggest_architecture

__all__ = [
    "PROPOSAL_KEY",
    "SpaceParameters",
    "TWSampler",
    "UnsupportedSpaceError",
    "space_parameters",
    "suggest_architecture",
]
