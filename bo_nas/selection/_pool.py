r"""What every selection rule does to a discrete pool, written once.

BoTorch supplies the acquisition values and the conditioning; these helpers apply them
to a finite pool in chunks and keep every random draw on the campaign's generator.
"""

from __future__ import annotations

import warnings

import gpytorch
import torch
from botorch.acquisition import AcquisitionFunction, LogExpectedImprovement
from botorch.acquisition.monte_carlo import MCAcquisitionFunction
from botorch.models.model import Model
from botorch.sampling import SobolQMCNormalSampler
from gpytorch.utils.warnings import NumericalWarning

#: Candidates scored per acquisition call: bounds memory on whole-space pools.
CHUNK = 2048


def seed_from(generator: torch.Generator) -> int:
    """A seed for a BoTorch sampler, drawn from ``generator``."""
    return int(torch.randint(2**62, (1,), generator=generator))


def qmc_sampler(n: int, generator: torch.Generator) -> SobolQMCNormalSampler:
    """A scrambled-Sobol normal sampler of ``n`` samples seeded from ``generator``."""
    return SobolQMCNormalSampler(sample_shape=torch.Size([n]), seed=seed_from(generator))


def acquisition_values(acq: AcquisitionFunction, X: torch.Tensor) -> torch.Tensor:
    """`N` values of ``acq`` at each row of ``X`` (`N x d`), one candidate per q-batch,
    evaluated ``CHUNK`` rows at a time (as ``optimize_acqf_discrete`` does)."""
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.cat([
            acq(X[i : i + CHUNK].unsqueeze(-2)).reshape(-1) for i in range(0, len(X), CHUNK)
        ])


def condition_on_pending(model: Model, X_pending: torch.Tensor | None) -> Model:
    """The model conditioned on believing its posterior mean at ``X_pending`` (no refit).

    The mean stays as it was everywhere; the variance shrinks near the pending points.

    Args:
        model: A fitted model in eval mode.
        X_pending: `p x d` features, or ``None``.

    Returns:
        ``model`` itself when nothing is pending, else the fantasy model
        (``condition_on_observations``).
    """
    if X_pending is None or len(X_pending) == 0:
        return model
    return believe(model, X_pending)


def believe(model: Model, X: torch.Tensor) -> Model:
    """``model.condition_on_observations(X, mean(X))``: Kriging-believer fantasies."""
    with torch.no_grad():
        believed = model.posterior(X).mean  # also fills the prediction cache
        return model.condition_on_observations(X, believed)


def incumbent(model: Model, X_pending: torch.Tensor | None = None) -> float:
    r"""The best value so far in the model's output units: :math:`\max_i y_i` over the
    observations, and over the believed means at ``X_pending`` when given."""
    Y = model.train_targets.reshape(-1, 1)
    transform = getattr(model, "outcome_transform", None)
    if transform is not None:
        Y = transform.untransform(Y)[0]
    best = float(Y.max())
    if X_pending is not None and len(X_pending):
        with torch.no_grad():
            best = max(best, float(model.posterior(X_pending).mean.max()))
    return best


def screen(
    model: Model, X_pool: torch.Tensor, X_pending: torch.Tensor | None, top_m: int
) -> torch.Tensor:
    """Positions of the ``top_m`` best candidates by log-EI given the pending points
    (best first): the set on which batch rules build a joint posterior."""
    if len(X_pool) <= top_m:
        return torch.arange(len(X_pool))
    fantasy = condition_on_pending(model, X_pending)
    acq = LogExpectedImprovement(fantasy, best_f=incumbent(model, X_pending))
    return torch.topk(acquisition_values(acq, X_pool), top_m).indices


def greedy(
    acq: MCAcquisitionFunction, X_pool: torch.Tensor, X_pending: torch.Tensor | None, q: int
) -> list[int]:
    """Sequential greedy selection: the argmax of a Monte-Carlo acquisition given the
    pending points, then again with that pick added to them, ``q`` times (the rule of
    ``optimize_acqf_discrete``, kept on indices so identical rows need no matching)."""
    picks: list[int] = []
    pending = X_pending
    for _ in range(q):
        acq.set_X_pending(pending)
        j = best_excluding(acquisition_values(acq, X_pool), picks)
        picks.append(j)
        row = X_pool[j : j + 1]
        pending = row if pending is None else torch.cat([pending, row])
    return picks


def joint_draws(
    model: Model, X: torch.Tensor, q: int, generator: torch.Generator
) -> torch.Tensor:
    """``q`` joint posterior draws at the rows of ``X`` (`q x N`), base samples from
    ``generator``."""
    with torch.no_grad(), gpytorch.settings.cholesky_max_tries(8), \
            warnings.catch_warnings():
        # Near-duplicate candidates make the covariance singular: GPyTorch raises the
        # jitter tenfold per try (warning each time) before it falls back to an
        # eigendecomposition. Expected here, so not shown.
        warnings.simplefilter("ignore", NumericalWarning)
        post = model.posterior(X)
        base = torch.randn(q, *post.base_sample_shape, generator=generator, dtype=X.dtype)
        return post.rsample_from_base_samples(torch.Size([q]), base).reshape(q, -1)


def best_excluding(values: torch.Tensor, picks: list[int]) -> int:
    """Argmax of ``values`` among positions not in ``picks``."""
    if picks:
        values = values.clone()
        values[torch.tensor(picks)] = -torch.inf
    return int(torch.argmax(values))
