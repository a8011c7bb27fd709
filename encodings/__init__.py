"""From architectures to numbers: the DAG type, cell conversions and TW feature maps."""

from ._architecture import INPUT, OUTPUT, Architecture
from ._categorical import CategoricalEncoder
from ._darts import DARTS_OPS, DARTSGenotype, darts_architecture, darts_genotype_of
from ._darts_features import DARTSEncoder
from ._errors import BoNasError, InvalidArchitectureError
from ._nb101 import NB101_OPS, decode_nb101_key, nb101_architecture
from ._nb201 import (
    NB201_EDGES,
    NB201_OPS,
    format_nb201,
    nb201_architecture,
    nb201_canonical_ops,
    parse_nb201,
)
from ._op_tree import InvalidOpTreeError, OpTree
from ._path_encoding import PathEncoder, count_paths, op_paths
from ._tw_features import TWEncoder, tw_features
from ._wl import WLFeaturizer, wl_label_counts

__all__ = [
    "DARTS_OPS",
    "INPUT",
    "NB101_OPS",
    "NB201_EDGES",
    "NB201_OPS",
    "OUTPUT",
    "Architecture",
    "BoNasError",
    "CategoricalEncoder",
    "DARTSEncoder",
    "DARTSGenotype",
    "InvalidArchitectureError",
    "InvalidOpTreeError",
    "OpTree",
    "PathEncoder",
    "TWEncoder",
    "WLFeaturizer",
    "count_paths",
    "darts_architecture",
    "darts_genotype_of",
    "decode_nb101_key",
    "format_nb201",
    "nb101_architecture",
    "nb201_architecture",
    "nb201_canonical_ops",
    "op_paths",
    "parse_nb201",
    "tw_features",
    "wl_label_counts",
]
