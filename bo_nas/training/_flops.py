r"""Parameter and FLOP counts, in the convention of the NAS-Bench-201 tables.

FLOPs are counted for one image's forward pass, per module:

- Conv2d: :math:`H_o W_o \cdot C_o \cdot k_h k_w C_i / g` multiply-accumulates,
  plus :math:`H_o W_o C_o` with a bias;
- Linear: :math:`d_i d_o` (+ :math:`d_o` with a bias);
- average and max pooling with kernel :math:`k`: :math:`k^2 \cdot C \cdot H_o W_o`;
  the global (adaptive) average pool: one per input element;
- BatchNorm: two per element (scale and shift; one without affine parameters);
- ReLU: one per element;
- sums, concatenation, identity and the zero op: free.

This reproduces the ``flops`` column of ``nb201_zc_proxies_cifar10.csv`` to within
0.02 % (a constant 0.001 M the table has beyond this count; see the tests). Conv,
linear and pooling terms alone (NB-201's original counter) fall 1–7 % short: the table
also charges three operations per output element of every ReLU-Conv-BN op.

Every op of a cell counts, even one whose output reaches nothing (the benchmark's
network computes it), so counting runs cells with ``execute_all``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ._cells import DagCell

_COUNTED = (nn.Conv2d, nn.Linear, nn.AvgPool2d, nn.MaxPool2d, nn.AdaptiveAvgPool2d,
            nn.modules.batchnorm._BatchNorm, nn.ReLU)


def count_parameters(model: nn.Module) -> int:
    """Number of parameters (trainable or not; buffers excluded)."""
    return sum(p.numel() for p in model.parameters())


def _module_flops(m: nn.Module, inp: torch.Tensor, out: torch.Tensor) -> int:
    if isinstance(m, nn.Conv2d):
        positions = out.shape[2] * out.shape[3]
        k = m.kernel_size[0] * m.kernel_size[1]
        flops = positions * m.out_channels * k * m.in_channels // m.groups
        return flops + (positions * m.out_channels if m.bias is not None else 0)
    if isinstance(m, nn.Linear):
        return m.in_features * m.out_features + (m.out_features if m.bias is not None else 0)
    if isinstance(m, (nn.AvgPool2d, nn.MaxPool2d)):
        k = m.kernel_size if isinstance(m.kernel_size, int) else m.kernel_size[0]
        return k * k * out[0].numel()
    if isinstance(m, nn.modules.batchnorm._BatchNorm):
        return (2 if m.affine else 1) * out[0].numel()
    # ReLU and the global pool: one per input element.
    return inp[0].numel()


def count_flops(model: nn.Module, input_shape: Sequence[int]) -> int:
    """FLOPs of one forward pass of one image (see the module docstring).

    Args:
        model: The network; its mode and device are kept, buffers untouched.
        input_shape: `channels x H x W` of one image.

    Returns:
        The count for a batch of one.
    """
    total = 0

    def hook(m: nn.Module, inputs: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        nonlocal total
        total += _module_flops(m, inputs[0], out)

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, _COUNTED)]
    cells = [m for m in model.modules() if isinstance(m, DagCell)]
    was_training = model.training
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    try:
        for c in cells:
            c.execute_all = True
        model.eval()  # BatchNorm must not update its running statistics here
        with torch.no_grad():
            model(torch.zeros(1, *input_shape, device=device))
    finally:
        for h in handles:
            h.remove()
        for c in cells:
            c.execute_all = False
        model.train(was_training)
    return total
