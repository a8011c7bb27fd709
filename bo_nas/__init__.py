"""bo-nas: Bayesian optimisation for neural architecture search with tree-Wasserstein kernels.

The nouns:

- `SearchSpace` (`NB201Space`, `NB101Space`, `CellSpace`) samples and mutates
  `Architecture` objects (labelled, immutable ``networkx`` DAGs with a canonical key);
- `TreeWassersteinKernel` is the GPyTorch kernel on their TW features (`TWEncoder`),
  and `make_tw_gp` the BoTorch ``SingleTaskGP`` built on it;
- `Campaign` runs a `Strategy` (`GPStrategy` by default) against an `Evaluator`
  (`NB201Benchmark` tables, or `TrainingEvaluator` for real training), persisted in a
  SQLite store.
"""

from bo_nas.encodings import Architecture, BoNasError, InvalidArchitectureError, OpTree, TWEncoder
from bo_nas.kernels import TreeWassersteinKernel
from bo_nas.spaces import CellSpace, NB101Space, NB201Space, SearchSpace

from ._surrogate import fit_tw_gp, make_tw_gp
from .campaign import Campaign, dask_executor, local_executor
from .evaluators import (
    EvaluationResult,
    Evaluator,
    NB101Benchmark,
    NB201Benchmark,
    TrainingEvaluator,
)
from .strategies import GPStrategy, KDPPStrategy, Strategy

__version__ = "0.1.0"

__all__ = [
    "Architecture",
    "BoNasError",
    "Campaign",
    "CellSpace",
    "EvaluationResult",
    "Evaluator",
    "GPStrategy",
    "InvalidArchitectureError",
    "KDPPStrategy",
    "NB101Benchmark",
    "NB101Space",
    "NB201Benchmark",
    "NB201Space",
    "OpTree",
    "SearchSpace",
    "Strategy",
    "TWEncoder",
    "TrainingEvaluator",
    "TreeWassersteinKernel",
    "__version__",
    "dask_executor",
    "fit_tw_gp",
    "local_executor",
    "make_tw_gp",
]
