"""The tree-Wasserstein kernel: a block-wise Laplace kernel on TW embeddings."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from gpytorch.constraints import Interval
from gpytorch.kernels import Kernel
from gpytorch.priors import Prior


class TreeWassersteinKernel(Kernel):
    r"""Exponential of the weighted sum of tree-Wasserstein distances.

    Inputs are TW embeddings (see ``bo_nas.encodings.TWEncoder``): the feature vector is
    cut into B blocks of sizes ``block_sizes``; on block b the TW distance is the L1
    distance of the embeddings, so

    .. math::
        k(x, x') = \exp\Big(-\sum_{b=1}^{B} \frac{\lVert x_b - x'_b \rVert_1}{\ell_b}\Big).

    L1 distance is conditionally negative definite, hence every term
    :math:`\exp(-\lVert\cdot\rVert_1/\ell)` is positive definite and so is their product:
    the kernel is valid for any positive lengthscales. It is computed as one
    ``torch.cdist(p=1)`` on features scaled by :math:`1/\ell_b`, with no loop over pairs.
    Wrap it in ``gpytorch.kernels.ScaleKernel`` for an output scale.

    Args:
        block_sizes: Lengths of the feature blocks, in order; their sum is the input
            dimension `d`.
        lengthscale_prior: Prior on the `B` lengthscales (default: none).
        lengthscale_constraint: Constraint on them (default: `Interval(1e-3, 1e3)`, wide
            enough for every normalised TW block and bounded so fitting cannot run off).
        **kwargs: Passed to ``gpytorch.kernels.Kernel`` (``batch_shape``, ``active_dims``).

    Shapes:
        ``x1``: `batch_shape x n x d`, ``x2``: `batch_shape x m x d`; returns
        `batch_shape x n x m`, or `batch_shape x n` with ``diag=True``.

    Example:
        >>> k = TreeWassersteinKernel(block_sizes=(5, 7, 7))
        >>> x = torch.rand(10, 19, dtype=torch.float64)
        >>> k(x).to_dense().shape
        torch.Size([10, 10])
    """

    has_lengthscale = True

    def __init__(
        self,
        block_sizes: Sequence[int],
        lengthscale_prior: Prior | None = None,
        lengthscale_constraint: Interval | None = None,
        **kwargs,
    ) -> None:
        sizes = [int(s) for s in block_sizes]
        if not sizes or any(s < 1 for s in sizes):
            raise ValueError(
                f"block_sizes: expected a non-empty list of positive integers, got {block_sizes!r}"
            )
        if "ard_num_dims" in kwargs:
            raise ValueError("ard_num_dims: set by block_sizes (one lengthscale per block)")
        if lengthscale_constraint is None:
            lengthscale_constraint = Interval(1e-3, 1e3)
        super().__init__(
            ard_num_dims=len(sizes),
            lengthscale_prior=lengthscale_prior,
            lengthscale_constraint=lengthscale_constraint,
            **kwargs,
        )
        self.block_sizes: tuple[int, ...] = tuple(sizes)
        self.register_buffer(
            "_block_index",
            torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes)),
        )

    @property
    def dim(self) -> int:
        return len(self._block_index)

    def _scaled(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.dim:
            raise ValueError(
                f"x: expected last dimension {self.dim} (sum of block_sizes "
                f"{self.block_sizes}), got {x.shape[-1]}"
            )
        # batch_shape x 1 x B -> batch_shape x 1 x d: each feature divided by its block's ℓ.
        inv = self.lengthscale.reciprocal().index_select(-1, self._block_index)
        return x * inv

    def forward(
        self, x1: torch.Tensor, x2: torch.Tensor, diag: bool = False, **params
    ) -> torch.Tensor:
        z1, z2 = self._scaled(x1), self._scaled(x2)
        if diag:
            return torch.exp(-(z1 - z2).abs().sum(-1))
        return torch.exp(-torch.cdist(z1, z2, p=1))
