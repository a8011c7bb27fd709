"""Training architectures as PyTorch networks.

The pieces, in the order a run uses them:

- `load_dataset` (digits offline, CIFAR-10/100 from their python batches) →
  `ImageDataset`;
- `build_network` (cell + the space's skeleton) → ``torch.nn.Module``; for DARTS
  genotypes the DARTS paper's network, `DARTSNetwork`;
- `train` with a `TrainConfig` → `TrainResult` (accuracies, time, params, FLOPs,
  per-epoch curve);
- `suggest_cpu_settings` for workers, threads and batch size on a CPU machine.

`bo_nas.evaluators.TrainingEvaluator` wraps these as a campaign evaluator.

Example:
    >>> from bo_nas.spaces import NB201Space
    >>> data = load_dataset("digits")
    >>> net = build_network(NB201Space().sample(0), "nb201", data.num_classes,
    ...                     channels=8, cells_per_stage=1, in_channels=1)
    >>> result = train(net, data, TrainConfig(epochs=1, device="cpu"))  # doctest: +SKIP
"""

from ._cells import CellPlan, DagCell, NB101Cell, nb101_vertex_channels
from ._darts import AUXILIARY_PREFIX, AuxiliaryHead, DARTSCell, DARTSNetwork, drop_path
from ._darts_ops import (
    DARTS_OP_FACTORIES,
    DARTSOpFactory,
    DilConv,
    FactorizedReduce,
    SepConv,
    darts_op,
)
from ._data import (
    DATASETS,
    DatasetError,
    DatasetFormatError,
    DatasetNotFoundError,
    ImageDataset,
    load_cifar_dataset,
    load_dataset,
    load_digits_dataset,
    synthetic_dataset,
)
from ._flops import count_flops, count_parameters
from ._loader import Batches, augment
from ._loop import (
    CheckpointError,
    CpuSettings,
    EpochStats,
    TrainConfig,
    TrainingDivergedError,
    TrainingError,
    TrainingOutOfMemoryError,
    TrainResult,
    available_cores,
    evaluate_accuracy,
    resolve_device,
    suggest_cpu_settings,
    train,
)
from ._networks import (
    DEFAULT_SIZES,
    NB101Network,
    NB201Network,
    ResidualReduction,
    build_network,
    init_parameters,
    skeleton_of,
)
from ._ops import (
    GENERIC_OP_FACTORIES,
    NB101_OP_FACTORIES,
    NB201_OP_FACTORIES,
    OpFactory,
    ReLUConvBN,
    Zero,
    resolve_op_factories,
)

__all__ = [
    "AUXILIARY_PREFIX",
    "DARTS_OP_FACTORIES",
    "DATASETS",
    "DEFAULT_SIZES",
    "GENERIC_OP_FACTORIES",
    "NB101_OP_FACTORIES",
    "NB201_OP_FACTORIES",
    "AuxiliaryHead",
    "Batches",
    "CellPlan",
    "CheckpointError",
    "CpuSettings",
    "DARTSCell",
    "DARTSNetwork",
    "DARTSOpFactory",
    "DagCell",
    "DatasetError",
    "DatasetFormatError",
    "DatasetNotFoundError",
    "DilConv",
    "EpochStats",
    "FactorizedReduce",
    "ImageDataset",
    "NB101Cell",
    "NB101Network",
    "NB201Network",
    "OpFactory",
    "ReLUConvBN",
    "ResidualReduction",
    "SepConv",
    "TrainConfig",
    "TrainResult",
    "TrainingDivergedError",
    "TrainingError",
    "TrainingOutOfMemoryError",
    "Zero",
    "augment",
    "available_cores",
    "build_network",
    "count_flops",
    "count_parameters",
    "darts_op",
    "drop_path",
    "evaluate_accuracy",
    "init_parameters",
    "load_cifar_dataset",
    "load_dataset",
    "load_digits_dataset",
    "nb101_vertex_channels",
    "resolve_device",
    "resolve_op_factories",
    "skeleton_of",
    "suggest_cpu_settings",
    "synthetic_dataset",
    "train",
]
