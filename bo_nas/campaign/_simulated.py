r"""Simulated wall-clock time: compare parallel schedules on a tabular benchmark.

A tabular benchmark answers instantly, so it cannot show what a parallel schedule
costs in wall-clock time. `SimulatedExecutor` gives every evaluation a duration from a
cost model (by default proportional to the network's FLOPs) times log-normal noise,

.. math::

    d_i = c(r_i)\,\exp(\sigma z_i), \qquad z_i \sim \mathcal N(0, 1),

and runs the tasks on ``n_workers`` simulated workers: a task submitted at simulated
time :math:`t` starts at :math:`s_i = \max(t, f_w)` on the worker :math:`w` that frees
first (:math:`f_w` its free time) and finishes at :math:`s_i + d_i`. The campaign asks
the executor which task finishes next (`wait_futures`), so completions arrive in
simulated-time order and the clock advances to each one. Proposal time is taken as
zero: it is small next to training.

With the same seeds everything is deterministic: the noise draws follow submission
order, ties in finish time go to the earlier submission, and the campaign's proposals
depend only on its seed and the order of completions.

Example:
    >>> runs = compare_schedules(NB201Space(), NB201Benchmark("cifar100"),
    ...                          lambda: GPStrategy(n_init=8), budget=64,
    ...                          n_workers=8, seed=0)                # doctest: +SKIP
    >>> runs["asynchronous"].makespan < runs["synchronous"].makespan  # doctest: +SKIP
    True
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Hashable, Iterable, Mapping
from concurrent.futures import (
    ALL_COMPLETED,
    FIRST_COMPLETED,
    FIRST_EXCEPTION,
    Executor,
    Future,
)
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from bo_nas._history import History, TrialState
from bo_nas._incumbent import IncumbentKey, incumbent_values
from bo_nas.encodings import Architecture
from bo_nas.evaluators import EvaluationResult, Evaluator
from bo_nas.spaces import SearchSpace
from bo_nas.strategies import Strategy

if TYPE_CHECKING:
    from ._campaign import Campaign

T = TypeVar("T")

CostModel = Callable[[Any], float]
"""Maps a task's return value (``None`` when it raised) to its duration in seconds."""


def _result_part(value: Any, part: str) -> Mapping[str, Any]:
    """``costs`` or ``info`` of an evaluation outcome, whatever form it came in."""
    if isinstance(value, EvaluationResult):
        return getattr(value, part)
    if isinstance(value, Mapping):
        if "result" in value and isinstance(value["result"], Mapping):
            value = value["result"]
        found = value.get(part)
        if isinstance(found, Mapping):
            return found
    return {}


def task_costs(value: Any) -> Mapping[str, float]:
    """The ``costs`` of an evaluation outcome, whatever form the task returned it in.

    Understands an `EvaluationResult`, its ``to_dict()`` form, and the campaign's
    outcome record ``{"ok": True, "result": {...}}``; anything else has no costs.
    """
    return _result_part(value, "costs")


def _task_info(value: Any) -> Mapping[str, Any]:
    """The ``info`` of an evaluation outcome, read as `task_costs` reads costs."""
    return _result_part(value, "info")


