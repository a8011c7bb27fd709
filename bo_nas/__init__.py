"""bo-nas: Bayesian optimisation for neural architecture search with tree-Wasserstein kernels.

The nouns:

- `SearchSpace` (`NB201Space`, `NB101Space`, `DARTSSpace`, `CellSpace`) samples and mutates
  `Architecture` objects (labelled, immutable ``networkx`` DAGs with a canonical key);
- `TreeWassersteinKernel` is the GPyTorch kernel on their TW features (`TWEncoder`),
  and `make_tw_gp` the BoTorch ``SingleTaskGP`` built on it;
- `Campaign` runs a `Strategy` (`GPStrategy` by default: the surrogate, a candidate
  pool and a selection rule from `bo_nas.selection`) against an `Evaluator`
  (`NB201Benchmark` tables, or `TrainingEvaluator` for real training), persisted in a
  SQLite store; `register_strategy` and `register_evaluator` add your own by name, so
  that a campaign using them can be resumed;
- `Objective` and `Constraint` make a campaign multi-objective or hardware-bounded.

Every name is imported when first read (PEP 562): ``import bo_nas`` loads neither
torch nor BoTorch, and ``bo_nas.encodings`` needs only numpy and networkx.
"""

from typing import TYPE_CHECKING

from ._lazy import attach

__version__ = "0.1.0"

# Public name -> the module it is imported from. Keep in step with the imports below.
_WHERE = {
    "Architecture": "bo_nas.encodings",
    "BoNasError": "bo_nas.encodings",
    "InvalidArchitectureError": "bo_nas.encodings",
    "OpTree": "bo_nas.encodings",
    "TWEncoder": "bo_nas.encodings",
    "TreeWassersteinKernel": "bo_nas.kernels",
    "CellSpace": "bo_nas.spaces",
    "DARTSSpace": "bo_nas.spaces",
    "NB101Space": "bo_nas.spaces",
    "NB201Space": "bo_nas.spaces",
    "SearchSpace": "bo_nas.spaces",
    "fit_tw_gp": "bo_nas._surrogate",
    "make_tw_gp": "bo_nas._surrogate",
    "Campaign": "bo_nas.campaign",
    "dask_executor": "bo_nas.campaign",
    "local_executor": "bo_nas.campaign",
    "ray_executor": "bo_nas.campaign",
    "EvaluationResult": "bo_nas.evaluators",
    "Evaluator": "bo_nas.evaluators",
    "NB101Benchmark": "bo_nas.evaluators",
    "NB201Benchmark": "bo_nas.evaluators",
    "TrainingEvaluator": "bo_nas.evaluators",
    "GPStrategy": "bo_nas.strategies",
    "Strategy": "bo_nas.strategies",
    "ZeroCostPrior": "bo_nas.strategies",
    "register_evaluator": "bo_nas._registry",
    "register_strategy": "bo_nas._registry",
    "Constraint": "bo_nas.objectives",
    "Objective": "bo_nas.objectives",
}

# Subpackages readable as attributes (``bo_nas.strategies.RandomSearch``) without an
# import of their own, as they were when this module imported everything.
_SUBPACKAGES = (
    "batch", "bench", "campaign", "cli", "encodings", "evaluators", "kernels",
    "objectives", "optuna", "plotting", "selection", "spaces", "strategies", "training",
    "zero_cost",
)

__getattr__, __dir__ = attach(__name__, _WHERE, _SUBPACKAGES)

if TYPE_CHECKING:
    from bo_nas.encodings import (
        Architecture,
        BoNasError,
        InvalidArchitectureError,
        OpTree,
        TWEncoder,
    )
    from bo_nas.kernels import TreeWassersteinKernel
    from bo_nas.objectives import Constraint, Objective
    from bo_nas.spaces import CellSpace, DARTSSpace, NB101Space, NB201Space, SearchSpace

    from ._registry import register_evaluator, register_strategy
    from ._surrogate import fit_tw_gp, make_tw_gp
    from .campaign import Campaign, dask_executor, local_executor, ray_executor
    from .evaluators import (
        EvaluationResult,
        Evaluator,
        NB101Benchmark,
        NB201Benchmark,
        TrainingEvaluator,
    )
    from .strategies import GPStrategy, Strategy, ZeroCostPrior

__all__ = [
    "Architecture",
    "BoNasError",
    "Campaign",
    "CellSpace",
    "Constraint",
    "DARTSSpace",
    "EvaluationResult",
    "Evaluator",
    "GPStrategy",
    "InvalidArchitectureError",
    "NB101Benchmark",
    "NB101Space",
    "NB201Benchmark",
    "NB201Space",
    "Objective",
    "OpTree",
    "SearchSpace",
    "Strategy",
    "TWEncoder",
    "TrainingEvaluator",
    "TreeWassersteinKernel",
    "ZeroCostPrior",
    "__version__",
    "dask_executor",
    "fit_tw_gp",
    "local_executor",
    "make_tw_gp",
    "ray_executor",
    "register_evaluator",
    "register_strategy",
]
