r"""The GP surrogate: the one place that builds, fits and repairs the GP.

`make_tw_gp` builds BoTorch's `SingleTaskGP` with a tree-Wasserstein covariance (and
`make_categorical_gp` the Hamming-kernel baseline); `fit_tw_gp` fits any such model by
marginal likelihood the way every strategy of bo-nas does: warm start, a subset fit then
conditioning on all points for large data sets, the jitter → previous → default ladder
when the covariance does not factorise, one thread for small fits, and every random draw
from the caller's generator.
"""

from __future__ import annotations

import copy
import logging
import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from botorch.models.kernels import CategoricalKernel
from botorch.models.transforms.outcome import Standardize
from gpytorch.kernels import MaternKernel, ScaleKernel
from gpytorch.means import Mean
from gpytorch.mlls import ExactMarginalLogLikelihood
from gpytorch.priors import LogNormalPrior
from gpytorch.utils.warnings import NumericalWarning

from bo_nas._threads import torch_threads
from bo_nas.kernels import TreeWassersteinKernel

logger = logging.getLogger(__name__)

#: Hyper-parameters are fitted on at most this many observations by default. A handful of
#: hyper-parameters is well determined by hundreds of points, while each likelihood step on
#: n points costs O(n^2 d) for the kernel and O(n^3) for the solve.
FIT_MAX = 300
# Up to this many points one torch thread is fastest (see `torch_threads`).
_SINGLE_THREAD_MAX = 1000
# Noise floors tried, relative to the prior variance, when the training covariance is
# not numerically positive definite.
_JITTERS = (1e-6, 1e-4, 1e-2)

Hypers = dict[str, Any]


def _check_xy(train_X: torch.Tensor, train_Y: torch.Tensor) -> None:
    if train_X.ndim != 2:
        raise ValueError(f"train_X: expected shape n x d, got {tuple(train_X.shape)}")
    if train_Y.ndim != 2 or train_Y.shape[0] != train_X.shape[0]:
        raise ValueError(
            f"train_Y: expected shape {train_X.shape[0]} x 1, got {tuple(train_Y.shape)}"
        )