@dataclass(frozen=True)
class FlopsCostModel:
    r"""Training time proportional to FLOPs: :math:`c = b + a \cdot \mathrm{FLOPs}`.

    NB-201's training times grow about linearly with a cell's FLOPs; the defaults put a
    typical NB-201 network (≈ 100 MFLOPs) at about two simulated hours.

    :math:`c` is the duration of a full training. A multi-fidelity evaluation
    (`bo_nas.evaluators.Evaluator.evaluate_at`) whose result ``info`` holds
    ``epochs_trained`` and ``max_epochs`` is charged only for the epochs it trained,
    base part included (evaluating and loading data recur every epoch):
    :math:`c \cdot \mathrm{epochs\_trained} / \mathrm{max\_epochs}`. A promoted trial
    that continues from its checkpoint thus pays only for its new epochs, and a rung
    that trains nothing (``epochs_trained`` 0) is free. Results without both keys, or
    with values that are not a count and a positive budget, cost a full training.

    Attributes:
        seconds_per_mflop: :math:`a`, seconds per million FLOPs.
        base_seconds: :math:`b`, the fixed part (data loading, evaluation).
        cost: Which ``costs`` entry to read.
        failure_seconds: Duration of an evaluation without that cost (failed, or an
            evaluator that does not report it); ``base_seconds`` when ``None``.
    """

    seconds_per_mflop: float = 60.0
    base_seconds: float = 600.0
    cost: str = "flops"
    failure_seconds: float | None = None

    def __post_init__(self) -> None:
        for name in ("seconds_per_mflop", "base_seconds"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise ValueError(f"{name}: expected a finite number >= 0, got {v!r}")
        f = self.failure_seconds
        if f is not None and (not isinstance(f, (int, float)) or not math.isfinite(f) or f < 0):
            raise ValueError(f"failure_seconds: expected a finite number >= 0, got {f!r}")

    def __call__(self, value: Any) -> float:
        costs = task_costs(value)
        if self.cost not in costs:
            return self.base_seconds if self.failure_seconds is None else self.failure_seconds
        full = self.base_seconds + self.seconds_per_mflop * float(costs[self.cost])
        return full * self._trained_fraction(_task_info(value))

    @staticmethod
    def _trained_fraction(info: Mapping[str, Any]) -> float:
        """``epochs_trained / max_epochs`` from a result's ``info``; 1 (a full training)
        when either is absent or not a sensible count."""
        trained, total = info.get("epochs_trained"), info.get("max_epochs")
        for v in (trained, total):
            # bool is an int: a stray True must not pass for one epoch.
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                return 1.0
        if trained < 0 or total <= 0:  # type: ignore[operator]
            return 1.0
        return float(trained) / float(total)  # type: ignore[arg-type]


@dataclass(frozen=True)
class SimTask:
    """One task on the simulated clock.

    Attributes:
        index: 0-based submission order.
        label: What the task evaluated (an architecture's key by default).
        worker: The simulated worker that ran it.
        submitted: Simulated time of submission.
        start: Simulated start (later than ``submitted`` when every worker was busy).
        finish: Simulated finish, ``start + duration``.
        ok: Whether the task returned (rather than raised).
        trial: The campaign trial it belongs to, once matched (`run_simulated`).
    """

    index: int
    label: Hashable | None
    worker: int
    submitted: float
    start: float
    finish: float
    ok: bool
    trial: int | None = None

    @property
    def duration(self) -> float:
        return self.finish - self.start


def _arch_label(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Hashable | None:
    for a in (*args, *kwargs.values()):
        if isinstance(a, Architecture):
            return a.key
    return None


class _SimFuture(Future):  # type: ignore[type-arg]
    """A future that, when its result is asked for, advances its executor's clock to it."""

    def __init__(self, executor: SimulatedExecutor) -> None:
        super().__init__()
        self._executor = executor

    def result(self, timeout: float | None = None) -> Any:
        if not self.done():
            self._executor.wait([self])
        return super().result(timeout)

    def exception(self, timeout: float | None = None) -> BaseException | None:
        if not self.done():
            self._executor.wait([self])
        return super().exception(timeout)


class SimulatedExecutor(Executor):
    r"""An executor on a simulated clock (see the module docstring for the model).

    `submit` runs the task at once, in this process, and books it on a simulated
    worker; its future completes only when `wait` (or the future's ``result``) reaches
    its finish time, so ``concurrent.futures.wait`` must not be used on these futures
    (`Campaign.run` calls `wait` through `wait_futures`). Not thread-safe.

    Args:
        cost_model: Duration of a task from its return value (``None`` if it raised);
            `FlopsCostModel` by default.
        n_workers: Simulated workers.
        seed: Seeds the noise generator.
        noise_sigma: :math:`\sigma` of the log-normal noise on each duration.
        label: Names a task from ``(args, kwargs)``; by default the key of its first
            `Architecture` argument.

    Attributes:
        now: The simulated clock: the latest finish time handed out by `wait`.
        tasks: Every task booked, in submission order.
    """

    def __init__(
        self,
        cost_model: CostModel | None = None,
        *,
        n_workers: int = 1,
        seed: int = 0,
        noise_sigma: float = 0.25,
        label: Callable[[tuple[Any, ...], Mapping[str, Any]], Hashable | None] | None = None,
    ) -> None:
        if not isinstance(n_workers, int) or isinstance(n_workers, bool) or n_workers < 1:
            raise ValueError(f"n_workers: expected an integer >= 1, got {n_workers!r}")
        if not isinstance(noise_sigma, (int, float)) or not noise_sigma >= 0:
            raise ValueError(f"noise_sigma: expected a number >= 0, got {noise_sigma!r}")
        self.cost_model: CostModel = cost_model if cost_model is not None else FlopsCostModel()
        self.n_workers = n_workers
        self.noise_sigma = float(noise_sigma)
        self._rng = np.random.default_rng(seed)
        self._label = label or _arch_label
        self.now = 0.0
        self.tasks: list[SimTask] = []
        # Workers as a heap of (free time, worker id): the earliest-free worker, lowest id
        # on ties, takes the next task, as a FIFO queue in front of real workers would.
        self._free: list[tuple[float, int]] = [(0.0, w) for w in range(n_workers)]
        self._pending: dict[Future[Any], tuple[SimTask, Any, BaseException | None]] = {}
        self._shutdown = False

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        if self._shutdown:
            raise RuntimeError("cannot schedule new tasks after shutdown")
        value: Any = None
        error: BaseException | None = None
        try:
            value = fn(*args, **kwargs)
        except Exception as exc:  # the future carries it, as a pool's would
            error = exc
        base = float(self.cost_model(None if error is not None else value))
        if not math.isfinite(base) or base < 0:
            raise ValueError(f"cost_model returned {base!r}; expected a finite duration >= 0")
        duration = base * math.exp(self.noise_sigma * self._rng.standard_normal())
        free, worker = heapq.heappop(self._free)
        start = max(self.now, free)
        task = SimTask(
            index=len(self.tasks),
            label=self._label(args, kwargs),
            worker=worker,
            submitted=self.now,
            start=start,
            finish=start + duration,
            ok=error is None,
        )
        heapq.heappush(self._free, (task.finish, worker))
        self.tasks.append(task)
        fut: Future[T] = _SimFuture(self)
        self._pending[fut] = (task, value, error)
        return fut

    def wait(
        self, fs: Iterable[Future[Any]], return_when: str = ALL_COMPLETED
    ) -> tuple[set[Future[Any]], set[Future[Any]]]:
        """Complete futures of ``fs`` in finish-time order, advancing the clock.

        ``FIRST_COMPLETED`` completes only the earliest-finishing future (when none is
        done yet); ``FIRST_EXCEPTION`` stops after the first that raised;
        ``ALL_COMPLETED`` completes all.
        """
        if return_when not in (FIRST_COMPLETED, FIRST_EXCEPTION, ALL_COMPLETED):
            raise ValueError(f"return_when: unknown value {return_when!r}")
        fs = set(fs)
        done = {f for f in fs if f.done()}
        stop = (return_when == FIRST_COMPLETED and done) or (
            return_when == FIRST_EXCEPTION
            and any(not f.cancelled() and f.exception() is not None for f in done)
        )
        queue = sorted(
            (f for f in fs - done if f in self._pending),
            key=lambda f: (self._pending[f][0].finish, self._pending[f][0].index),
        )
        for fut in queue:
            if stop:
                break
            task, value, error = self._pending.pop(fut)
            if not fut.set_running_or_notify_cancel():
                continue  # cancelled before it finished: nothing to report
            self.now = max(self.now, task.finish)
            if error is None:
                fut.set_result(value)
            else:
                fut.set_exception(error)
            done.add(fut)
            stop = return_when == FIRST_COMPLETED or (
                return_when == FIRST_EXCEPTION and error is not None
            )
        return done, fs - done

    @property
    def makespan(self) -> float:
        """Finish time of the last task booked (0 before any)."""
        return max((t.finish for t in self.tasks), default=0.0)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._shutdown = True
        if cancel_futures:
            for fut in list(self._pending):
                fut.cancel()

    def __repr__(self) -> str:
        return (
            f"SimulatedExecutor(n_workers={self.n_workers}, now={self.now:.1f}, "
            f"tasks={len(self.tasks)})"
        )


@dataclass(frozen=True)
class SimulatedRun:
    """A campaign run on the simulated clock.

    Attributes:
        history: The campaign's trials after the run.
        tasks: Every evaluation attempt in submission order, matched to its trial.
        times: ``n_finished``: simulated finish time of each finished trial (its last
            attempt), ascending.
        incumbent: ``n_finished``: best validation accuracy among trials finished by
            ``times[i]`` (NaN before the first success).
        makespan: Simulated time when the last evaluation finished.
        order: The trial numbers behind ``times``, in that order.
    """

    history: History
    tasks: tuple[SimTask, ...]
    times: np.ndarray
    incumbent: np.ndarray
    makespan: float
    order: tuple[int, ...] = ()

    def incumbent_at(self, t: float) -> float:
        """Best validation accuracy known at simulated time ``t`` (NaN before any)."""
        i = int(np.searchsorted(self.times, t, side="right"))
        return float(self.incumbent[i - 1]) if i > 0 else math.nan

    def incumbent_of(self, key: IncumbentKey) -> np.ndarray:
        """Like ``incumbent``, for ``key`` of the incumbent (best validation accuracy
        so far): ``"test_accuracy"`` gives the test accuracy of the best-validation
        architecture at each of ``times``, the number NAS papers plot."""
        results = [self.history[n].result if self.history[n].state is TrialState.COMPLETE
                   else None for n in self.order]
        return incumbent_values(results, key)


def run_simulated(
    campaign: Campaign,
    budget: int,
    *,
    executor: SimulatedExecutor,
    batch_size: int | None = None,
    asynchronous: bool = False,
    horizon: float | None = None,
) -> SimulatedRun:
    """Run ``campaign`` on ``executor`` and read the simulated schedule back.

    Args:
        campaign: A `Campaign`.
        budget: As `Campaign.run`.
        executor: The simulated executor (its clock continues from where it stands).
        batch_size: Evaluations in flight; the executor's worker count when omitted.
        asynchronous: As `Campaign.run`.
        horizon: Stop at this simulated time (seconds): nothing new starts once the
            clock has passed it, and evaluations still running stay pending. For
            comparing methods at equal wall-clock time (multi-fidelity campaigns).
    """
    if not isinstance(executor, SimulatedExecutor):
        raise ValueError(f"executor: expected a SimulatedExecutor, got {type(executor).__name__}")
    first = len(executor.tasks)
    history = campaign.run(
        budget,
        batch_size=executor.n_workers if batch_size is None else batch_size,
        executor=executor,
        asynchronous=asynchronous,
        stop_when=None if horizon is None else (lambda: executor.now > horizon),
    )
    number = {t.arch.key: t.number for t in history}
    tasks = tuple(replace(t, trial=number.get(t.label)) for t in executor.tasks[first:])
    last: dict[int, float] = {}
    for t in tasks:
        if t.trial is not None:
            last[t.trial] = max(last.get(t.trial, -math.inf), t.finish)
    finished = [
        (last[tr.number], tr.number, tr)
        for tr in history
        if tr.state is not TrialState.PENDING and tr.number in last
    ]
    finished.sort(key=lambda x: (x[0], x[1]))
    # In finish order: what was known at each simulated time, not in proposal order.
    results = [tr.result if tr.state is TrialState.COMPLETE else None for _, _, tr in finished]
    return SimulatedRun(
        history=history,
        tasks=tasks,
        times=np.asarray([f[0] for f in finished], dtype=float),
        incumbent=incumbent_values(results, "val_accuracy"),
        makespan=max((t.finish for t in tasks), default=0.0),
        order=tuple(f[1] for f in finished),
    )


def compare_schedules(
    space: SearchSpace,
    evaluator: Evaluator,
    make_strategy: Callable[[], Strategy],
    *,
    budget: int,
    n_workers: int,
    seed: int = 0,
    cost_model: CostModel | None = None,
    noise_sigma: float = 0.25,
) -> dict[str, SimulatedRun]:
    """Synchronous batches versus asynchronous proposals, in simulated wall-clock time.

    Both schedules run the same budget with ``n_workers`` evaluations in flight, the same
    campaign seed and the same noise seed, each with a fresh strategy and an in-memory
    store. Synchronous: propose ``n_workers``, wait for all, repeat. Asynchronous:
    propose one whenever a worker frees up, conditioned on the pending ones.

    Returns:
        ``{"synchronous": run, "asynchronous": run}``; plot ``run.times`` against
        ``run.incumbent`` for incumbent-versus-time curves.
    """
    from ._campaign import Campaign

    runs: dict[str, SimulatedRun] = {}
    for name, asynchronous in (("synchronous", False), ("asynchronous", True)):
        executor = SimulatedExecutor(
            cost_model, n_workers=n_workers, seed=seed, noise_sigma=noise_sigma
        )
        with Campaign(space, evaluator, make_strategy(), seed=seed) as campaign:
            runs[name] = run_simulated(
                campaign, budget, executor=executor, asynchronous=asynchronous
            )
    return runs
