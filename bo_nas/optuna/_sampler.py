r"""`TWSampler`: the tree-Wasserstein GP search behind Optuna's sampler interface."""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from optuna.distributions import BaseDistribution, CategoricalDistribution
from optuna.samplers import BaseSampler, RandomSampler
from optuna.study import StudyDirection
from optuna.trial import BaseTrial, FrozenTrial
from optuna.trial import TrialState as OptunaState

from bo_nas._history import History, Trial, TrialState
from bo_nas.encodings import Architecture
from bo_nas.evaluators import EvaluationResult
from bo_nas.objectives import Objective
from bo_nas.spaces import SearchSpace
from bo_nas.strategies import Strategy

from ._params import SpaceParameters, Value, space_parameters

if TYPE_CHECKING:
    from optuna.study import Study

    from bo_nas.zero_cost import ScoreSource

logger = logging.getLogger(__name__)

#: Trial system attribute holding the cell proposed for the trial (choice indices in
#: parameter order). Written before the objective sees the cell, so every thread or
#: process sharing the storage treats the trial as pending on that cell even while its
#: parameters are still being suggested one by one.
PROPOSAL_KEY = "bo_nas:proposal"

# Random completions tried for a trial enqueued with some parameters only, when the
# strategy's proposal with the given values put in is no new cell of the space.
_COMPLETION_TRIES = 200


