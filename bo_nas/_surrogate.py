"""The GP surrogate: BoTorch's `SingleTaskGP` with a tree-Wasserstein covariance."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence

import torch
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from botorch.models.transforms.outcome import Standardize
from gpytorch.kernels import ScaleKernel
from gpytorch.mlls import ExactMarginalLogLikelihood
from gpytorch.priors import LogNormalPrior

from bo_nas._threads import torch_threads
from bo_nas.kernels import TreeWassersteinKernel

logger = logging.getLogger(__name__)


def make_tw_gp(
    train_X: torch.Tensor,
    train_Y: torch.Tensor,
    block_sizes: Sequence[int],
    *,
    train_Yvar: torch.Tensor | None = None,
) -> SingleTaskGP:
    r"""`SingleTaskGP` with covariance `ScaleKernel(TreeWassersteinKernel)`.

    Outcomes are standardised (``Standardize(m=1)``); lengthscales carry a
    ``LogNormal(0, 1)`` prior (median 1, the scale of a normalised TW block) and start
    at 1.

    Args:
        train_X: `n x d` TW features (``TWEncoder.encode``).
        train_Y: `n x 1` objective values (higher is better for BoTorch acquisitions).
        block_sizes: The encoder's ``block_sizes``.
        train_Yvar: Optional `n x 1` known noise variances.

    Example:
        >>> enc = NB201Space().encoder()                         # doctest: +SKIP
        >>> X = torch.as_tensor(enc.encode(archs))
        >>> gp = make_tw_gp(X, y.unsqueeze(-1), enc.block_sizes)
        >>> fit_tw_gp(gp)
    """
    if train_X.ndim != 2:
        raise ValueError(f"train_X: expected shape n x d, got {tuple(train_X.shape)}")
    if train_Y.ndim != 2 or train_Y.shape[0] != train_X.shape[0]:
        raise ValueError(
            f"train_Y: expected shape {train_X.shape[0]} x 1, got {tuple(train_Y.shape)}"
        )
    base = TreeWassersteinKernel(
        block_sizes, lengthscale_prior=LogNormalPrior(0.0, 1.0)
    ).to(train_X)
    base.lengthscale = torch.ones_like(base.lengthscale)
    covar = ScaleKernel(base).to(train_X)
    return SingleTaskGP(
        train_X,
        train_Y,
        train_Yvar=train_Yvar,
        covar_module=covar,
        outcome_transform=Standardize(m=train_Y.shape[-1]),
    )


def fit_tw_gp(model: SingleTaskGP) -> SingleTaskGP:
    """Fit hyper-parameters by maximising the marginal likelihood (in place).

    Returns the model. If every attempt fails (e.g. Cholesky failure on degenerate data)
    the hyper-parameters are left at their starting values and a warning is logged.
    """
    mll = ExactMarginalLogLikelihood(model.likelihood, model)
    threads = 1 if model.train_targets.shape[-1] <= 1000 else torch.get_num_threads()
    with warnings.catch_warnings(), torch_threads(threads):
        warnings.simplefilter("ignore")
        try:
            fit_gpytorch_mll(mll)
        except Exception as exc:  # fitting must never take a campaign down
            logger.warning("GP hyper-parameter fit failed (%s); keeping previous values", exc)
    model.eval()
    return model