class ScoreMean(Mean):
    r"""A prior mean linear in a score held in the last input column:
    :math:`m(x) = c + w\,x_{d}`.

    The TW kernel of a model with this mean reads only the other columns, so the score
    shapes what is expected where nothing has been observed and the kernel models what
    the score misses. Both :math:`c` and :math:`w` are fitted with the kernel; :math:`w`
    starts at 1 (the scores are centred ranks in (-1/2, 1/2), the targets standardised).
    """

    def __init__(self) -> None:
        super().__init__()
        self.register_parameter("constant", torch.nn.Parameter(torch.zeros(1)))
        self.register_parameter("weight", torch.nn.Parameter(torch.ones(1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.constant + self.weight * x[..., -1]


class BudgetMean(Mean):
    r"""Multi-fidelity prior mean, linear in the budget column (and the score):
    :math:`m(x) = c + v\,z + w\,s`.

    :math:`z = \log b / \log R` is the budget input (column ``d``), :math:`s` the prior
    score (the last column, when there is one). The slope :math:`v` carries what every
    architecture gains from more epochs, so the kernel models how architectures differ.
    """

    def __init__(self, column: int, score: bool) -> None:
        super().__init__()
        self.column = column
        self.score = score
        self.register_parameter("constant", torch.nn.Parameter(torch.zeros(1)))
        self.register_parameter("budget_weight", torch.nn.Parameter(torch.zeros(1)))
        if score:
            self.register_parameter("weight", torch.nn.Parameter(torch.ones(1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = self.constant + self.budget_weight * x[..., self.column]
        if self.score:
            m = m + self.weight * x[..., -1]
        return m


def budget_input(epochs: float, max_epochs: float) -> float:
    r"""The budget column of a multi-fidelity GP: :math:`z = \log b / \log R`
    (1 at the final budget; 0 at one epoch)."""
    return math.log(epochs) / math.log(max_epochs) if max_epochs > 1 else 1.0


def make_tw_gp(
    train_X: torch.Tensor,
    train_Y: torch.Tensor,
    block_sizes: Sequence[int],
    *,
    train_Yvar: torch.Tensor | None = None,
    score_mean: bool = False,
    budget: bool = False,
) -> SingleTaskGP:
    r"""`SingleTaskGP` with covariance `ScaleKernel(TreeWassersteinKernel)`.

    Outcomes are standardised (``Standardize(m=1)``); lengthscales carry a
    ``LogNormal(0, 1)`` prior (median 1, the scale of a normalised TW block) and start
    at 1.

    Args:
        train_X: `n x d` TW features (``TWEncoder.encode``); with ``score_mean``,
            `n x (d + 1)`: the features, then a prior score.
        train_Y: `n x 1` objective values (higher is better for BoTorch acquisitions).
        block_sizes: The encoder's ``block_sizes``.
        train_Yvar: Optional `n x 1` known noise variances.
        score_mean: Use `ScoreMean` on the last column (the kernel ignores it) instead
            of a constant mean.
        budget: Multi-fidelity: column ``d`` (after the features, before a score) is
            the budget input :math:`z` (`budget_input`); the covariance becomes
            :math:`k_{TW}(x, x')\,k_{5/2}(z, z')` (a Matérn kernel on :math:`z`: results
            at nearby budgets agree, at distant ones less) and the mean `BudgetMean`.

    Example:
        >>> enc = NB201Space().encoder()                         # doctest: +SKIP
        >>> X = torch.as_tensor(enc.encode(archs))
        >>> gp = fit_tw_gp(make_tw_gp(X, y.unsqueeze(-1), enc.block_sizes))
    """
    _check_xy(train_X, train_Y)
    d = sum(int(b) for b in block_sizes)
    extra = int(score_mean) + int(budget)
    if train_X.shape[-1] != d + extra:
        what = " plus the budget" if budget else ""
        what += " plus the score" if score_mean else ""
        raise ValueError(
            f"train_X: expected {d + extra} columns (block_sizes sum {d}{what}), "
            f"got {train_X.shape[-1]}"
        )
    base = TreeWassersteinKernel(
        block_sizes, lengthscale_prior=LogNormalPrior(0.0, 1.0), extra_columns=extra
    ).to(train_X)
    base.lengthscale = torch.ones_like(base.lengthscale)
    covar: Any = base
    mean: Mean | None = ScoreMean().to(train_X) if score_mean else None
    if budget:
        over_budget = MaternKernel(nu=2.5, active_dims=(d,),
                                   lengthscale_prior=LogNormalPrior(0.0, 1.0)).to(train_X)
        over_budget.lengthscale = torch.ones_like(over_budget.lengthscale)
        covar = base * over_budget
        mean = BudgetMean(d, score_mean).to(train_X)
    return SingleTaskGP(
        train_X,
        train_Y,
        train_Yvar=train_Yvar,
        covar_module=ScaleKernel(covar).to(train_X),
        mean_module=mean,
        outcome_transform=Standardize(m=train_Y.shape[-1]),
    )


def make_categorical_gp(
    train_X: torch.Tensor, train_Y: torch.Tensor, *, budget: bool = False
) -> SingleTaskGP:
    """`SingleTaskGP` with BoTorch's Hamming `CategoricalKernel` on op indices per slot:
    the baseline a BoTorch user would build without TW. ``budget``: the last column is
    the budget input, as in `make_tw_gp`."""
    _check_xy(train_X, train_Y)
    d = train_X.shape[-1] - int(budget)
    base: Any = CategoricalKernel(ard_num_dims=d, active_dims=tuple(range(d)) if budget
                                  else None)
    mean = None
    if budget:
        base = base * MaternKernel(nu=2.5, active_dims=(d,),
                                   lengthscale_prior=LogNormalPrior(0.0, 1.0))
        mean = BudgetMean(d, False)
    return SingleTaskGP(
        train_X, train_Y, covar_module=ScaleKernel(base).to(train_X),
        mean_module=None if mean is None else mean.to(train_X),
        outcome_transform=Standardize(m=train_Y.shape[-1]),
    )


def fit_tw_gp(
    model: SingleTaskGP,
    *,
    warm_start: Mapping[str, Any] | None = None,
    generator: torch.Generator | None = None,
    max_fit_points: int = FIT_MAX,
    optimise: bool = True,
) -> SingleTaskGP:
    r"""Fit the GP's hyper-parameters by marginal likelihood and return a usable model.

    * Warm start: ``warm_start`` (what `gp_hyperparameters` returned for an earlier fit)
      is loaded first when its values are finite and fit this model.
    * Large data: with more than ``max_fit_points`` observations the hyper-parameters
      are fitted on a random subset (drawn from ``generator``) and the returned model
      conditions on all observations, so a fit on 5,000 points costs about what one on
      ``max_fit_points`` does, plus one factorisation of the full covariance.
    * Never raises: whatever the data (duplicate inputs, constant targets, one point,
      extreme hyper-parameters), when the training covariance
      :math:`K + \sigma^2 I` cannot be factorised the noise floor is raised step by
      step (:math:`\sigma^2 \ge j \cdot \overline{\mathrm{diag}\,K}` for
      :math:`j \in \{10^{-6}, 10^{-4}, 10^{-2}\}`), then the warm-start
      hyper-parameters are restored, then the values the model came with (the
      defaults of `make_tw_gp`); each step is logged.
    * Reproducible: BoTorch restarts a failed optimisation from prior samples drawn with
      torch's global generator; it is forked and seeded from ``generator`` (a fixed
      seed when ``None``), so fits repeat and the caller's global state is untouched.
    * ``optimise=False`` keeps the warm-start hyper-parameters (a model conditioned on
      new data with an earlier fit's hyper-parameters) and only makes the model usable.

    Args:
        model: An unfitted `SingleTaskGP` (e.g. from `make_tw_gp`).
        warm_start: Raw hyper-parameters to start from, or ``None``.
        generator: Source of the subset and of the forked global seed.
        max_fit_points: Size of the subset the hyper-parameters are fitted on.
        optimise: Run the marginal-likelihood optimisation; without a usable warm start
            it runs whatever this says.

    Returns:
        The fitted model in eval mode: ``model`` itself, or a rebuilt copy with default
        hyper-parameters when nothing else gave a usable posterior. Use the returned one.
    """
    if isinstance(max_fit_points, bool) or not isinstance(max_fit_points, int) \
            or max_fit_points < 1:
        raise ValueError(f"max_fit_points: expected an integer >= 1, got {max_fit_points!r}")
    gen = generator if generator is not None else torch.Generator().manual_seed(0)
    defaults = copy.deepcopy(model)
    previous = _finite(warm_start)
    loaded = load_hyperparameters(model, previous)
    n = len(model.train_targets)
    if not optimise and loaded and previous is not None and _covers(model, previous):
        model.eval()
        with torch_threads(1 if n <= _SINGLE_THREAD_MAX else torch.get_num_threads()):
            return _ensure_usable(model, previous, defaults)
    with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.manual_seed(int(torch.randint(2**62, (1,), generator=gen)))
        target = model
        if n > max_fit_points:
            idx = torch.randperm(n, generator=gen)[:max_fit_points].sort().values
            target = copy.deepcopy(model)
            # The subset keeps the full data's standardisation: only hyper-parameters
            # are learnt from it.
            target.set_train_data(
                model.train_inputs[0][idx], model.train_targets[idx], strict=False
            )
        try:
            with torch_threads(1 if min(n, max_fit_points) <= _SINGLE_THREAD_MAX
                               else torch.get_num_threads()):
                target.train()
                fit_gpytorch_mll(ExactMarginalLogLikelihood(target.likelihood, target))
        except Exception as exc:  # a failed fit keeps the warm-start values
            logger.warning("GP fit failed (%s); keeping previous hyper-parameters", exc)
            load_hyperparameters(target, previous)
        if target is not model:
            load_hyperparameters(model, gp_hyperparameters(target))
        model.eval()
        with torch_threads(1 if n <= _SINGLE_THREAD_MAX else torch.get_num_threads()):
            return _ensure_usable(model, previous, defaults)


def gp_hyperparameters(model: SingleTaskGP) -> Hypers:
    """The fitted raw hyper-parameters, JSON-compatible (the outcome transform excluded):
    what `fit_tw_gp` takes as ``warm_start`` and a strategy stores between proposals."""
    return {
        k: v.detach().cpu().tolist()
        for k, v in model.named_parameters()
        if "outcome_transform" not in k
    }


def load_hyperparameters(model: SingleTaskGP, state: Mapping[str, Any] | None) -> bool:
    """Load raw hyper-parameters saved by `gp_hyperparameters`; ``False`` if they do not
    fit this model (another kernel or feature layout), in which case nothing changes."""
    if not state:
        return False
    try:
        model.load_state_dict(
            {k: torch.tensor(v, dtype=torch.float64) for k, v in state.items()}, strict=False
        )
    except (RuntimeError, KeyError, TypeError, ValueError) as exc:
        logger.debug("warm start skipped: %s", exc)
        return False
    return True


def _covers(model: SingleTaskGP, state: Mapping[str, Any]) -> bool:
    """Whether ``state`` holds every hyper-parameter of ``model`` (a partial load leaves
    some at their defaults: such a model must be fitted)."""
    return all(k in state for k, _ in model.named_parameters() if "outcome_transform" not in k)


def _finite(state: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """``state`` when every value is finite, else ``None`` (a diverged fit is no start)."""
    if not state:
        return None
    try:
        ok = all(bool(torch.isfinite(torch.as_tensor(v, dtype=torch.float64)).all())
                 for v in state.values())
    except (TypeError, ValueError, RuntimeError):
        ok = False
    if not ok:
        logger.warning("stored GP hyper-parameters are not finite; starting from defaults")
    return state if ok else None


def _usable(model: SingleTaskGP) -> bool:
    """Whether the posterior can be computed: the training covariance factorises (GPyTorch
    adds up to 1e-6 of jitter itself before it gives up) and the predictions at a few
    training inputs are finite. Builds the model's prediction caches (the one Cholesky
    factorisation of the training covariance), which the selection then reuses."""
    X = model.train_inputs[0]
    Y = model.outcome_transform.untransform(model.train_targets.view(-1, 1))[0]
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # GPyTorch's warnings that it clamped negative variances or added jitter
            # mean the factorisation is dominated by round-off: treat them as failures.
            warnings.simplefilter("error", NumericalWarning)
            post = model.posterior(X[: min(len(X), 8)])
            mean, var = post.mean, post.variance
    except (RuntimeError, ValueError, NumericalWarning) as exc:  # NotPSDError: RuntimeError
        logger.debug("GP posterior failed: %s", exc)
        return False
    if not (torch.isfinite(mean).all() and torch.isfinite(var).all()):
        return False
    # At training inputs the posterior mean stays near the data; far outside it the
    # solve has amplified round-off (a near-singular covariance that still factorised).
    spread = float(Y.max() - Y.min()) + float(Y.abs().max()) * 1e-3 + 1e-9
    return bool(((mean >= Y.min() - 10 * spread) & (mean <= Y.max() + 10 * spread)).all())


def _ensure_usable(
    model: SingleTaskGP, previous: Mapping[str, Any] | None, defaults: SingleTaskGP
) -> SingleTaskGP:
    """``model``, or a repaired GP on the same data whose posterior is usable.

    Escalation: raise the noise floor through ``_JITTERS`` relative to the mean prior
    variance; then restore the ``previous`` hyper-parameters; then the ``defaults``
    model with the largest jitter. Each step is logged.
    """
    if _usable(model):
        return model
    candidates: list[tuple[str, SingleTaskGP]] = [("fitted", model)]
    if previous is not None:
        restored = copy.deepcopy(defaults)
        if load_hyperparameters(restored, previous):
            candidates.append(("previous", restored))
    candidates.append(("default", defaults))
    for label, m in candidates:
        m.eval()
        if label != "fitted" and _usable(m):
            logger.warning(
                "GP covariance not positive definite; fell back to the %s hyper-parameters",
                label,
            )
            return m
        with torch.no_grad():
            scale = m.covar_module(m.train_inputs[0][:1]).to_dense().mean().abs()
            scale = float(scale) if torch.isfinite(scale) and scale > 0 else 1.0
        for j in _JITTERS:
            floor = j * scale
            with torch.no_grad():
                m.likelihood.noise = torch.clamp_min(m.likelihood.noise, floor)
            m.train()  # drops the prediction caches built with the old noise
            m.eval()
            if _usable(m):
                logger.warning(
                    "GP covariance not positive definite with the %s hyper-parameters; "
                    "raised the noise floor to %.1e (jitter)",
                    label,
                    floor,
                )
                return m
        logger.warning(
            "GP covariance not positive definite with the %s hyper-parameters even with "
            "jitter %.0e",
            label,
            _JITTERS[-1],
        )
    logger.warning("GP posterior unusable; proceeding with default hyper-parameters")
    return candidates[-1][1]