class TWSampler(BaseSampler):
    r"""Optuna sampler that proposes cells of a bo_nas search space with a bo_nas
    `Strategy`: by default `GPStrategy`, the TW-GP with Thompson sampling.

    Every cell is one assignment of the space's categorical parameters (``edge_1<-0``
    ... ``edge_3<-2`` over ``NB201_OPS`` for NB-201; ``edge_<j><-<i>`` in ``(0, 1)`` and
    ``node_<k>`` over the ops for a `CellSpace`; see `bo_nas.optuna._params`), the
    relative search space of every trial. At each trial's first suggestion the sampler
    rebuilds a bo_nas `History` from the study and asks the strategy for one cell:

    - ``COMPLETE`` trials are results, their value what the surrogate models;
    - ``FAIL`` and ``PRUNED`` trials are failures: never proposed again and not
      modelled (a pruned trial's value is an intermediate one, from fewer epochs than
      the others);
    - ``RUNNING`` and ``WAITING`` trials are pending: parallel trials (``n_jobs``, or
      processes sharing a storage) get distinct cells, and the strategy conditions on
      them as it does in a parallel campaign.

    Values: when every finished value lies in [0, 100] it is read as a percentage, an
    accuracy in a ``maximize`` study, an error (100 - accuracy) in a ``minimize`` one,
    and the strategy models it as a campaign models validation accuracy (the default
    GP target is the log-error :math:`-\log(100.1 - \mathrm{acc})`). A study with other
    values is modelled linearly: the direction-adjusted values are mapped affinely onto
    [0, 100] and a `GPStrategy` models them with ``target="accuracy"``.

    Determinism: ``seed`` fixes every draw (a numpy generator owned by the sampler,
    never global state), so a sequential study with a deterministic objective repeats
    itself, and it proposes the same cells as a `Campaign` with the same strategy
    settings and seed. With ``n_jobs > 1`` Optuna calls `reseed_rng` for every trial,
    so parallel studies do not repeat (as with Optuna's own samplers).

    Enqueued trials (``study.enqueue_trial``) keep the values given; with only some of
    the space's parameters given, the others come from the strategy's proposal (or a
    random completion where that is no new cell). Values outside a parameter's choices
    are refused by Optuna; a complete trial whose parameters are not a cell of the space
    is left out of the model, with a warning. Parameters that are not the space's
    (a learning rate beside the cell) are drawn by ``independent_sampler``.

    Args:
        space: The search space: `NB201Space`, `CellSpace` (`NB101Space`), or a
            `SubsetSpace` / `ConstrainedSpace` of one of them.
        strategy: Decides the cells; `GPStrategy()` (the defaults of a campaign) when
            omitted. The sampler sets it up for ``space`` and owns it from then on.
        seed: Seed of every random choice; ``None`` draws fresh entropy.
        scores: Zero-cost scores of the space's cells for the strategy's prior (e.g.
            ``NB201Benchmark("cifar100").zero_cost()``); ``None``: a search without
            prior, as for any network trained from scratch.
        independent_sampler: Samples parameters outside the space;
            ``RandomSampler(seed)`` when omitted.
        warn_independent_sampling: Log once per parameter that is sampled by
            ``independent_sampler``.

    Raises:
        UnsupportedSpaceError: for a space whose cells are not fixed categoricals.
        ValueError: for a strategy that is not a bo_nas `Strategy` or a bad seed.

    Example:
        >>> import optuna
        >>> from bo_nas.evaluators import NB201Benchmark
        >>> from bo_nas.spaces import NB201Space
        >>> bench = NB201Benchmark("cifar100")                      # doctest: +SKIP
        >>> sampler = TWSampler(NB201Space(), seed=0)
        >>> def objective(trial):
        ...     return bench.evaluate(sampler.suggest(trial)).val_accuracy
        >>> study = optuna.create_study(direction="maximize", sampler=sampler)
        >>> study.optimize(objective, n_trials=50)                  # doctest: +SKIP
    """

    def __init__(
        self,
        space: SearchSpace,
        *,
        strategy: Strategy | None = None,
        seed: int | None = None,
        scores: ScoreSource | None = None,
        independent_sampler: BaseSampler | None = None,
        warn_independent_sampling: bool = True,
    ) -> None:
        if seed is not None and (
            isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0
        ):
            raise ValueError(f"seed: expected a non-negative integer or None, got {seed!r}")
        if strategy is None:
            from bo_nas.strategies import GPStrategy

            strategy = GPStrategy()
        elif not isinstance(strategy, Strategy):
            raise ValueError(
                f"strategy: expected a bo_nas Strategy, got {type(strategy).__name__}"
            )
        if independent_sampler is not None and not isinstance(independent_sampler, BaseSampler):
            raise ValueError(
                "independent_sampler: expected an optuna sampler, got "
                f"{type(independent_sampler).__name__}"
            )
        self.space = space
        self._params: SpaceParameters = space_parameters(space)
        self._distributions = {
            name: CategoricalDistribution(choices)
            for name, choices in self._params.choices.items()
        }
        self._scores = scores
        self.strategy = self._bind(strategy)
        # The strategy's twin for values that are no percentages (built when first needed).
        self._linear: Strategy | None = None
        self._rng = np.random.default_rng(seed)
        self._independent = independent_sampler or RandomSampler(seed=seed)
        self._warn_independent = warn_independent_sampling
        # One proposal at a time: the strategy's state (warm starts, caches) and the
        # generator are shared by every thread of an ``n_jobs`` study, and the next
        # proposal must see the previous one as pending.
        self._lock = threading.RLock()
        self._warned: set[tuple[str, int | str]] = set()

    # --- what a user calls ---------------------------------------------------------------

    @property
    def param_names(self) -> tuple[str, ...]:
        """The space's parameter names, in the order `suggest` asks for them."""
        return self._params.names

    @property
    def distributions(self) -> dict[str, CategoricalDistribution]:
        """The space's parameters: name -> `CategoricalDistribution` (a copy)."""
        return dict(self._distributions)

    def suggest(self, trial: BaseTrial) -> Architecture:
        """Suggest every parameter of the space in ``trial`` and return the cell.

        Raises:
            InvalidArchitectureError: when the trial's values are not a cell of the
                space (an enqueued assignment over a `CellSpace`'s edge budget).
        """
        return suggest_architecture(trial, self.space)

    def architecture(self, params: Mapping[str, Any]) -> Architecture:
        """The cell of a trial's parameters (``trial.params``, ``study.best_params``).

        Raises:
            InvalidArchitectureError: when they are not a cell of the space.
        """
        return self._params.decode(params)

    def params(self, arch: Architecture) -> dict[str, Value]:
        """The parameters of a cell of the space (what ``enqueue_trial`` takes)."""
        return self._params.encode(arch)

    # --- the sampler protocol -----------------------------------------------------------

    def infer_relative_search_space(
        self, study: Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        """Every parameter of the space, for every trial (the space is known upfront)."""
        if len(study.directions) != 1:
            raise ValueError(
                f"TWSampler optimises one objective; this study has {len(study.directions)}"
            )
        return dict(self._distributions)

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        """The strategy's next cell as parameter values (none when every cell is taken)."""
        if not search_space:
            return {}
        fixed = {
            name: value
            for name, value in trial.system_attrs.get("fixed_params", {}).items()
            if name in self._distributions
        }
        if len(fixed) == len(self._distributions):
            return {}  # enqueued whole: nothing to decide, no model to fit
        with self._lock:
            history, linear = self._history(study, trial.number)
            strategy = self._linear_twin() if linear else self.strategy
            archs = strategy.propose(history, 1, self._rng)
            if not archs:
                return {}
            params = self._params.encode(archs[0])
            if fixed:
                params = self._complete(params, fixed, history)
            study._storage.set_trial_system_attr(
                trial._trial_id, PROPOSAL_KEY, self._params.indices(params)
            )
        return {name: params[name] for name in search_space if name in params}

    def sample_independent(
        self,
        study: Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        """A parameter outside the space, from ``independent_sampler``."""
        if self._warn_independent and ("param", param_name) not in self._warned:
            self._warned.add(("param", param_name))
            logger.warning(
                "parameter %r is not one of the %s space's (%s): it is sampled by %s. "
                "Pass warn_independent_sampling=False if that is intended.",
                param_name, self.space.name, ", ".join(self._params.names),
                type(self._independent).__name__,
            )
        return self._independent.sample_independent(
            study, trial, param_name, param_distribution
        )

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        self._independent.before_trial(study, trial)

    def after_trial(
        self,
        study: Study,
        trial: FrozenTrial,
        state: OptunaState,
        values: Sequence[float] | None,
    ) -> None:
        """Pass the outcome on to the strategy's `Strategy.after_trial` hook."""
        self._independent.after_trial(study, trial, state, values)
        if type(self.strategy).after_trial is Strategy.after_trial:
            return  # the do-nothing hook: no history to rebuild
        value = values[0] if state is OptunaState.COMPLETE and values else None
        with self._lock:
            history, _ = self._history(study, None, (trial.number, state, value))
            self.strategy.after_trial(history, trial.number)

    def reseed_rng(self) -> None:
        with self._lock:
            self._rng = np.random.default_rng()
        self._independent.reseed_rng()

    # --- internals ----------------------------------------------------------------------

    def _bind(self, strategy: Strategy) -> Strategy:
        """``strategy`` set up as a `Campaign` sets one up: one objective, no fidelity."""
        strategy.setup(self.space)
        strategy.use_scores(self._scores)
        strategy.use_objectives((Objective("val_accuracy"),))
        strategy.use_fidelity(None)
        return strategy

    def _linear_twin(self) -> Strategy:
        """The strategy that models values linearly: a `GPStrategy` with
        ``target="accuracy"``; any other strategy only ranks values, so itself."""
        from bo_nas.strategies import GPStrategy

        strategy = self.strategy
        if not isinstance(strategy, GPStrategy) or strategy.settings.target == "accuracy":
            return strategy
        if self._linear is None:
            settings = dataclasses.replace(strategy.settings, target="accuracy")
            self._linear = self._bind(GPStrategy(settings, name=strategy.name))
        return self._linear

    def _history(
        self,
        study: Study,
        current: int | None,
        outcome: tuple[int, OptunaState, float | None] | None = None,
    ) -> tuple[History, bool]:
        """The study as a bo_nas history (the trial being sampled left out), and whether
        its values are modelled linearly (not all of them percentages).

        Args:
            study: The study.
            current: Number of the trial being sampled, or ``None``.
            outcome: ``(number, state, value)`` of a trial whose outcome the storage
                does not hold yet (`after_trial`).
        """
        rows: list[tuple[int, Architecture, TrialState, float | None]] = []
        for t in study.get_trials(deepcopy=False):
            if t.number == current:
                continue
            state, value = t.state, t.value if t.state is OptunaState.COMPLETE else None
            if outcome is not None and t.number == outcome[0]:
                state, value = outcome[1], outcome[2]
            if state is OptunaState.COMPLETE:
                arch = self._params.try_decode(t.params)
                if arch is None:
                    self._warn_outside(t)
                    continue
                if value is None or not math.isfinite(value):
                    rows.append((t.number, arch, TrialState.FAILED, None))
                else:
                    rows.append((t.number, arch, TrialState.COMPLETE, float(value)))
                continue
            arch = self._cell_of(t)
            if arch is None:
                continue  # nothing known of its cell: it cannot be avoided nor modelled
            failed = state in (OptunaState.FAIL, OptunaState.PRUNED)
            rows.append((t.number, arch, TrialState.FAILED if failed else TrialState.PENDING,
                         None))
        maximize = study.direction is StudyDirection.MAXIMIZE
        accuracies, linear = _accuracies([v for *_, v in rows if v is not None], maximize)
        found = iter(accuracies)
        trials = []
        for number, arch, state, value in rows:
            if value is None:
                error = f"optuna trial {number} failed or was pruned" \
                    if state is TrialState.FAILED else None
                trials.append(Trial(number, arch, state, error=error))
            else:
                result = EvaluationResult(val_accuracy=next(found))
                trials.append(Trial(number, arch, state, result))
        return History(trials), linear

    def _cell_of(self, trial: FrozenTrial) -> Architecture | None:
        """The cell of an unfinished or failed trial: what it has suggested so far over
        what was enqueued over what this sampler proposed."""
        proposal = self._params.from_indices(trial.system_attrs.get(PROPOSAL_KEY)) or {}
        fixed = trial.system_attrs.get("fixed_params") or {}
        return self._params.try_decode({**proposal, **fixed, **trial.params})

    def _complete(
        self, params: dict[str, Value], fixed: Mapping[str, Any], history: History
    ) -> dict[str, Value]:
        """A partly enqueued trial: the given values in the proposal's place, or, when
        that is no new cell, a random completion that is."""
        seen = history.keys
        merged = {**params, **fixed}
        arch = self._params.try_decode(merged)
        if arch is not None and arch.key not in seen:
            return merged
        free = [n for n in self._params.names if n not in fixed]
        for _ in range(_COMPLETION_TRIES):
            draw = dict(merged)
            for name in free:
                options = self._params.choices[name]
                draw[name] = options[int(self._rng.integers(len(options)))]
            arch = self._params.try_decode(draw)
            if arch is not None and arch.key not in seen:
                return draw
        return merged

    def _warn_outside(self, trial: FrozenTrial) -> None:
        if ("trial", trial.number) in self._warned:
            return
        self._warned.add(("trial", trial.number))
        try:
            self._params.decode(trial.params)
        except ValueError as exc:
            logger.warning("trial %d is left out of the model: %s", trial.number, exc)


def _accuracies(values: Sequence[float], maximize: bool) -> tuple[list[float], bool]:
    r"""What the strategy sees of the study's values, as accuracies (%), and whether they
    were mapped linearly.

    Percentages (every value in [0, 100]) are accuracies (``maximize``) or errors;
    otherwise the direction-adjusted values :math:`u` become
    :math:`100 (u - \min u) / (\max u - \min u)` (50 when all are equal).
    """
    if all(0.0 <= v <= 100.0 for v in values):
        return [v if maximize else 100.0 - v for v in values], False
    signed = [v if maximize else -v for v in values]
    low, high = min(signed), max(signed)
    if high == low:
        return [50.0] * len(signed), True
    return [min(100.0 * (u - low) / (high - low), 100.0) for u in signed], True


def suggest_architecture(trial: BaseTrial, space: SearchSpace) -> Architecture:
    """Suggest every parameter of ``space`` in ``trial`` and return the cell.

    Works with any sampler (TPE, random, `TWSampler`): one ``suggest_categorical`` per
    parameter, names and choices as `TWSampler` documents them.

    Raises:
        UnsupportedSpaceError: for a space whose cells are not fixed categoricals.
        InvalidArchitectureError: when the suggested values are not a cell of the space.
    """
    params = space_parameters(space)
    values = {
        name: trial.suggest_categorical(name, choices)
        for name, choices in params.choices.items()
    }
    return params.decode(values)
