"""The normalised WL subtree kernel: a linear kernel on L2-normalised count features."""

from __future__ import annotations

import torch
from gpytorch.kernels import Kernel


class WLKernel(Kernel):
    r"""Cosine similarity of Weisfeiler–Lehman count vectors (NAS-BOWL's kernel).

    With :math:`\phi(G)` the WL label counts (``bo_nas.encodings.WLFeaturizer``),

    .. math::
        k(G, G') = \frac{\langle \phi(G), \phi(G') \rangle}
                        {\lVert \phi(G) \rVert\, \lVert \phi(G') \rVert},

    the normalised WL subtree kernel: positive semi-definite (a Gram matrix of unit
    vectors) with :math:`k(G, G) = 1`. An all-zero row (no known label) gets similarity
    0 to everything. Wrap it in ``gpytorch.kernels.ScaleKernel`` for an output scale.

    Shapes:
        ``x1``: `batch_shape x n x d`, ``x2``: `batch_shape x m x d`; returns
        `batch_shape x n x m`, or `batch_shape x n` with ``diag=True``.

    Example:
        >>> k = WLKernel()
        >>> x = torch.rand(4, 12, dtype=torch.float64)
        >>> torch.allclose(k(x).to_dense().diagonal(), torch.ones(4, dtype=torch.float64))
        True
    """

    has_lengthscale = False

    @staticmethod
    def _unit(x: torch.Tensor) -> torch.Tensor:
        return x / x.norm(dim=-1, keepdim=True).clamp_min(torch.finfo(x.dtype).tiny)

    def forward(
        self, x1: torch.Tensor, x2: torch.Tensor, diag: bool = False, **params
    ) -> torch.Tensor:
        z1, z2 = self._unit(x1), self._unit(x2)
        if diag:
            return (z1 * z2).sum(-1)
        return z1 @ z2.transpose(-2, -1)
