r"""NAS-BOWL: a GP on Weisfeiler–Lehman graph features with expected improvement.

Reference: Ru, Wan, Dong, Osborne. Interpretable neural architecture search via
Bayesian optimisation with Weisfeiler–Lehman kernels. ICLR 2021.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import numpy as np
import torch
from botorch.acquisition import LogExpectedImprovement
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from botorch.models.transforms.outcome import Standardize
from gpytorch.kernels import ScaleKernel
from gpytorch.mlls import ExactMarginalLogLikelihood

from bo_nas._history import History
from bo_nas.encodings import Architecture, WLFeaturizer
from bo_nas.encodings._wl import Direction
from bo_nas.kernels import WLKernel
from bo_nas.spaces import SearchSpace

from ._base import Strategy
from ._pool import NeighbourCache, PoolConfig, as_pool_config, candidate_pool

logger = logging.getLogger(__name__)


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

    def __init__(
        self,
        n_init: int = 10,
        h_values: Sequence[int] = (0, 1, 2, 3),
        direction: Direction = "in",
        pool: PoolConfig | dict[str, Any] | None = None,
    ) -> None:
        if not isinstance(n_init, int) or isinstance(n_init, bool) or n_init < 1:
            raise ValueError(f"n_init: expected an integer >= 1, got {n_init!r}")
        hs = tuple(h_values)
        if not hs or any(not isinstance(h, int) or isinstance(h, bool) or h < 0 for h in hs):
            raise ValueError(f"h_values: expected non-negative integers, got {h_values!r}")
        if direction not in ("in", "out", "both"):
            raise ValueError(f"direction: expected 'in', 'out' or 'both', got {direction!r}")
        self.n_init = n_init
        self.h_values = hs
        self.direction: Direction = direction
        self.pool = as_pool_config(pool)
        self.last_h: int | None = None

    def setup(self, space: SearchSpace) -> None:
        super().setup(space)
        self._featurizers = {h: WLFeaturizer(h, self.direction) for h in self.h_values}
        self._neighbours = NeighbourCache(space)

    def to_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "n_init": self.n_init,
            "h_values": list(self.h_values),
            "direction": self.direction,
            "pool": asdict(self.pool),
        }

    def __repr__(self) -> str:
        return f"NasBowlStrategy(n_init={self.n_init}, h_values={self.h_values})"

    def propose(self, history: History, n: int, rng: np.random.Generator) -> list[Architecture]:
        complete = history.complete
        if len(complete) < self.n_init:
            return self.space.sample_many(n, rng, exclude=[t.arch for t in history])
        pool = candidate_pool(self.space, history, rng, self.pool, self._neighbours)
        if not pool:
            return []
        seed = int(rng.integers(2**62))
        train = [t.arch for t in complete]
        Y = torch.tensor([t.value for t in complete], dtype=torch.float64).unsqueeze(-1)
        best: tuple[float, int, SingleTaskGP, torch.Tensor] | None = None
        for h in self.h_values:
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
    mll = ExactMarginalLogLikelihood(model.likelihood, model)
    # BoTorch restarts a failed fit from samples of torch's global generator: fork it and
    # seed it from the campaign's stream so fits reproduce and the caller's state stays.
    with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.manual_seed(seed)
        try:
            fit_gpytorch_mll(mll)
        except Exception as exc:  # a failed fit keeps its initial hyper-parameters
            logger.warning("NAS-BOWL GP fit failed (%s)", exc)
        model.train()
        with torch.no_grad():
            out = model(*model.train_inputs)
            value = float(mll(out, model.train_targets)) * len(X)
    model.eval()
    return model, value
