r"""Thompson sampling over a pool: argmax of joint posterior draws."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from botorch.acquisition import UpperConfidenceBound
from botorch.models.model import Model

from bo_nas._settings import check_int

from ._base import SelectionRule
from ._pool import (
    acquisition_values,
    best_excluding,
    condition_on_pending,
    joint_draws,
    screen,
)


@dataclass(frozen=True)
class ThompsonSampling(SelectionRule):
    r"""Thompson sampling: pick :math:`\arg\max_{x \in \text{pool}} \tilde f(x)` for a draw
    :math:`\tilde f \sim p(f \mid \mathcal D, \text{pending})` of the joint posterior,
    once per pick, excluding the picks already made.

    The pending points are believed at their posterior mean (the mean stays, the variance
    shrinks near them), so asynchronous proposals are not drawn next to running ones.
    Draws are BoTorch posterior samples from base samples taken from the campaign's
    generator.

    Args:
        max_candidates: A joint draw over `M` points costs an `M x M` Cholesky; larger
            pools are first cut to the ``max_candidates`` best by ``screen``
            (candidates far below the best UCB are almost never a draw's argmax).
        screen: ``"ucb"`` (:math:`\mu + 3\sigma`) or ``"logei"`` (log-EI given pending).
    """

    rule = "ts"
    preset = "gp-tw"

    max_candidates: int = 2000
    screen: Literal["ucb", "logei"] = "ucb"

    def __post_init__(self) -> None:
        check_int("max_candidates", self.max_candidates)
        if self.screen not in ("ucb", "logei"):
            raise ValueError(f"screen: expected 'ucb' or 'logei', got {self.screen!r}")

    def select(
        self,
        model: Model,
        X_pool: torch.Tensor,
        X_pending: torch.Tensor | None,
        q: int,
        generator: torch.Generator,
    ) -> list[int]:
        fantasy = condition_on_pending(model, X_pending)
        cand = torch.arange(len(X_pool))
        if len(X_pool) > self.max_candidates:
            if self.screen == "logei":
                cand = screen(model, X_pool, X_pending, self.max_candidates)
            else:
                ucb = acquisition_values(UpperConfidenceBound(fantasy, beta=9.0), X_pool)
                cand = torch.topk(ucb, self.max_candidates).indices
        draws = joint_draws(fantasy, X_pool[cand], q, generator)
        picks: list[int] = []
        for draw in draws:
            picks.append(best_excluding(draw, picks))
        return [int(cand[i]) for i in picks]
