r"""The DARTS ops as PyTorch modules, in the order of the DARTS paper's evaluation network.

Unlike the ops of `bo_nas.training._ops`, a DARTS op may change resolution: in a
reduction cell the edges that read the cell's two inputs run at stride 2. A factory
therefore takes ``(channels, stride)``; the width is the same in and out.

Every conv is ReLU → Conv (no bias) → BatchNorm (affine), as in DARTS. Parameter counts,
for ``C`` channels (BatchNorm: :math:`2C`, its scale and shift):

- ``sep_conv_k×k``: two stacked (ReLU, depthwise :math:`k \times k`, pointwise
  :math:`1 \times 1`, BN), stride on the first only: :math:`2 (k^2 C + C^2 + 2C)`;
- ``dil_conv_k×k``: ReLU, depthwise :math:`k \times k` with dilation 2, pointwise, BN:
  :math:`k^2 C + C^2 + 2C`;
- ``max_pool_3x3``, ``avg_pool_3x3`` (padding excluded from the mean): 0;
- ``skip_connect``: the identity (0) at stride 1, `FactorizedReduce` at stride 2:
  :math:`C^2 + 2C`.

Reference:
    H. Liu, K. Simonyan, Y. Yang. DARTS: Differentiable Architecture Search. ICLR 2019.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F

#: Builds the module of one DARTS op: ``factory(channels, stride)`` (in = out channels).
DARTSOpFactory = Callable[[int, int], nn.Module]


class SepConv(nn.Sequential):
    r"""DARTS' separable conv: (ReLU, depthwise, pointwise, BN) twice.

    Stride only on the first depthwise conv, so one op reduces by ``stride`` at most;
    padding :math:`k // 2` keeps the size at stride 1 (and gives :math:`\lceil H/2
    \rceil` at stride 2). Parameters: :math:`2 (k^2 C_i + C_i^2 + 2 C_i)` for
    :math:`C_i = C_o`; in general :math:`k^2 C_i + C_i^2 + 2C_i + k^2 C_i + C_i C_o + 2C_o`.
    """

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int) -> None:
        pad = kernel // 2
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_in, kernel, stride=stride, padding=pad, groups=c_in, bias=False),
            nn.Conv2d(c_in, c_in, 1, bias=False),
            nn.BatchNorm2d(c_in),
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_in, kernel, padding=pad, groups=c_in, bias=False),
            nn.Conv2d(c_in, c_out, 1, bias=False),
            nn.BatchNorm2d(c_out),
        )


class DilConv(nn.Sequential):
    r"""DARTS' dilated separable conv: ReLU, depthwise with dilation 2, pointwise, BN.

    Padding :math:`2 (k // 2)` (the dilated kernel spans :math:`2k - 1` pixels) keeps the
    size at stride 1. Parameters: :math:`k^2 C_i + C_i C_o + 2 C_o`.
    """

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_in, kernel, stride=stride, padding=2 * (kernel // 2), dilation=2,
                      groups=c_in, bias=False),
            nn.Conv2d(c_in, c_out, 1, bias=False),
            nn.BatchNorm2d(c_out),
        )


class FactorizedReduce(nn.Module):
    r"""Halve the resolution without discarding three pixels in four: two :math:`1\times1`
    stride-2 convs, the second reading the input shifted by one pixel, concatenated.

    :math:`y = \mathrm{BN}\big([\,W_a * r(x)\,;\; W_b * r(x)_{[1:, 1:]}\,]\big)`,
    :math:`r` = ReLU, both convs stride 2, :math:`\lceil C_o/2 \rceil` and
    :math:`\lfloor C_o/2 \rfloor` output channels (DARTS' halves when :math:`C_o` is even).
    Parameters: :math:`C_i C_o + 2 C_o`.

    The shifted input is zero-padded by one pixel at the bottom and right so both halves
    have :math:`\lceil H/2 \rceil \times \lceil W/2 \rceil` outputs: DARTS' own version
    fails on odd sizes, and on even sizes the padding is never read (same result).
    """

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        if c_out < 2:
            raise ValueError(f"c_out: FactorizedReduce needs at least 2 channels, got {c_out}")
        half = c_out // 2
        self.relu = nn.ReLU(inplace=False)
        self.conv_a = nn.Conv2d(c_in, c_out - half, 1, stride=2, bias=False)
        self.conv_b = nn.Conv2d(c_in, half, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        shifted = F.pad(x[:, :, 1:, 1:], (0, 1, 0, 1))
        return self.bn(torch.cat([self.conv_a(x), self.conv_b(shifted)], dim=1))


def _max_pool(channels: int, stride: int) -> nn.Module:
    return nn.MaxPool2d(3, stride=stride, padding=1)


def _avg_pool(channels: int, stride: int) -> nn.Module:
    # As in DARTS: border means over the real pixels only.
    return nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False)


def _skip(channels: int, stride: int) -> nn.Module:
    return nn.Identity() if stride == 1 else FactorizedReduce(channels, channels)


def _sep_conv(kernel: int) -> DARTSOpFactory:
    return lambda c, stride: SepConv(c, c, kernel, stride)


def _dil_conv(kernel: int) -> DARTSOpFactory:
    return lambda c, stride: DilConv(c, c, kernel, stride)


#: The module of each op of `bo_nas.encodings._darts.DARTS_OPS`, ``factory(C, stride)``.
DARTS_OP_FACTORIES: dict[str, DARTSOpFactory] = {
    "max_pool_3x3": _max_pool,
    "avg_pool_3x3": _avg_pool,
    "skip_connect": _skip,
    "sep_conv_3x3": _sep_conv(3),
    "sep_conv_5x5": _sep_conv(5),
    "dil_conv_3x3": _dil_conv(3),
    "dil_conv_5x5": _dil_conv(5),
}


def darts_op(name: str, channels: int, stride: int = 1) -> nn.Module:
    """The module of DARTS op ``name`` for ``channels`` channels at ``stride`` (1 or 2).

    Raises:
        ValueError: for an unknown op or a stride other than 1 and 2.
    """
    if name not in DARTS_OP_FACTORIES:
        raise ValueError(f"unknown DARTS op {name!r} (expected one of {tuple(DARTS_OP_FACTORIES)})")
    if stride not in (1, 2):
        raise ValueError(f"stride: expected 1 or 2, got {stride!r}")
    return DARTS_OP_FACTORIES[name](channels, stride)
