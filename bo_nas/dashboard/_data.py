"""A store snapshot as the JSON the dashboard page draws.

Every number that names a result (the best validation accuracy, its test accuracy, the
counts) is exact. What grows with the campaign is bounded so that a 10,000-trial store
stays a small answer: the search curve keeps only the points where it steps (a step
function drawn with horizontal-then-vertical segments loses nothing), the scatters keep
at most `MAX_POINTS` points per store (always the Pareto front and the best, then an even
spread of the rest), the tables at most `MAX_ROWS` rows.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from bo_nas._front import pareto_front
from bo_nas._history import History, Trial
from bo_nas._summary import (
    arch_formatter,
    best_feasible,
    by_first_objective,
    goals,
    run_budget,
    search_curve,
)
from bo_nas.campaign._store import StoreSnapshot
from bo_nas.evaluators import EvaluationResult
from bo_nas.objectives import feasible

#: Points of one store in a scatter: enough to see the cloud, few enough that the
#: browser draws them in a fraction of a second (drawing time grows with the points).
MAX_POINTS = 1000
#: Rows of one store in the failures and pending tables.
MAX_ROWS = 100
#: Characters of a failure message shown (tracebacks can be long).
MAX_MESSAGE = 2000
#: Cost axes tried first, in order, when the page has not chosen one (what `bo-nas plot`
#: prefers); then device latencies, other costs, and measured time last.
PREFERRED_COSTS = ("flops", "params")
#: Measured training time: the cost axis when the results carry no other cost.
SECONDS = "train_seconds"


def _number(value: float | None, digits: int | None = None) -> float | None:
    """``value`` as strict JSON (``None`` for a NaN or infinity), optionally rounded to
    ``digits`` significant digits, which is all a scatter point needs."""
    if value is None:
        return None
    f = float(value)
    if not math.isfinite(f):
        return None
    if digits is not None and f != 0.0:
        f = float(f"{f:.{digits}g}")
    return f


def cost_value(result: EvaluationResult, key: str) -> float | None:
    """Cost ``key`` of a result; evaluation seconds may sit in ``info`` (table curves)."""
    value = result.costs.get(key)
    if value is None and key == SECONDS:
        value = result.info.get(SECONDS)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None
    return None if value is None else float(value)


def cost_order(keys: Iterable[str]) -> list[str]:
    """Cost keys, those of `PREFERRED_COSTS` first, then device latencies, then the rest
    alphabetically, measured seconds last."""
    def rank(k: str) -> tuple[int, str]:
        if k in PREFERRED_COSTS:
            return (PREFERRED_COSTS.index(k), k)
        tier = 0 if "latency" in k else 2 if k == SECONDS else 1
        return (len(PREFERRED_COSTS) + tier, k)

    return sorted(set(keys), key=rank)


def cost_keys(history: History) -> list[str]:
    """The costs the complete trials carry, in `cost_order`."""
    keys: set[str] = set()
    for t in history.complete:
        if t.result is not None:
            keys.update(t.result.costs)
            if isinstance(t.result.info.get(SECONDS), (int, float)):
                keys.add(SECONDS)
    return cost_order(keys)


def _front_2d(acc: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """Indices of the points no other point beats in both accuracy (higher) and cost
    (lower), by cost ascending: one sort and a sweep, O(n log n)."""
    order = np.lexsort((-acc, cost))  # cost ascending, then accuracy descending
    keep: list[int] = []
    best = -math.inf
    for i in order:
        if acc[i] > best:
            keep.append(int(i))
            best = float(acc[i])
    return np.asarray(keep, dtype=int)


def _spread(n: int, keep: np.ndarray, limit: int) -> np.ndarray:
    """``keep`` plus evenly spaced others of ``range(n)``, at most ``limit`` in all
    (``keep`` always whole), ascending."""
    if n <= limit:
        return np.arange(n)
    chosen = np.zeros(n, dtype=bool)
    chosen[keep] = True
    room = max(limit - int(chosen.sum()), 0)
    rest = np.flatnonzero(~chosen)
    if room and rest.size:
        chosen[rest[np.linspace(0, rest.size - 1, min(room, rest.size)).astype(int)]] = True
    return np.flatnonzero(chosen)


def steps(curve: np.ndarray) -> tuple[list[int], list[float | None]]:
    """The points where a step curve changes, and its last point: what a line drawn
    horizontal-then-vertical needs to be exact. ``x`` counts queries from 1; the NaN
    entries before the first result are left out, and a NaN after one (an incumbent
    without that value) becomes ``None``, a gap in the line."""
    xs: list[int] = []
    ys: list[float | None] = []
    last = len(curve) - 1
    for i, y in enumerate(curve.tolist()):
        value = None if y != y else float(y)
        if value is None and (not ys or ys[-1] is None):
            continue
        if not ys or value != ys[-1] or i == last:
            xs.append(i + 1)
            ys.append(value)
    return xs, ys


def search_curve_data(history: History) -> dict[str, Any]:
    """The search curve: test error (%) of the best-validation architecture after each
    finished trial; validation error when the evaluator has no test split."""
    curve = search_curve(history, "test_accuracy")
    metric = "test error"
    if curve.size and np.isnan(curve).all():
        curve = search_curve(history, "val_accuracy")
        metric = "validation error"
    xs, ys = steps(100.0 - curve)
    return {"metric": metric, "queries": int(curve.size), "x": xs, "y": ys}


def scatter_data(history: History, cost: str | None,
                 limit: int = MAX_POINTS) -> dict[str, Any] | None:
    """Validation accuracy against ``cost`` over the complete trials that carry it: at
    most ``limit`` points, the accuracy-cost Pareto front (``front``, by cost) and the
    best trial always among them."""
    if cost is None:
        return None
    rows = [(t.number, t.result.val_accuracy, cost_value(t.result, cost))
            for t in history.complete if t.result is not None]
    rows = [r for r in rows if r[2] is not None and math.isfinite(r[2])]
    if not rows:
        return {"cost": cost, "total": 0, "x": [], "y": [], "trial": [], "front": []}
    trial = np.array([r[0] for r in rows], dtype=int)
    acc = np.array([r[1] for r in rows], dtype=float)
    c = np.array([r[2] for r in rows], dtype=float)
    front = _front_2d(acc, c)
    best = int(np.argmax(acc))
    shown = _spread(len(rows), np.append(front, best), limit)
    return {
        "cost": cost,
        "total": len(rows),
        "x": [_number(v, 5) for v in c[shown]],
        "y": [_number(v, 6) for v in acc[shown]],
        "trial": trial[shown].tolist(),
        "front": trial[front].tolist(),
    }


def front_data(snap: StoreSnapshot, limit: int = MAX_POINTS) -> dict[str, Any] | None:
    """A multi-objective store's Pareto front in its first two objectives (exact values),
    with the other complete trials (at most ``limit``) for context; ``None`` for a store
    with one objective."""
    objectives, constraints = goals(snap.config)
    if len(objectives) < 2:
        return None
    x_obj, y_obj = objectives[0], objectives[1]
    front = by_first_objective(pareto_front(snap.history, objectives, constraints), x_obj)
    on_front = {t.number for t in front}
    others = [t for t in snap.history.complete
              if t.result is not None and t.number not in on_front]
    others = [t for t in others
              if x_obj.value(t.result) is not None and y_obj.value(t.result) is not None]  # type: ignore[arg-type]
    shown = [others[i] for i in _spread(len(others), np.zeros(0, dtype=int), limit)]

    def coords(trials: Sequence[Trial], digits: int | None) -> dict[str, list[Any]]:
        return {
            "x": [_number(x_obj.value(t.result), digits) for t in trials],  # type: ignore[arg-type]
            "y": [_number(y_obj.value(t.result), digits) for t in trials],  # type: ignore[arg-type]
            "trial": [t.number for t in trials],
            "feasible": [feasible(t.result, constraints) for t in trials],  # type: ignore[arg-type]
        }

    return {
        "objectives": [{"metric": o.metric, "minimize": o.minimize} for o in objectives],
        "constraints": [str(c) for c in constraints],
        "size": len(front),
        "front": coords(front, None),
        "others": {**coords(shown, 6), "total": len(others)},
    }


def _fidelity(snap: StoreSnapshot) -> dict[str, Any] | None:
    fidelity = snap.config.get("fidelity")
    if not isinstance(fidelity, dict):
        return None
    reached: dict[int, int] = {}
    for t in snap.history:
        for b in t.rungs:
            reached[b] = reached.get(b, 0) + 1
    return {"name": fidelity.get("name"), "eta": fidelity.get("eta"),
            "results_by_epochs": {str(b): n for b, n in sorted(reached.items())}}


def _message(text: str | None) -> str:
    text = text or ""
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE] + " …"


def summarise(snap: StoreSnapshot) -> dict[str, Any]:
    """Everything the page shows about one store except the cost scatter (`scatter_data`,
    which depends on the cost the page chose)."""
    config, history = snap.config, snap.history
    text = arch_formatter(config)
    evaluator = config.get("evaluator", {})
    evaluator = evaluator if isinstance(evaluator, dict) else {}
    space = config.get("space", {})
    strategy = config.get("strategy", {})
    objectives, constraints = goals(config)
    counts = {
        "proposed": len(history),
        "complete": len(history.complete),
        "failed": len(history.failed),
        "pending": len(history.pending),
        "paused": len(history.paused),
    }
    best = best_feasible(history, constraints)
    best_data = None
    if best is not None and best.result is not None:
        r = best.result
        best_data = {
            "trial": best.number,
            "key": best.arch.key,
            "val_accuracy": r.val_accuracy,
            "test_accuracy": r.test_accuracy,
            "test_error": None if r.test_accuracy is None else 100.0 - r.test_accuracy,
            "architecture": text(best),
        }
    failed = history.failed
    pending = history.pending
    return {
        "strategy": strategy.get("name", "?") if isinstance(strategy, dict) else "?",
        "evaluator": evaluator.get("kind", "?"),
        "dataset": evaluator.get("dataset"),
        "space": space.get("name", "?") if isinstance(space, dict) else "?",
        "seed": config.get("seed"),
        "objectives": [str(o) for o in objectives],
        "constraints": [str(c) for c in constraints],
        "counts": counts,
        "finished": counts["complete"] + counts["failed"],
        "budget": run_budget(snap.meta),
        "best": best_data,
        "curve": search_curve_data(history),
        "fidelity": _fidelity(snap),
        "failures": {
            "total": len(failed),
            # Latest first: the newest failure is the one to look at.
            "items": [{"trial": t.number, "attempts": t.attempts, "error": _message(t.error)}
                      for t in reversed(failed[-MAX_ROWS:])],
        },
        "pending": {
            "total": len(pending),
            "items": [{"trial": t.number, "attempts": t.attempts, "budget": t.budget,
                       "architecture": text(t)} for t in pending[:MAX_ROWS]],
        },
        "front": front_data(snap),
        "cost_keys": cost_keys(history),
    }
