"""`Campaign`: ask/tell over a search space, persisted as it happens."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from pathlib import Path
from typing import Any

import numpy as np

from bo_nas._front import pareto_front
from bo_nas._history import History, Trial, TrialState
from bo_nas._incumbent import IncumbentKey
from bo_nas._summary import search_curve
from bo_nas.encodings import Architecture
from bo_nas.evaluators import (
    Budget,
    EvaluationError,
    EvaluationResult,
    Evaluator,
    InvalidResultError,
)
from bo_nas.fidelity import FidelitySchedule, schedule_from_config
from bo_nas.objectives import (
    Constraint,
    Objective,
    feasible,
    parse_constraints,
    parse_objectives,
)
from bo_nas.spaces import ConstrainedSpace, SearchSpace, distinct_networks
from bo_nas.strategies import Strategy

from ._executors import ClockedExecutor, InlineExecutor, wait_futures
from ._store import CampaignStore, StoreError, encode_result, strict_json
from ._task import _evaluate

logger = logging.getLogger(__name__)


class Campaign:
    r"""A search: proposals from a strategy, results from an evaluator, all in a store.

    ``ask`` and ``tell`` are the primitives; ``run`` loops them over an executor. Every
    proposal and every result is committed to the store as it happens, so a campaign
    killed at any point continues with `Campaign.resume`, losing nothing and
    evaluating nothing twice; with the same seed the sequence of proposals is the same
    with or without the interruption.

    Args:
        space: The search space.
        evaluator: Measures architectures (tabular benchmark or training).
        strategy: Decides what to evaluate.
        seed: Fixes every random choice of the campaign.
        store: Path of the SQLite store to create; ``None`` keeps it in memory.
        max_retries: Evaluations re-run after a failure before the trial is recorded as
            failed (a worker that died counts as a failure).
        objectives: What to optimise: `Objective`\ s or their text (``"val_accuracy"``,
            ``"edgegpu_latency:min"``); ``val_accuracy`` alone by default. With several,
            the campaign keeps a Pareto front (`pareto_front`).
        constraints: `Constraint`\ s or their text (``"params<=1.0"``). One on a cost
            the evaluator knows before evaluating (`Evaluator.known_costs`) is hard: the
            space the strategy searches holds only cells that meet it, so nothing that
            violates it is ever proposed, and a constraint no cell meets is an error
            here. Others are modelled by the strategy (the GP estimates the probability
            of meeting them); `best` and `pareto_front` count only trials that meet
            every constraint.
        fidelity: A promotion rule (`bo_nas.fidelity.ASHA`, `Hyperband`, or its name)
            for a multi-fidelity campaign: each new architecture trains to the first
            rung, and whenever a worker frees up a paused trial the rule promotes
            continues (from its checkpoint) before a new architecture is proposed. The
            evaluator must offer fidelities (`Evaluator.fidelities`). ``budget`` then
            counts architectures; ``best`` counts only trials that reached the final
            budget. Checkpoints live in ``<store>.checkpoints/`` (a temporary folder for
            an in-memory store) and are deleted once a trial is final or failed, and,
            for paused trials, when `run` ends. One objective only, for now.

    Example:
        >>> campaign = Campaign(NB201Space(), NB201Benchmark("cifar10"), GPStrategy(),
        ...                     seed=0, store="run.sqlite")          # doctest: +SKIP
        >>> campaign.run(budget=100)                                  # doctest: +SKIP
        >>> campaign.best.arch, campaign.best.result.test_accuracy    # doctest: +SKIP
    """

    def __init__(
        self,
        space: SearchSpace,
        evaluator: Evaluator,
        strategy: Strategy,
        *,
        seed: int = 0,
        store: str | os.PathLike[str] | None = None,
        max_retries: int = 0,
        objectives: Sequence[Objective | str] | None = None,
        constraints: Sequence[Constraint | str] | None = None,
        fidelity: FidelitySchedule | str | dict[str, Any] | None = None,
        _store: CampaignStore | None = None,
    ) -> None:
        if not isinstance(space, SearchSpace):
            raise ValueError(f"space: expected a SearchSpace, got {type(space).__name__}")
        if not isinstance(evaluator, Evaluator):
            raise ValueError(f"evaluator: expected an Evaluator, got {type(evaluator).__name__}")
        if not isinstance(strategy, Strategy):
            raise ValueError(f"strategy: expected a Strategy, got {type(strategy).__name__}")
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
            raise ValueError(f"seed: expected a non-negative integer, got {seed!r}")
        if not isinstance(max_retries, int) or max_retries < 0:
            raise ValueError(f"max_retries: expected an integer >= 0, got {max_retries!r}")
        self.objectives = parse_objectives(objectives)
        self.constraints = parse_constraints(constraints)
        self.evaluator = evaluator
        self.strategy = strategy
        self.seed = int(seed)
        self.max_retries = max_retries
        known = evaluator.known_costs() if (self.constraints or len(self.objectives) > 1) \
            else None
        names = set(known.names) if known is not None else set()
        hard = tuple(c for c in self.constraints if c.metric in names)
        #: Constraints on costs known only after evaluating: modelled by the strategy.
        self.outcome_constraints = tuple(c for c in self.constraints if c.metric not in names)
        # A constraint nothing meets fails here, before a store is written.
        self.space = ConstrainedSpace(space, hard, known) if hard else space  # type: ignore[arg-type]
        self.fidelity = self._fidelity(fidelity, evaluator)
        if len(self.objectives) > 1 and not strategy.multi_objective:
            logger.warning(
                "strategy %r optimises val_accuracy only; the other objectives (%s) are "
                "recorded and make up the Pareto front", strategy.name,
                ", ".join(str(o) for o in self.objectives if o.metric != "val_accuracy"),
            )
        if _store is None:
            config = {
                "space": space.to_config(),
                "evaluator": evaluator.to_config(),
                "strategy": strategy.to_config(),
                "seed": self.seed,
                "max_retries": max_retries,
            }
            if objectives is not None and self.objectives != parse_objectives(None):
                config["objectives"] = [o.to_config() for o in self.objectives]
            if self.constraints:
                config["constraints"] = [c.to_config() for c in self.constraints]
            if self.fidelity is not None:
                config["fidelity"] = self.fidelity.to_config()
            _store = CampaignStore(":memory:" if store is None else store, config)
        self.store = _store
        self._rng = np.random.default_rng(self.seed)
        state = self.store.rng_state
        if state is not None:
            self._rng.bit_generator.state = state
        strategy.setup(self.space)
        strategy.use_scores(evaluator.zero_cost())
        strategy.use_objectives(self.objectives, self.outcome_constraints, known)
        strategy.use_fidelity(self.fidelity.rungs if self.fidelity is not None else None)
        strategy.set_state(self.store.strategy_state)
        self._checkpoints: Path | None = None
        self._own_checkpoints = False
        self._trials: list[Trial] = list(self.store.trials())
        # Per future in flight: [submission time, completion time or None] (monotonic).
        self._clock: dict[Future[Any], list[float | None]] = {}

    # --- construction -------------------------------------------------------------------

    @classmethod
    def resume(
        cls,
        path: str | os.PathLike[str],
        *,
        evaluator: Evaluator | None = None,
        strategy: Strategy | None = None,
    ) -> Campaign:
        """Reopen a store and continue where it stopped.

        The space, evaluator and strategy are rebuilt from the stored configuration
        unless given (pass your own evaluator when it is not one bo-nas can rebuild).
        """
        from bo_nas._registry import evaluator_from_config, strategy_from_config
        from bo_nas.spaces import space_from_config

        store = CampaignStore(path)
        try:
            config = store.config
            space = space_from_config(config["space"])
            evaluator = evaluator or evaluator_from_config(config["evaluator"])
            strategy = strategy or strategy_from_config(config["strategy"])
            return cls(
                space, evaluator, strategy, seed=config["seed"],
                max_retries=config.get("max_retries", 0),
                objectives=config.get("objectives"), constraints=config.get("constraints"),
                fidelity=config.get("fidelity"), _store=store,
            )
        except BaseException:
            store.close()
            raise

    def close(self) -> None:
        """Release the store (and its lock); an in-memory campaign's checkpoints go."""
        self.store.close()
        if self._own_checkpoints and self._checkpoints is not None:
            shutil.rmtree(self._checkpoints, ignore_errors=True)
            self._checkpoints = None

    def _fidelity(
        self, fidelity: FidelitySchedule | str | dict[str, Any] | None, evaluator: Evaluator
    ) -> FidelitySchedule | None:
        if fidelity is None:
            return None
        if not isinstance(fidelity, FidelitySchedule):
            fidelity = schedule_from_config(fidelity)
        budgets = evaluator.fidelities()
        if not budgets:
            raise ValueError(
                f"fidelity: evaluator {type(evaluator).__name__} evaluates at full "
                "fidelity only (it offers no fidelities); run without a fidelity schedule"
            )
        if len(self.objectives) > 1 or self.outcome_constraints:
            raise ValueError(
                "fidelity: a multi-fidelity campaign optimises val_accuracy alone for now "
                "(no further objectives, no constraints on measured costs)"
            )
        fidelity.setup(budgets)
        return fidelity

    @property
    def checkpoint_dir(self) -> Path:
        """Where a multi-fidelity campaign's evaluators keep training states."""
        if self._checkpoints is None:
            if self.store.path == Path(":memory:"):
                self._checkpoints = Path(tempfile.mkdtemp(prefix="bo-nas-checkpoints-"))
                self._own_checkpoints = True
            else:
                self._checkpoints = self.store.path.with_name(
                    self.store.path.name + ".checkpoints"
                )
        return self._checkpoints

    def _checkpoint(self, number: int) -> Path:
        return self.checkpoint_dir / f"trial-{number}.pt"

    def _drop_checkpoint(self, number: int) -> None:
        if self.fidelity is None or (
            self._checkpoints is None and self.store.path == Path(":memory:")
        ):
            return  # nothing was ever written
        with contextlib.suppress(OSError):
            self._checkpoint(number).unlink(missing_ok=True)

    def __enter__(self) -> Campaign:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- views --------------------------------------------------------------------------

    @property
    def history(self) -> History:
        return History(self._trials)

    @property
    def best(self) -> Trial | None:
        """The complete trial with the best validation accuracy among those that meet
        every constraint."""
        if not self.outcome_constraints:
            return self.history.best()
        ok = [t for t in self.history.complete
              if feasible(t.result, self.outcome_constraints)]  # type: ignore[arg-type]
        return History(ok).best()

    @property
    def pareto_front(self) -> list[Trial]:
        """The complete trials that meet every constraint and that no other such trial
        dominates in the campaign's objectives, by trial number (`pareto_front`). With
        one objective: the best trial (and any with the same value)."""
        return pareto_front(self.history, self.objectives, self.constraints)

    def trial(self, number: int) -> Trial:
        """The trial numbered ``number`` (0 to ``len(history) - 1``).

        Raises:
            ValueError: for anything but an integer in that range.
        """
        if isinstance(number, bool) or not isinstance(number, (int, np.integer)):
            raise ValueError(
                f"trial: expected a Trial or a trial number, got {type(number).__name__} "
                f"{number!r}"
            )
        if not 0 <= number < len(self._trials):
            raise ValueError(
                f"no trial number {number} (this campaign has trials 0 to "
                f"{len(self._trials) - 1})" if self._trials else
                f"no trial number {number} (this campaign has no trials yet)"
            )
        return self._trials[int(number)]

    # --- ask / tell ---------------------------------------------------------------------

    def ask(self, n: int = 1) -> list[Trial]:
        """Propose ``n`` architectures (pending ones are taken into account).

        The proposals are committed as pending trials before they are returned. Fewer
        than ``n`` come back only when the strategy finds no new architecture.
        """
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"n: expected an integer >= 1, got {n!r}")
        promoted = self._promote(n) if self.fidelity is not None else []
        return promoted + (self._propose(n - len(promoted)) if n > len(promoted) else [])

    def _promote(self, n: int) -> list[Trial]:
        """Multi-fidelity: up to ``n`` paused trials the schedule promotes, now pending
        at their next budget (committed first)."""
        assert self.fidelity is not None
        return self._promote_now(self.fidelity.promotions(self.history, n))

    def _promote_now(self, promotions: list[tuple[int, int]]) -> list[Trial]:
        if not promotions:
            return []
        self.store.promote(promotions)
        out = []
        for number, budget in promotions:
            t = self._trials[number]
            new = Trial(t.number, t.arch, TrialState.PENDING, t.result, None, 0, budget, t.rungs)
            self._trials[number] = new
            out.append(new)
            logger.info("trial %d promoted to %d epochs", number, budget)
        return out

    def _propose(self, n: int) -> list[Trial]:
        """New architectures from the strategy, committed as pending trials."""
        history = self.history
        # Snapshot what `propose` advances: if the commit below fails (disk full,
        # read-only store), memory is rolled back to what the store holds, so a retry
        # in this process proposes what a resumed campaign would.
        rng_before = self._rng.bit_generator.state
        strategy_before = self.strategy.get_state()
        try:
            archs = self.strategy.propose(history, n, self._rng)
        except BaseException:
            self._rng.bit_generator.state = rng_before
            self.strategy.set_state(strategy_before)
            raise
        seen = set(history.keys)
        unique: list[Architecture] = []
        for a in archs[:n]:
            self.space.validate(a)
            if a.key in seen:
                raise StoreError(
                    f"strategy {self.strategy.name!r} proposed {a!r}, already in the campaign"
                )
            seen.add(a.key)
            unique.append(a)
        budgets: list[int | None] = [None] * len(unique)
        if self.fidelity is not None:
            budgets = [self.fidelity.first_budget(len(self._trials) + i)
                       for i in range(len(unique))]
        try:
            numbers = self.store.add_proposals(
                unique, self._rng.bit_generator.state, self.strategy.get_state(), budgets
            )
        except BaseException:
            self._rng.bit_generator.state = rng_before
            self.strategy.set_state(strategy_before)
            raise
        new = [Trial(k, a, TrialState.PENDING, budget=b)
               for k, a, b in zip(numbers, unique, budgets)]
        self._trials.extend(new)
        for t in new:
            logger.debug("proposed trial %d: %r", t.number, t.arch)
        return new

    def tell(
        self, trial: Trial | int, outcome: EvaluationResult | BaseException | str
    ) -> Trial:
        """Record the outcome of a pending trial: a result, or a failure (an exception or
        a message).

        What is kept in memory is exactly what the store holds: the result as strict
        JSON reads it back (tuples in ``info`` become lists, numpy numbers plain ones).
        A call that cannot be stored so raises and changes nothing, in memory or in the
        store; the trial stays pending.

        Args:
            trial: The pending trial, or its number.
            outcome: An `EvaluationResult`; or an exception or a message (text), which
                record the trial as failed.

        Raises:
            ValueError: ``trial`` is not a trial of this campaign, or not pending;
                ``outcome`` is of another type (a bare accuracy is not a result: wrap it
                as ``EvaluationResult(val_accuracy=...)``); or the result holds what
                strict JSON cannot store exactly (`InvalidResultError`: a NaN or
                infinite cost or info value, a non-string key, an object).
            StoreError: the store refused the write (closed, read-only, full disk).
        """
        if isinstance(trial, Trial):
            current = self.trial(trial.number)
            if current.arch.key != trial.arch.key:
                raise ValueError(
                    f"trial {trial.number}: that Trial is not this campaign's (its "
                    f"architecture differs from trial {trial.number}'s here)"
                )
        else:
            current = self.trial(trial)
        number = current.number
        if current.state is not TrialState.PENDING:
            raise ValueError(f"trial {number} is already {current.state.value}")
        if isinstance(outcome, EvaluationResult):
            text = encode_result(outcome)  # InvalidResultError before anything changes
            stored = EvaluationResult.from_dict(json.loads(text))
            if self.fidelity is not None and current.budget is not None:
                budget = current.budget
                final = budget >= self.fidelity.max_epochs
                if not self.store.record_rung(number, budget, text, final=final):
                    raise StoreError(
                        f"store {self.store.path}: trial {number} is not pending there"
                    )
                new = Trial(number, current.arch,
                            TrialState.COMPLETE if final else TrialState.PAUSED, stored, None,
                            current.attempts, budget, {**current.rungs, budget: stored})
                if final:
                    self._drop_checkpoint(number)
                logger.info("trial %d: val %.3f%% at %d epochs", number,
                            stored.val_accuracy, budget)
            else:
                if not self.store.record_result(number, text):
                    raise StoreError(
                        f"store {self.store.path}: trial {number} is not pending there"
                    )
                new = Trial(number, current.arch, TrialState.COMPLETE, stored, None,
                            current.attempts)
                logger.info("trial %d: val %.3f%%", number, stored.val_accuracy)
        elif isinstance(outcome, (str, BaseException)):
            message = (
                outcome if isinstance(outcome, str) else f"{type(outcome).__name__}: {outcome}"
            )
            strict_json(message, "failure message")
            if not self.store.record_failure(number, message):
                raise StoreError(f"store {self.store.path}: trial {number} is not pending there")
            new = Trial(number, current.arch, TrialState.FAILED, None, message,
                        current.attempts, current.budget, current.rungs)
            self._drop_checkpoint(number)
            logger.warning("trial %d failed: %s", number, message)
        else:
            hint = (
                f"; for an accuracy, pass EvaluationResult(val_accuracy={outcome!r})"
                if isinstance(outcome, (int, float)) and not isinstance(outcome, bool)
                else ""
            )
            raise ValueError(
                f"outcome: expected an EvaluationResult, an exception or a failure message, "
                f"got {type(outcome).__name__} {outcome!r:.60}{hint}"
            )
        self._trials[number] = new
        self.strategy.after_trial(self.history, number)
        return new

    # --- the loop -----------------------------------------------------------------------

    def run(
        self,
        budget: int,
        *,
        batch_size: int = 1,
        executor: Executor | None = None,
        asynchronous: bool = False,
        callback: Callable[[Trial], None] | None = None,
        timeout: float | None = None,
        stop_when: Callable[[], bool] | None = None,
    ) -> History:
        """Evaluate until ``budget`` trials have finished (complete or failed).

        In a multi-fidelity campaign (``fidelity=``), until ``budget`` architectures
        have been proposed and the schedule promotes nothing more.

        Args:
            budget: Total finished trials wanted, counting those already in the store.
            batch_size: Evaluations in flight at once.
            executor: Where evaluations run (any ``concurrent.futures.Executor``; the
                evaluator must then be picklable). ``None`` runs them in this process.
                `local_executor` gives a process pool (a worker per GPU or CPU core)
                that replaces itself when a worker dies; `dask_executor` a Dask
                cluster; `SimulatedExecutor` a simulated clock (see `run_simulated`).
            asynchronous: Propose a new architecture whenever one evaluation finishes
                (conditioning on the pending ones) instead of waiting for the batch.
            callback: Called with each finished trial (progress display).
            timeout: Seconds one evaluation may take, counted from its submission
                (keep ``batch_size`` at most the executor's worker count, or queued
                tasks use up their time waiting). A late evaluation is recorded as a
                failed attempt with reason ``"timeout: ..."`` (and retried while
                ``max_retries`` allows); its result, should it arrive, is ignored.
                ``concurrent.futures`` cannot stop a running task: in a process pool
                the worker stays busy until the evaluation returns, and the default
                in-process executor cannot interrupt at all (the evaluation runs to
                its end and is then failed if it took too long). Evaluators that can
                hang should enforce their own limit as well. Wall-clock time; not
                applied by executors that keep a simulated clock.
            stop_when: Checked before each new submission: once it returns true, the
                run stops, leaving evaluations still in flight pending in the store (a
                time limit, e.g. ``lambda: time.time() > deadline``; `run_simulated`'s
                ``horizon``).

        Returns:
            The history. Pending trials left by an interruption are evaluated first
            (in a synchronous campaign, as a batch of their own before any new
            proposal, so that the proposals equal those of an uninterrupted run).
        """
        if not isinstance(budget, int) or budget < 0:
            raise ValueError(f"budget: expected a non-negative integer, got {budget!r}")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size: expected an integer >= 1, got {batch_size!r}")
        if timeout is not None and (
            isinstance(timeout, bool)
            or not isinstance(timeout, (int, float))
            or not timeout > 0
            or not math.isfinite(timeout)
        ):
            raise ValueError(f"timeout: expected a number of seconds > 0, got {timeout!r}")
        budget = self._bounded(budget)
        pool = executor or InlineExecutor()
        in_flight: dict[Future[dict[str, Any]], int] = {}
        # Multi-fidelity campaigns are asynchronous: a promotion waits for no batch.
        asynchronous = asynchronous or self.fidelity is not None
        ended = False
        try:
            while True:
                if stop_when is not None and stop_when():
                    break
                history = self.history
                finished = len(history.complete) + len(history.failed)
                if finished >= budget and not in_flight and self.fidelity is None:
                    ended = True
                    break
                if not in_flight or asynchronous:
                    self._fill(in_flight, pool, budget, batch_size, asynchronous=asynchronous)
                if not in_flight:
                    # Nothing left to propose (or, with fidelities, nothing to promote).
                    ended = True
                    break
                done = self._wait(pool, in_flight, asynchronous, timeout)
                for fut in sorted(done, key=lambda f: in_flight[f]):
                    number = in_flight.pop(fut)
                    trial = self._collect(number, fut, pool, in_flight, timeout)
                    if trial is not None and callback is not None:
                        callback(trial)
        finally:
            for fut in in_flight:
                fut.cancel()
            self._clock.clear()
        if ended and self.fidelity is not None:
            # Promotions are over for this budget: the paused trials' states go.
            for t in self.history.paused:
                self._drop_checkpoint(t.number)
        return self.history

    def _bounded(self, budget: int) -> int:
        """``budget``, clamped to the distinct networks of the space (with a warning)."""
        size = distinct_networks(self.space)
        if size is not None and budget > size:
            logger.warning(
                "budget %s is more than the %s distinct networks of the %s space; "
                "clamped to %s", f"{budget:,}", f"{size:,}", self.space.name, f"{size:,}",
            )
            return size
        return budget

    def _wait(
        self,
        pool: Executor,
        in_flight: dict[Future[dict[str, Any]], int],
        asynchronous: bool,
        timeout: float | None,
    ) -> set[Future[dict[str, Any]]]:
        """Futures to collect now: the finished ones, plus those past their deadline."""
        return_when = FIRST_COMPLETED if asynchronous else "ALL_COMPLETED"
        if timeout is None or isinstance(pool, ClockedExecutor):
            done, _ = wait_futures(pool, list(in_flight), return_when=return_when)
            return done
        first_deadline = min(self._clock[f][0] for f in in_flight) + timeout  # type: ignore[operator]
        done_list, _ = wait(
            list(in_flight),
            timeout=max(first_deadline - time.monotonic(), 0.0),
            return_when=return_when,
        )
        now = time.monotonic()
        late = {f for f in in_flight if now - self._clock[f][0] > timeout}  # type: ignore[operator]
        return set(done_list) | late

    def _fill(
        self,
        in_flight: dict[Future[dict[str, Any]], int],
        pool: Executor,
        budget: int,
        batch_size: int,
        *,
        asynchronous: bool = True,
    ) -> None:
        history = self.history
        busy = set(in_flight.values())
        waiting = [t for t in history.pending if t.number not in busy]
        finished = len(history.complete) + len(history.failed)
        free = batch_size - len(in_flight)
        unsubmitted = waiting[free:]
        for t in waiting[:free]:
            self._submit(t.number, pool, in_flight)
        if waiting and not asynchronous:
            # Trials left pending by an interruption were one batch of the original
            # run: finish it alone, as the uninterrupted run did, before proposing.
            return
        free = batch_size - len(in_flight)
        if self.fidelity is not None:
            if unsubmitted or free <= 0:
                return
            for t in self._promote(free):
                self._submit(t.number, pool, in_flight)
            free = batch_size - len(in_flight)
            room = budget - len(self._trials)
            if free > 0 and room > 0:
                for t in self._propose(min(free, room)):
                    self._submit(t.number, pool, in_flight)
            if not in_flight:
                # The budget is spent and the schedule promotes nothing: make sure the
                # search ends with a result at the final budget.
                last = self.fidelity.finish(self.history)
                if last is not None:
                    for t in self._promote_now([last]):
                        self._submit(t.number, pool, in_flight)
            return
        room = budget - finished - len(history.pending)
        if free > 0 and room > 0 and not unsubmitted:
            for t in self.ask(min(free, room)):
                self._submit(t.number, pool, in_flight)

    def _submit(
        self, number: int, pool: Executor, in_flight: dict[Future[dict[str, Any]], int]
    ) -> None:
        attempts = self.store.mark_started(number)
        t = self._trials[number]
        self._trials[number] = dataclasses.replace(t, attempts=attempts)
        started = time.monotonic()
        if self.fidelity is not None and t.budget is not None:
            budget = Budget(epochs=t.budget, max_epochs=self.fidelity.max_epochs,
                            checkpoint=str(self._checkpoint(t.number)),
                            previous=max((b for b in t.rungs if b < t.budget), default=0))
            fut = pool.submit(_evaluate, self.evaluator, t.arch, budget)
        else:
            fut = pool.submit(_evaluate, self.evaluator, t.arch)
        stamp: list[float | None] = [started, None]
        self._clock[fut] = stamp

        def _finished(_: Future[Any], stamp: list[float | None] = stamp) -> None:
            stamp[1] = time.monotonic()

        # Runs at once for a future already done (the in-process executor), so an
        # inline evaluation's duration is measured like a pool's.
        fut.add_done_callback(_finished)
        in_flight[fut] = number

    def _collect(
        self,
        number: int,
        fut: Future[dict[str, Any]],
        pool: Executor,
        in_flight: dict[Future[dict[str, Any]], int],
        timeout: float | None = None,
    ) -> Trial | None:
        started, ended = self._clock.pop(fut, [None, None])
        if timeout is not None and started is not None:
            elapsed = (ended if ended is not None else time.monotonic()) - started
        else:
            elapsed = None
        if elapsed is not None and elapsed > timeout:  # type: ignore[operator]
            # The result, if it ever arrives, is dropped with the future.
            fut.cancel()
            outcome = {
                "ok": False,
                "error": f"timeout: evaluation exceeded {timeout:g} s ({elapsed:.3g} s)",
            }
        else:
            try:
                outcome = fut.result()
            except Exception as exc:  # the worker itself died or the task was lost
                outcome = {"ok": False, "error": f"worker lost: {type(exc).__name__}: {exc}"}
        if outcome["ok"]:
            try:
                result = EvaluationResult.from_dict(outcome["result"])
            except (EvaluationError, KeyError, TypeError) as exc:
                outcome = {"ok": False, "error": f"invalid result: {exc}"}
            else:
                try:
                    return self.tell(number, result)
                except InvalidResultError as exc:  # strict JSON cannot store it
                    outcome = {"ok": False, "error": f"invalid result: {exc}"}
        attempts = self._trials[number].attempts
        if attempts <= self.max_retries:
            logger.warning(
                "trial %d attempt %d failed (%s); retrying", number, attempts, outcome["error"]
            )
            try:
                self._submit(number, pool, in_flight)
                return None
            except RuntimeError as exc:  # a broken pool accepts nothing more
                outcome = {"ok": False, "error": f"{outcome['error']}; retry impossible: {exc}"}
        return self.tell(number, outcome["error"])


def incumbent_curve(history: History, key: IncumbentKey = "val_accuracy") -> np.ndarray:
    """After each finished trial, ``key`` of the incumbent (best validation accuracy so far).

    ``key="val_accuracy"`` gives the best validation accuracy; ``"test_accuracy"`` the
    test accuracy of the best-validation architecture, the number NAS papers report.
    Trials are taken in proposal order; a failed trial counts as a query, a pending one
    is not yet one (`bo_nas._incumbent.incumbent_values` on the finished trials).

    Returns:
        Array of shape `n_finished`, NaN before the first result (or where the
        incumbent has no such value).
    """
    return search_curve(history, key)
