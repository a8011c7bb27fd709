"""Skeletons: the macro networks that stack cells into a classifier.

- NAS-Bench-201 (also used for a user's `CellSpace`): stem conv3x3 + BN with ``C``
  channels; three stages of ``N`` cells at ``C``, ``2C``, ``4C`` channels, separated by
  residual reduction blocks (stride 2); BN → ReLU → global average pool → linear.
- NAS-Bench-101: stem conv3x3-BN-ReLU with ``C`` channels (128 in the benchmark); three
  stacks of ``N`` cells (3 in the benchmark), each stack after the first starting with
  a 2×2 max-pool and doubling the channels; global average pool → linear.
- DARTS: `DARTSNetwork`, the DARTS paper's evaluation network: stem conv3x3 + BN with
  ``3C`` channels; three stages of ``N`` normal cells with a reduction cell between
  consecutive stages (``3N + 2`` cells; the paper's 20 cells are ``N = 6``); global
  average pool → linear.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Literal

import networkx as nx
import numpy as np
import torch
from torch import nn

from bo_nas.encodings import Architecture, InvalidArchitectureError
from bo_nas.encodings._darts import DARTSGenotype, darts_genotype_of
from bo_nas.encodings._nb201 import nb201_ops_of
from bo_nas.spaces import CellSpace, NB101Space, NB201Space, SearchSpace

from ._cells import CellPlan, DagCell, NB101Cell, _topological
from ._darts import DARTSNetwork
from ._ops import (
    NB101_OP_FACTORIES,
    NB201_OP_FACTORIES,
    OpFactory,
    ReLUConvBN,
    resolve_op_factories,
)

SkeletonName = Literal["nb201", "nb101", "cell", "darts"]

#: Default (channels, cells per stage) of each skeleton: the benchmarks' own sizes, except
#: DARTS. There C=16, N=2 (8 cells) is the DARTS *search* network's size: the paper's
#: evaluation network (C=36, N=6: 20 cells, 3.3 M parameters, 0.55 GFLOPs on 32×32) costs
#: 12× the FLOPs (DARTS-V2 on 8×8 digits: 34 M against 2.9 M; one CPU core trains an
#: epoch of digits in about 30 s against 4 s), while 8 cells keep the three stages and
#: both reductions (NB-301 trains 8 cells too, at C=32).
DEFAULT_SIZES: dict[str, tuple[int, int]] = {
    "nb201": (16, 5), "nb101": (128, 3), "cell": (16, 5), "darts": (16, 2),
}


class ResidualReduction(nn.Module):
    r"""NAS-Bench-201's reduction block, a ResNet basic block with stride 2.

    :math:`y = \mathrm{RCB}_{3\times3}(\mathrm{RCB}_{3\times3, s=2}(x)) +
    \mathrm{Conv}_{1\times1}(\mathrm{AvgPool}_{2\times2}(x))`, RCB = ReLU-Conv-BN.
    """

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, stride=2)
        self.conv_b = ReLUConvBN(c_out, c_out, 3)
        self.shortcut = nn.Sequential(
            nn.AvgPool2d(2, stride=2), nn.Conv2d(c_in, c_out, 1, bias=False)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_b(self.conv_a(x)) + self.shortcut(x)


class NB201Network(nn.Module):
    """The NAS-Bench-201 macro skeleton around a cell builder.

    Args:
        make_cell: ``make_cell(channels)`` returns one cell module (shape-preserving).
        channels: ``C``, the width of the first stage.
        cells_per_stage: ``N``.
        num_classes: Outputs of the linear classifier.
        in_channels: Image channels (3 for CIFAR, 1 for digits).

    Shapes:
        `batch x in_channels x H x W` → `batch x num_classes`.
    """

    def __init__(
        self,
        make_cell: Callable[[int], nn.Module],
        channels: int,
        cells_per_stage: int,
        num_classes: int,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        c = channels
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)
        )
        layers: list[nn.Module] = []
        for stage in range(3):
            if stage > 0:
                layers.append(ResidualReduction(c, 2 * c))
                c *= 2
            layers.extend(make_cell(c) for _ in range(cells_per_stage))
        self.cells = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(inplace=False))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.head(self.cells(self.stem(x)))
        return self.classifier(torch.flatten(self.pool(x), 1))


class NB101Network(nn.Module):
    """The NAS-Bench-101 macro skeleton around one cell.

    Args:
        matrix: `n x n` adjacency of the pruned cell; ``ops`` its ``n`` labels.
        channels: Stem width ``C``; stack ``s`` (0-based) has ``C · 2**s`` channels.
        cells_per_stack: Cells in each of the 3 stacks.
        num_classes, in_channels: As in `NB201Network`.
        factories: Module factory of each op label.
    """

    def __init__(
        self,
        matrix: np.ndarray,
        ops: tuple[str, ...],
        channels: int,
        cells_per_stack: int,
        num_classes: int,
        in_channels: int = 3,
        factories: Mapping[str, OpFactory] = NB101_OP_FACTORIES,
    ) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=False),
        )
        layers: list[nn.Module] = []
        c_in = c_out = channels
        for stack in range(3):
            if stack > 0:
                layers.append(nn.MaxPool2d(2, stride=2))
                c_out *= 2
            for _ in range(cells_per_stack):
                layers.append(NB101Cell(matrix, ops, c_in, c_out, factories))
                c_in = c_out
        self.cells = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_out, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.cells(self.stem(x))
        return self.classifier(torch.flatten(self.pool(x), 1))


def _darts_space_type() -> type[SearchSpace] | None:
    # Imported when asked for, and optional, so this module works whether or not the
    # spaces package (edited independently) provides DARTSSpace.
    try:
        from bo_nas.spaces import DARTSSpace
    except ImportError:
        return None
    return DARTSSpace


def skeleton_of(space: str | SearchSpace) -> tuple[SkeletonName, SearchSpace | None]:
    """Which skeleton a space uses: ``"nb201"``, ``"nb101"``, ``"cell"`` or ``"darts"``.

    Args:
        space: ``"nb201"``, ``"nb101"``, ``"cell"`` (any DAG, ops by name), ``"darts"``
            or a space.

    Raises:
        ValueError: for another name or type.
    """
    darts_type = _darts_space_type()
    if (darts_type is not None and isinstance(space, darts_type)) or space == "darts":
        return "darts", space if isinstance(space, SearchSpace) else None
    if isinstance(space, NB201Space) or space == "nb201":
        return "nb201", space if isinstance(space, SearchSpace) else None
    if isinstance(space, NB101Space) or space == "nb101":
        return "nb101", space if isinstance(space, SearchSpace) else None
    if isinstance(space, CellSpace) or space == "cell":
        return "cell", space if isinstance(space, SearchSpace) else None
    raise ValueError(
        f"space: expected 'nb201', 'nb101', 'cell', 'darts' or a NB201Space/NB101Space/"
        f"CellSpace/DARTSSpace, got {space!r}"
    )


def _nb101_matrix(arch: Architecture) -> tuple[np.ndarray, tuple[str, ...]]:
    g = arch.pruned
    order = _topological(g)
    index = {v: i for i, v in enumerate(order)}
    m = np.zeros((len(order), len(order)), dtype=int)
    for u, v in g.edges:
        m[index[u], index[v]] = 1
    return m, tuple(g.nodes[v]["op"] for v in order)


def _darts_genotype(arch: Architecture, space: SearchSpace | None) -> DARTSGenotype:
    """The genotype of a DARTS cell graph: the space's reading when it has one."""
    read = getattr(space, "genotype", None)
    if callable(read):
        return read(arch)  # type: ignore[no-any-return]
    return darts_genotype_of(arch)  # raises InvalidArchitectureError for another graph


