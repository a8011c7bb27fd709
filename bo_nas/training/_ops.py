"""Cell operations as PyTorch modules, and the op-name → module tables of each space.

Every op keeps its input's shape: ``channels`` in, ``channels`` out, stride 1. Changes
of resolution and width happen in the skeleton (`bo_nas.training._networks`), never in
a cell, so one factory signature serves every space.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import torch
from torch import nn

#: Builds the module of one op for a given channel count (in = out, stride 1).
OpFactory = Callable[[int], nn.Module]


class ReLUConvBN(nn.Sequential):
    """NAS-Bench-201's conv op: ReLU → Conv (no bias) → BatchNorm (affine).

    With ``affine=True`` (the benchmark's setting) the conv has no bias, as in the
    benchmark's code; this is what reproduces its parameter counts.
    """

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False),
            nn.BatchNorm2d(c_out),
        )


class ConvBNReLU(nn.Sequential):
    """NAS-Bench-101's conv op: Conv (no bias) → BatchNorm → ReLU."""

    def __init__(self, c_in: int, c_out: int, kernel: int) -> None:
        super().__init__(
            nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=False),
        )


class Zero(nn.Module):
    """The ``none`` op: a zero tensor of the input's shape (keeps the graph connected)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul(0.0)


def _avg_pool(channels: int) -> nn.Module:
    # NB-201 pools exclude the padding from the mean.
    return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)


def _max_pool(channels: int) -> nn.Module:
    return nn.MaxPool2d(3, stride=1, padding=1)


def _identity(channels: int) -> nn.Module:
    return nn.Identity()


def _zero(channels: int) -> nn.Module:
    return Zero()


def _relu_conv_bn(kernel: int) -> OpFactory:
    return lambda c: ReLUConvBN(c, c, kernel)


def _conv_bn_relu(kernel: int) -> OpFactory:
    return lambda c: ConvBNReLU(c, c, kernel)


NB201_OP_FACTORIES: dict[str, OpFactory] = {
    "none": _zero,
    "skip_connect": _identity,
    "nor_conv_1x1": _relu_conv_bn(1),
    "nor_conv_3x3": _relu_conv_bn(3),
    "avg_pool_3x3": _avg_pool,
}

NB101_OP_FACTORIES: dict[str, OpFactory] = {
    "conv3x3-bn-relu": _conv_bn_relu(3),
    "conv1x1-bn-relu": _conv_bn_relu(1),
    "maxpool3x3": _max_pool,
}

#: Op names understood in a user's `CellSpace` without a factory of their own. Convs
#: are NB-201's ReLU → Conv → BN, since generic cells sum at merges like NB-201 cells.
GENERIC_OP_FACTORIES: dict[str, OpFactory] = {
    **NB201_OP_FACTORIES,
    **NB101_OP_FACTORIES,
    "conv1x1": _relu_conv_bn(1),
    "conv3x3": _relu_conv_bn(3),
    "conv5x5": _relu_conv_bn(5),
    "avgpool": _avg_pool,
    "avgpool3x3": _avg_pool,
    "avg_pool": _avg_pool,
    "maxpool": _max_pool,
    "max_pool": _max_pool,
    "max_pool_3x3": _max_pool,
    "skip": _identity,
    "identity": _identity,
    "zero": _zero,
}


def resolve_op_factories(
    ops: Iterable[str], custom: Mapping[str, OpFactory] | None = None
) -> dict[str, OpFactory]:
    """A factory for each op name: the user's ``custom`` first, then the built-in table.

    Raises:
        ValueError: naming every op that has no factory and the names that have one.
    """
    table = {**GENERIC_OP_FACTORIES, **(custom or {})}
    names = list(dict.fromkeys(ops))
    unknown = [op for op in names if op not in table]
    if unknown:
        raise ValueError(
            f"no module for op(s) {unknown}: built-in ops are {sorted(GENERIC_OP_FACTORIES)}; "
            "pass ops={name: factory} with factory(channels) -> torch.nn.Module for your own"
        )
    return {op: table[op] for op in names}
