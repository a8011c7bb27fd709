"""bo-nas: Bayesian optimisation for neural architecture search with tree-Wasserstein kernels."""

from bo_nas.encodings import Architecture, BoNasError, InvalidArchitectureError, OpTree, TWEncoder
from bo_nas.kernels import TreeWassersteinKernel
from bo_nas.spaces import CellSpace, NB101Space, NB201Space, SearchSpace

from ._surrogate import fit_tw_gp, make_tw_gp

__version__ = "0.1.0"

__all__ = [
    "Architecture",
    "BoNasError",
    "CellSpace",
    "InvalidArchitectureError",
    "NB101Space",
    "NB201Space",
    "OpTree",
    "SearchSpace",
    "TWEncoder",
    "TreeWassersteinKernel",
    "__version__",
    "fit_tw_gp",
    "make_tw_gp",
]