def build_network(
    arch: Architecture,
    space: str | SearchSpace = "nb201",
    num_classes: int = 10,
    *,
    channels: int | None = None,
    cells_per_stage: int | None = None,
    in_channels: int = 3,
    ops: Mapping[str, OpFactory] | None = None,
    generator: torch.Generator | None = None,
) -> nn.Module:
    """The PyTorch network of an architecture in its space's skeleton.

    Args:
        arch: The cell.
        space: ``"nb201"`` (NB-201 cell graph, NB-201 skeleton), ``"nb101"`` (NB-101
            cell and skeleton), ``"cell"`` or a `CellSpace` (any DAG, summed at merges,
            NB-201 skeleton), ``"darts"`` or a `DARTSSpace` (a DARTS genotype's graph,
            `DARTSNetwork`), or a space object of one of these kinds.
        num_classes: Classifier outputs.
        channels: ``C``; `DEFAULT_SIZES` of the skeleton when omitted (16, or 128 for
            NB-101).
        cells_per_stage: ``N`` cells per stage (stack); 5 for NB-201, 3 for NB-101, 2
            for DARTS. DARTS adds a reduction cell between stages: ``3N + 2`` cells
            (the DARTS paper's 20-cell network is ``N = 6``).
        in_channels: Image channels.
        ops: Extra or replacement op factories, ``{op name: factory(channels)}``; not
            for DARTS, whose ops (`DARTS_OP_FACTORIES`) also take a stride.
        generator: Seeds the initial weights (`init_parameters`); PyTorch's default
            initialisation from the global generator when omitted.

    Raises:
        InvalidArchitectureError: when ``arch`` is not a cell of that space.
        ValueError: for an op without a module, or a bad size.

    Example:
        >>> from bo_nas.encodings import nb201_architecture
        >>> arch = nb201_architecture(
        ...     "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|nor_conv_3x3~0|none~1|skip_connect~2|")
        >>> net = build_network(arch, "nb201", 10, channels=8, cells_per_stage=1)
    """
    skeleton, space_obj = skeleton_of(space)
    c_default, n_default = DEFAULT_SIZES[skeleton]
    c = c_default if channels is None else channels
    n = n_default if cells_per_stage is None else cells_per_stage
    for name, value, low in (("channels", c, 1), ("cells_per_stage", n, 0),
                             ("num_classes", num_classes, 1), ("in_channels", in_channels, 1)):
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise ValueError(f"{name}: expected an integer >= {low}, got {value!r}")
    if space_obj is not None:
        space_obj.validate(arch)
    if skeleton == "nb201":
        nb201_ops_of(arch)  # raises InvalidArchitectureError for another graph
        factories = {**NB201_OP_FACTORIES, **(ops or {})}
        plan = CellPlan(arch.graph)
        net: nn.Module = NB201Network(
            lambda ch: DagCell(plan, ch, factories), c, n, num_classes, in_channels
        )
    elif skeleton == "darts":
        if ops:
            raise ValueError(f"ops: the DARTS ops are fixed (DARTS_OP_FACTORIES); got "
                             f"{sorted(ops)}")
        net = DARTSNetwork(_darts_genotype(arch, space_obj), c, 3 * n + 2, num_classes,
                           in_channels)
    elif skeleton == "nb101":
        if not arch.is_connected:
            raise InvalidArchitectureError(f"{arch!r}: an NB-101 cell needs an input-output path")
        matrix, labels = _nb101_matrix(arch)
        factories = resolve_op_factories(labels[1:-1], {**NB101_OP_FACTORIES, **(ops or {})})
        net = NB101Network(matrix, labels, c, n, num_classes, in_channels, factories)
    else:
        graph: nx.DiGraph = arch.pruned
        labels = [graph.nodes[v]["op"] for v in graph if v not in (arch.input_node,
                                                                    arch.output_node)]
        factories = resolve_op_factories(labels, ops)
        plan = CellPlan(graph)
        net = NB201Network(lambda ch: DagCell(plan, ch, factories), c, n, num_classes,
                           in_channels)
    if generator is not None:
        init_parameters(net, generator)
    return net


