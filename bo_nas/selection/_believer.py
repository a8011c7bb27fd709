r"""Batch rules that believe each pick's posterior mean before choosing the next."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from botorch.acquisition import (
    AcquisitionFunction,
    LogExpectedImprovement,
    UpperConfidenceBound,
)
from botorch.models.model import Model

from bo_nas._settings import check_number

from ._base import SelectionRule
from ._pool import acquisition_values, best_excluding, condition_on_pending, incumbent


def _believe_loop(
    model: Model,
    X_pool: torch.Tensor,
    X_pending: torch.Tensor | None,
    q: int,
    score: Callable[[Model, float], AcquisitionFunction],
) -> list[int]:
    """Pick the argmax of ``score(fantasy, best)``, condition the fantasy model on its
    posterior mean there (``condition_on_observations``, no refit), raise ``best`` to
    that mean if higher, ``q`` times."""
    fantasy = condition_on_pending(model, X_pending)
    best = incumbent(model, X_pending)
    picks: list[int] = []
    for step in range(q):
        j = best_excluding(acquisition_values(score(fantasy, best), X_pool), picks)
        picks.append(j)
        if step + 1 < q:
            x = X_pool[j : j + 1]
            with torch.no_grad():
                mean = fantasy.posterior(x).mean
                fantasy = fantasy.condition_on_observations(x, mean)
            best = max(best, float(mean))
    return picks


@dataclass(frozen=True)
class KrigingBeliever(SelectionRule):
    r"""Kriging believer: the argmax of log-EI, then its posterior mean is believed as
    an observation (the incumbent rises to :math:`\max(y^*, \mu_j)`, the variance
    shrinks near it) and the next pick is chosen, ``q`` times."""

    rule = "kb"
    preset = "gp-kb"

    def select(
        self,
        model: Model,
        X_pool: torch.Tensor,
        X_pending: torch.Tensor | None,
        q: int,
        generator: torch.Generator,
    ) -> list[int]:
        return _believe_loop(
            model, X_pool, X_pending, q,
            lambda m, best: LogExpectedImprovement(m, best_f=best),
        )


@dataclass(frozen=True)
class BUCB(SelectionRule):
    r"""GP-BUCB (Desautels et al. 2014): the argmax of
    :math:`\mu(x) + \sqrt\beta\,\sigma_t(x)`, where :math:`\sigma_t` is conditioned on
    the picks so far and the mean is left unchanged.

    Args:
        beta: Exploration weight :math:`\beta`.
    """

    rule = "bucb"
    preset = "gp-bucb"

    beta: float = 2.0

    def __post_init__(self) -> None:
        check_number("beta", self.beta)

    def select(
        self,
        model: Model,
        X_pool: torch.Tensor,
        X_pending: torch.Tensor | None,
        q: int,
        generator: torch.Generator,
    ) -> list[int]:
        return _believe_loop(
            model, X_pool, X_pending, q,
            lambda m, _best: UpperConfidenceBound(m, beta=self.beta),
        )
