r"""Rules that rank the pool by one BoTorch acquisition function."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from botorch.acquisition import (
    AcquisitionFunction,
    LogExpectedImprovement,
    UpperConfidenceBound,
    qLogExpectedImprovement,
    qLogNoisyExpectedImprovement,
    qUpperConfidenceBound,
)
from botorch.acquisition.utils import prune_inferior_points
from botorch.models.model import Model

from bo_nas._settings import check_int, check_number

from ._base import SelectionRule
from ._pool import (
    acquisition_values,
    condition_on_pending,
    greedy,
    incumbent,
    qmc_sampler,
    screen,
)

# Posterior samples that decide which observations may be the best (BoTorch's default).
_PRUNE_SAMPLES = 2048


@dataclass(frozen=True)
class LogEI(SelectionRule):
    r"""Log expected improvement, :math:`\log \mathbb E[\max(f(x) - y^*, 0)]`.

    One pick with nothing pending uses the closed form (no Monte-Carlo noise); otherwise
    ``qLogExpectedImprovement`` with the pending points as ``X_pending``, by sequential
    greedy selection.

    Args:
        mc_samples: Quasi-Monte-Carlo samples of the joint acquisition.
    """

    rule = "logei"
    preset = "gp-tw"

    mc_samples: int = 128

    def __post_init__(self) -> None:
        check_int("mc_samples", self.mc_samples)

    def select(
        self,
        model: Model,
        X_pool: torch.Tensor,
        X_pending: torch.Tensor | None,
        q: int,
        generator: torch.Generator,
    ) -> list[int]:
        best_f = incumbent(model)
        if q == 1 and X_pending is None:
            values = acquisition_values(LogExpectedImprovement(model, best_f=best_f), X_pool)
            return [int(torch.argmax(values))]
        acq = qLogExpectedImprovement(
            model, best_f=best_f, sampler=qmc_sampler(self.mc_samples, generator)
        )
        return greedy(acq, X_pool, X_pending, q)


@dataclass(frozen=True)
class UCB(SelectionRule):
    r"""Upper confidence bound, :math:`\mu(x) + \sqrt\beta\,\sigma(x)`.

    Closed form for one pick with nothing pending, else ``qUpperConfidenceBound`` with
    ``X_pending`` by sequential greedy selection.

    Args:
        beta: Exploration weight :math:`\beta`.
        mc_samples: Quasi-Monte-Carlo samples of the joint acquisition.
    """

    rule = "ucb"
    preset = "gp-tw"

    beta: float = 2.0
    mc_samples: int = 128

    def __post_init__(self) -> None:
        check_number("beta", self.beta)
        check_int("mc_samples", self.mc_samples)

    def select(
        self,
        model: Model,
        X_pool: torch.Tensor,
        X_pending: torch.Tensor | None,
        q: int,
        generator: torch.Generator,
    ) -> list[int]:
        if q == 1 and X_pending is None:
            values = acquisition_values(UpperConfidenceBound(model, beta=self.beta), X_pool)
            return [int(torch.argmax(values))]
        acq = qUpperConfidenceBound(
            model, beta=self.beta, sampler=qmc_sampler(self.mc_samples, generator)
        )
        return greedy(acq, X_pool, X_pending, q)


@dataclass(frozen=True)
class TopK(SelectionRule):
    r"""The ``q`` best candidates by one single-point acquisition given the pending
    points (log-EI, or UCB :math:`\mu + \sqrt\beta\,\sigma`): no diversity at all, the
    control for the batch rules."""

    rule = "topk"
    preset = "gp-topk"

    by: Literal["logei", "ucb"] = "logei"
    beta: float = 2.0

    def __post_init__(self) -> None:
        if self.by not in ("logei", "ucb"):
            raise ValueError(f"by: expected 'logei' or 'ucb', got {self.by!r}")
        check_number("beta", self.beta)

    def select(
        self,
        model: Model,
        X_pool: torch.Tensor,
        X_pending: torch.Tensor | None,
        q: int,
        generator: torch.Generator,
    ) -> list[int]:
        fantasy = condition_on_pending(model, X_pending)
        acq: AcquisitionFunction = (
            LogExpectedImprovement(fantasy, best_f=incumbent(model, X_pending))
            if self.by == "logei" else UpperConfidenceBound(fantasy, beta=self.beta)
        )
        return torch.topk(acquisition_values(acq, X_pool), q).indices.tolist()


@dataclass(frozen=True)
class QLogNEI(SelectionRule):
    r"""BoTorch's ``qLogNoisyExpectedImprovement`` (baseline: the observed points) by
    sequential greedy selection over the ``top_m`` candidates by log-EI; pending points
    enter as ``X_pending``.

    Args:
        top_m: Candidates scored by the Monte-Carlo acquisition.
        mc_samples: Quasi-Monte-Carlo samples.
    """

    rule = "qlognei"
    preset = "gp-qlognei"

    top_m: int = 300
    mc_samples: int = 128

    def __post_init__(self) -> None:
        check_int("top_m", self.top_m)
        check_int("mc_samples", self.mc_samples)

    def select(
        self,
        model: Model,
        X_pool: torch.Tensor,
        X_pending: torch.Tensor | None,
        q: int,
        generator: torch.Generator,
    ) -> list[int]:
        cand = screen(model, X_pool, X_pending, max(self.top_m, q))
        # Only points that could be the best enter the baseline (BoTorch's own pruning,
        # here with a sampler from the campaign's generator, not torch's global one):
        # the joint posterior of every evaluation then covers a handful of points, not
        # all observations.
        baseline = prune_inferior_points(
            model, model.train_inputs[0], sampler=qmc_sampler(_PRUNE_SAMPLES, generator)
        )
        acq = qLogNoisyExpectedImprovement(
            model,
            X_baseline=baseline,
            sampler=qmc_sampler(self.mc_samples, generator),
            prune_baseline=False,
        )
        return [int(cand[i]) for i in greedy(acq, X_pool[cand], X_pending, q)]
