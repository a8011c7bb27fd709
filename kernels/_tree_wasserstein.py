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
        extra_columns: Inputs carry this many further columns after the `d` features
            (a budget, a prior score) that the kernel ignores. Unlike ``active_dims``,
            which copies the selected columns at every call, the features are read as a
            slice.
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
        extra_columns: int = 0,
        **kwargs,
    ) -> None:
        if isinstance(extra_columns, bool) or not isinstance(extra_columns, int) \
                or extra_columns < 0:
            raise ValueError(f"extra_columns: expected an integer >= 0, got {extra_columns!r}")
        self.extra_columns = extra_columns
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
        # ard_num_dims only sized the lengthscale (one per block). GPyTorch's debug check
        # compares it with the input width `d`, which differs, so clear it after init.
        self.ard_num_dims = None
        self.block_sizes: tuple[int, ...] = tuple(sizes)
        # Normalised TW blocks have distances of order 1; GPyTorch would start at the
        # middle of the constraint (~500), where the kernel is flat and fits can stall.
        bounds = self.raw_lengthscale_constraint
        if float(bounds.lower_bound.max()) < 1.0 < float(bounds.upper_bound.min()):
            self.lengthscale = torch.ones_like(self.lengthscale)

    @property
    def dim(self) -> int:
        return sum(self.block_sizes)

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        if self.extra_columns and x.shape[-1] == self.dim + self.extra_columns:
            return x[..., : self.dim]
        return x

    def _scaled(self, x: torch.Tensor) -> torch.Tensor:
        x = self._features(x)
        if x.shape[-1] != self.dim:
            raise ValueError(
                f"x: expected last dimension {self.dim} (sum of block_sizes "
                f"{self.block_sizes}), got {x.shape[-1]}"
            )
        # batch_shape x 1 x B -> batch_shape x 1 x d: each feature divided by its block's ℓ.
        # Built from slices, not an index buffer: `Kernel.__getitem__` indexes every
        # buffer by the batch index, which a non-batched buffer cannot take.
        inv = self.lengthscale.reciprocal()
        shape = inv.shape[:-1]
        inv = torch.cat(
            [inv[..., b : b + 1].expand(*shape, s) for b, s in enumerate(self.block_sizes)], dim=-1
        )
        return x * inv

    def forward(
        self, x1: torch.Tensor, x2: torch.Tensor, diag: bool = False, **params
    ) -> torch.Tensor:
        if diag:
            z1, z2 = self._scaled(x1), self._scaled(x2)
            return torch.exp(-(z1 - z2).abs().sum(-1))
        if self._lengthscale_needs_grad(x1, x2):
            dist = self._block_distances(x1, x2) @ self._inverse_lengthscale()
            return torch.exp(-dist.squeeze(-1))
        return torch.exp(-torch.cdist(self._scaled(x1), self._scaled(x2), p=1))

    def _lengthscale_needs_grad(self, x1: torch.Tensor, x2: torch.Tensor) -> bool:
        # During marginal-likelihood fitting only the lengthscales carry gradients. The
        # distance is linear in 1/ℓ_b, so the per-block L1 distances D_b are computed once
        # without autograd and the gradient flows through a cheap contraction, instead of
        # through cdist(p=1)'s slow backward.
        return (
            torch.is_grad_enabled()
            and self.raw_lengthscale.requires_grad
            and not x1.requires_grad
            and not x2.requires_grad
        )

    def _inverse_lengthscale(self) -> torch.Tensor:
        # batch_shape x 1 x B -> batch_shape x 1 x B x 1, contracted with the block axis.
        return self.lengthscale.reciprocal().unsqueeze(-1)

    def _block_distances(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        """`batch_shape x n x m x B` unscaled L1 distances of each block."""
        x1, x2 = self._features(x1), self._features(x2)
        for x in (x1, x2):
            if x.shape[-1] != self.dim:
                raise ValueError(
                    f"x: expected last dimension {self.dim} (sum of block_sizes "
                    f"{self.block_sizes}), got {x.shape[-1]}"
                )
        with torch.no_grad():
            blocks = []
            start = 0
            for size in self.block_sizes:
                a, b = x1[..., start : start + size], x2[..., start : start + size]
                blocks.append(torch.cdist(a, b, p=1))
                start += size
            return torch.stack(blocks, dim=-1)
