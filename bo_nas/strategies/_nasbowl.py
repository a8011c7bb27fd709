r"""NAS-BOWL: a GP on Weisfeiler–Lehman graph features with expected improvement.

Reference: Ru, Wan, Dong, Osborne. Interpretable neural architecture search via
Bayesian optimisation with Weisfeiler–Lehman kernels. ICLR 2021.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from botorch.acquisition import LogExpectedImprovement
from botorch.models import SingleTaskGP
from botorch.models.transforms.outcome import Standardize
from gpytorch.kernels import ScaleKernel
from gpytorch.mlls import ExactMarginalLogLikelihood

from bo_nas._history import History
from bo_nas._settings import check_int
from bo_nas._surrogate import fit_tw_gp
from bo_nas.encodings import Architecture, WLFeaturizer
from bo_nas.encodings._wl import Direction
from bo_nas.kernels import WLKernel
from bo_nas.spaces import SearchSpace

from ._base import Strategy
from ._pool import NeighbourCache, PoolConfig, candidate_pool

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class NasBowlSettings:
    """Settings of `NasBowlStrategy` (see there)."""

    n_init: int = 10
    h_values: tuple[int, ...] = (0, 1, 2, 3)
    direction: Direction = "in"
    pool: PoolConfig = field(default_factory=PoolConfig)

    def __post_init__(self) -> None:
        check_int("n_init", self.n_init)
        hs = self.h_values
        if (not isinstance(hs, tuple) or not hs
                or any(not isinstance(h, int) or isinstance(h, bool) or h < 0 for h in hs)):
            raise ValueError(f"h_values: expected non-negative integers, got {hs!r}")
        if self.direction not in ("in", "out", "both"):
            raise ValueError(f"direction: expected 'in', 'out' or 'both', got {self.direction!r}")
        if not isinstance(self.pool, PoolConfig):
            raise ValueError(f"pool: expected a PoolConfig, got {self.pool!r}")


class NasBowlStrategy(Strategy):
    r"""GP with the normalised WL subtree kernel; WL depth chosen by marginal likelihood.

    Each proposal, for every depth :math:`h` in ``h_values``, builds WL count features
    (`bo_nas.encodings.WLFeaturizer`, dictionary over the complete trials and the
    candidate pool) and fits ``SingleTaskGP(covar = Scale(WLKernel))``, i.e.

    .. math::

        k_h(G, G') = s\, \frac{\langle \phi_h(G), \phi_h(G') \rangle}
                             {\lVert \phi_h(G) \rVert \lVert \phi_h(G') \rVert},

    on the standardised validation accuracies (output scale, noise and constant mean by
    maximum marginal likelihood). The depth with the highest fitted log marginal
    likelihood (plus hyper-prior terms, the objective the fit maximises) is kept, and
    the ``n`` candidates of the pool with the highest expected improvement (computed
    as log-EI, for numerical range) are proposed.

    Args:
        n_init: Random architectures before the first model.
        h_values: WL depths to choose from.
        direction: Neighbourhood of the WL relabelling (``"in"``: the nodes feeding a
            node, i.e. the computation below it).
        pool: Candidate generation (a `PoolConfig` or its fields as a dict).
    """

    name = "nasbowl"
    Settings = NasBowlSettings
    settings: NasBowlSettings

    def __init__(self, settings: NasBowlSettings | None = None, **kwargs: Any) -> None:
        super().__init__(settings, **kwargs)
        self.last_h: int | None = None

    def setup(self, space: SearchSpace) -> None:
        super().setup(space)
        direction = self.settings.direction
        self._featurizers = {h: WLFeaturizer(h, direction) for h in self.settings.h_values}
        self._neighbours = NeighbourCache(space)

    def propose(self, history: History, n: int, rng: np.random.Generator) -> list[Architecture]:
        complete = history.complete
        if len(complete) < self.settings.n_init:
            return self.space.sample_many(n, rng, exclude=[t.arch for t in history])
        pool = candidate_pool(self.space, history, rng, self.settings.pool, self._neighbours)
        if not pool:
            return []
        seed = int(rng.integers(2**62))
        train = [t.arch for t in complete]
        Y = torch.tensor([t.value for t in complete], dtype=torch.float64).unsqueeze(-1)
        best: tuple[float, int, SingleTaskGP, torch.Tensor] | None = None
        for h in self.settings.h_values:
            wl = self._featurizers[h]
            # The dictionary spans the pool too: a candidate's unseen labels must lower
            # its normalised similarity to the data, not vanish.
            F = torch.as_tensor(wl.fit(train + pool).transform(train + pool))
            X, X_pool = F[: len(train)], F[len(train) :]
            model, mll_value = _fit(X, Y, seed)
            logger.debug("NAS-BOWL h=%d: log marginal likelihood %.3f", h, mll_value)
            if best is None or mll_value > best[0]:
                best = (mll_value, h, model, X_pool)
        assert best is not None
        _, self.last_h, model, X_pool = best
        with torch.no_grad():
            acq = LogExpectedImprovement(model, best_f=Y.max())
            scores = acq(X_pool.unsqueeze(-2))
        top = torch.argsort(scores, descending=True)[: min(n, len(pool))]
        return [pool[int(i)] for i in top]


def _fit(X: torch.Tensor, Y: torch.Tensor, seed: int) -> tuple[SingleTaskGP, float]:
    """Fit a WL-kernel GP; returns it (eval mode) and its fitted MLL objective × n."""
    model = SingleTaskGP(
        X, Y, covar_module=ScaleKernel(WLKernel()), outcome_transform=Standardize(m=1)
    )
    model = fit_tw_gp(model, generator=torch.Generator().manual_seed(seed))
    mll = ExactMarginalLogLikelihood(model.likelihood, model)
    model.train()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = float(mll(model(*model.train_inputs), model.train_targets)) * len(X)
    model.eval()
    return model, value
