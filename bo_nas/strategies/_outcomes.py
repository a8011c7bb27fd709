r"""The GP strategy's view of several objectives and of constraints it must model.

Each objective is either *known* (a cost the evaluator knows before evaluating: exact
values, no model) or *modelled*: ``val_accuracy`` by the strategy's main GP (its target
warp and zero-cost prior), any other metric by a TW GP of its own on
:math:`\log m` (costs are positive and spread over orders of magnitude), or on
:math:`m` where a value is not positive. A constraint on a measured cost gets the same
kind of GP and a probability of feasibility,

.. math::

    \mathrm{PoF}(x) = \prod_c \Phi\!\left(\pm\frac{t(b_c) - \mu_c(x)}{\sigma_c(x)}\right),

with the sign + for :math:`\le` and - for :math:`\ge` bounds.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from botorch.models import SingleTaskGP

from bo_nas._history import Trial
from bo_nas._surrogate import fit_tw_gp, gp_hyperparameters
from bo_nas.objectives import Constraint, CostSource, Objective, metric_value

#: Cells whose known costs `known_values` keeps (NB-201 has 15,625).
_KNOWN_MAX = 50_000
#: Candidates below this probability of meeting the measured-cost constraints leave the
#: pool (unless fewer than the picks needed would remain).
MIN_FEASIBILITY = 0.5


@dataclass
class MetricModel:
    """A TW GP of one measured metric and the map from its scale to the metric's."""

    model: SingleTaskGP
    log: bool

    def to_metric(self, z: torch.Tensor) -> torch.Tensor:
        return torch.exp(z) if self.log else z

    def of_metric(self, value: float) -> float:
        if self.log:
            return math.log(value) if value > 0 else -math.inf
        return value


def fit_metric_model(
    metric: str,
    trials: Sequence[Trial],
    X: torch.Tensor,
    make: Callable[[torch.Tensor, torch.Tensor], SingleTaskGP],
    hypers: dict[str, dict],
    generator: torch.Generator,
) -> MetricModel | None:
    """A GP (built by ``make`` from inputs and targets) of ``metric`` on the complete
    ``trials`` (inputs: the rows of ``X``) that report it; ``None`` when fewer than two
    do. Warm-started from, and updating, ``hypers[metric]``."""
    values = np.array([
        np.nan if t.result is None or metric_value(t.result, metric) is None
        else metric_value(t.result, metric) for t in trials
    ], dtype=float)
    ok = np.isfinite(values)
    if ok.sum() < 2:
        return None
    values = values[ok]
    log = bool((values > 0).all())
    y = torch.tensor(np.log(values) if log else values, dtype=torch.float64).unsqueeze(-1)
    model = fit_tw_gp(make(X[torch.as_tensor(ok)], y), warm_start=hypers.get(metric),
                      generator=generator)
    hypers[metric] = gp_hyperparameters(model)
    return MetricModel(model, log)


def feasibility(
    constraints: Sequence[Constraint],
    models: dict[str, MetricModel | None],
    X: torch.Tensor,
) -> torch.Tensor:
    """PoF of each row of ``X`` under every modelled constraint (1 where a constraint's
    metric has no model yet: nothing is known against it)."""
    pof = torch.ones(len(X), dtype=X.dtype)
    normal = torch.distributions.Normal(0.0, 1.0)
    for c in constraints:
        mm = models.get(c.metric)
        if mm is None:
            continue
        with torch.no_grad():
            post = mm.model.posterior(X)
            mean = post.mean.reshape(-1)
            sd = post.variance.clamp_min(1e-12).sqrt().reshape(-1)
        bound = mm.of_metric(c.bound)
        z = (bound - mean) / sd
        pof = pof * normal.cdf(z if c.op == "<=" else -z)
    return pof


def keep_feasible(pof: torch.Tensor, q: int) -> torch.Tensor:
    """Positions of the candidates with PoF at least `MIN_FEASIBILITY`, or the ``q``
    likeliest when fewer than ``q`` are."""
    ok = torch.nonzero(pof >= MIN_FEASIBILITY).reshape(-1)
    if len(ok) >= q:
        return ok
    return torch.topk(pof, min(q, len(pof))).indices.sort().values


def known_values(
    objectives: Sequence[Objective],
    costs: CostSource | None,
    archs: Sequence,
    cache: dict[int, tuple[Any, np.ndarray]] | None = None,
) -> torch.Tensor:
    """`len(archs) x m` signed values of the known objectives, NaN elsewhere.

    ``cache`` (by object: cells equal up to dead edges have different costs) holds the
    rows of cells seen before, so a pool of the same cell objects each step is costed
    once."""
    out = torch.full((len(archs), len(objectives)), math.nan, dtype=torch.float64)
    names = [o.metric for o in objectives if costs is not None and o.metric in costs.names]
    if not names or not len(archs):
        return out
    assert costs is not None
    cache = {} if cache is None else cache
    if len(cache) > _KNOWN_MAX:
        cache.clear()  # pools of fresh cell objects each step would otherwise pile up
    missing = [a for a in archs if cache.get(id(a), (None,))[0] is not a]
    if missing:
        for a, row in zip(missing, costs.costs(missing, names), strict=True):
            cache[id(a)] = (a, row)
    table = torch.as_tensor(np.stack([cache[id(a)][1] for a in archs]), dtype=torch.float64)
    for j, o in enumerate(objectives):
        if o.metric in names:
            col = table[:, names.index(o.metric)]
            out[:, j] = -col if o.minimize else col
    return out


def reference_point(objectives: Sequence[Objective], Y: torch.Tensor) -> torch.Tensor:
    r"""The hypervolume's reference point (signed scale): each objective's threshold
    where given, else BoTorch's rule on the observed front: its worst value minus 10 %
    of its range (of its magnitude, or 1, for a front of one value)."""
    from bo_nas.objectives import pareto_mask

    m = len(objectives)
    finite = Y[torch.isfinite(Y).all(dim=-1)]
    ref = torch.zeros(m, dtype=torch.float64)
    front = finite[torch.as_tensor(pareto_mask(finite.numpy()))] if len(finite) else finite
    for j, o in enumerate(objectives):
        if o.threshold is not None:
            ref[j] = -o.threshold if o.minimize else o.threshold
            continue
        if len(front) == 0:
            ref[j] = -math.inf
            continue
        lo, hi = float(front[:, j].min()), float(front[:, j].max())
        span = hi - lo if hi > lo else (abs(lo) or 1.0)
        ref[j] = lo - 0.1 * span
    return ref