def init_parameters(model: nn.Module, generator: torch.Generator) -> nn.Module:
    r"""Re-initialise every parameter from ``generator`` alone (no global RNG use).

    Convs and linears get PyTorch's default scheme,
    :math:`W \sim U(-b, b)`, :math:`b = 1/\sqrt{\text{fan\_in}}` (Kaiming-uniform with
    :math:`a = \sqrt 5`), bias likewise; BatchNorm gets weight 1, bias 0 and fresh
    running statistics. A module of another type with parameters is reset by its own
    ``reset_parameters`` inside `torch.random.fork_rng` seeded from ``generator``, so
    the global generator is left as it was.

    Returns:
        ``model``, initialised in place.
    """
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                fan_in = module.weight[0].numel()
                bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
                _uniform(module.weight, bound, generator)
                if module.bias is not None:
                    _uniform(module.bias, bound, generator)
            elif isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.reset_parameters()
            elif any(True for _ in module.parameters(recurse=False)):
                seed = int(torch.randint(2**62, (1,), generator=generator))
                devices = [p.device for p in module.parameters(recurse=False)
                           if p.device.type == "cuda"]
                with torch.random.fork_rng(devices=devices):
                    torch.manual_seed(seed)
                    module.reset_parameters()  # type: ignore[operator]
    return model


def _uniform(t: torch.Tensor, bound: float, generator: torch.Generator) -> None:
    # Drawn on the generator's device, then copied, so results do not depend on t's device.
    values = torch.rand(t.shape, generator=generator, device=generator.device)
    t.copy_((values * 2 - 1) * bound)
