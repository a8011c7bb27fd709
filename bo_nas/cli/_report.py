"""Figures written at the end of a run and by ``bo-nas plot``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bo_nas._history import History
from bo_nas._summary import best_feasible, search_curve
from bo_nas.objectives import (
    Constraint,
    Objective,
    feasible,
    parse_constraints,
    parse_objectives,
)


def _pyplot():
    import matplotlib

    # Files only: never open a window from the command line.
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _pareto_figures(history: History, objectives: tuple[Objective, ...],
                    constraints: tuple[Constraint, ...], out: Path, stem: str) -> list[Path]:
    from bo_nas.plotting import plot_pareto_front, save_figure

    plt = _pyplot()
    results = [t.result for t in history.complete if t.result is not None]
    ok = np.array([feasible(r, constraints) for r in results], dtype=bool)
    first = objectives[0]
    xs = np.array([first.value(r) for r in results], dtype=float)  # None reads as NaN
    written: list[Path] = []
    for other in objectives[1:]:
        ys = np.array([other.value(r) for r in results], dtype=float)
        if not (np.isfinite(xs) & np.isfinite(ys)).any():
            continue
        fig, ax = plt.subplots(figsize=(6, 4))
        plot_pareto_front(xs, ys, first.minimize, other.minimize,
                          feasible_mask=ok if constraints else None, ax=ax,
                          xlabel=first.metric, ylabel=other.metric,
                          title=f"{first.metric} vs {other.metric}: {len(results)} trials")
        written.append(save_figure(fig, out / f"{stem}-pareto-{other.metric}.png", close=True))
    return written


def write_figures(
    store: Path,
    history: History,
    out: Path,
    cost: str | None = None,
    *,
    objectives: Sequence[Objective | str] = (),
    constraints: Sequence[Constraint | str] = (),
) -> list[Path]:
    """The best cell drawn, the search curve and, when results carry costs, accuracy vs cost;
    with several objectives, the Pareto front of the first against each other one.

    Files are named after the store: ``<store>-best.png``, ``<store>-curve.png``,
    ``<store>-<cost>.png`` and ``<store>-pareto-<metric>.png``. With constraints the
    best cell is the best trial that meets them all (none drawn while none does).
    """
    from bo_nas.plotting import draw_cell, plot_accuracy_vs_cost, plot_search_curve, save_figure

    objs = parse_objectives(objectives)
    cons = parse_constraints(constraints)
    plt = _pyplot()
    out.mkdir(parents=True, exist_ok=True)
    stem = store.stem
    written: list[Path] = []
    best = best_feasible(history, cons)
    if best is not None and best.result is not None:
        fig, ax = plt.subplots(figsize=(7, 3.5))
        draw_cell(best.arch, ax=ax,
                  title=f"best: validation {best.result.val_accuracy:.2f}% (trial {best.number})")
        written.append(save_figure(fig, out / f"{stem}-best.png", close=True))
    curve = search_curve(history, "val_accuracy")
    if curve.size:
        fig, ax = plt.subplots(figsize=(6, 4))
        plot_search_curve(curve, ax=ax, title="search curve")
        written.append(save_figure(fig, out / f"{stem}-curve.png", close=True))
    complete = history.complete
    costs = sorted({k for t in complete if t.result for k in t.result.costs})
    if complete and costs:
        preferred = [k for k in ("flops", "params") if k in costs]
        key = cost if cost is not None else (preferred or costs)[0]
        if key not in costs:
            raise ValueError(f"cost: {key!r} is not in the results (they carry {costs})")
        pairs = [(t.result.val_accuracy, t.result.costs[key]) for t in complete
                 if t.result is not None and key in t.result.costs]
        values, xs = np.array(pairs, dtype=float).T
        fig, ax = plt.subplots(figsize=(6, 4))
        best_i = int(np.argmax(values))
        plot_accuracy_vs_cost(values, xs, ax=ax, xlabel=key, highlight=best_i,
                              highlight_label="best", pareto=True)
        written.append(save_figure(fig, out / f"{stem}-{key}.png", close=True))
    if len(objs) > 1:
        written.extend(_pareto_figures(history, objs, cons, out, stem))
    return written
