"""Figures written at the end of a run and by ``bo-nas plot``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bo_nas._history import History


def _pyplot():
    import matplotlib

    # Files only: never open a window from the command line.
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def write_figures(store: Path, history: History, out: Path, cost: str | None = None) -> list[Path]:
    """The best cell drawn, the search curve and, when results carry costs, accuracy vs cost.

    Files are named after the store: ``<store>-best.png``, ``<store>-curve.png`` and
    ``<store>-<cost>.png``.
    """
    from bo_nas.campaign import incumbent_curve
    from bo_nas.plotting import draw_cell, plot_accuracy_vs_cost, plot_search_curve, save_figure

    plt = _pyplot()
    out.mkdir(parents=True, exist_ok=True)
    stem = store.stem
    written: list[Path] = []
    best = history.best()
    if best is not None and best.result is not None:
        fig, ax = plt.subplots(figsize=(7, 3.5))
        draw_cell(best.arch, ax=ax,
                  title=f"best: validation {best.result.val_accuracy:.2f}% (trial {best.number})")
        written.append(save_figure(fig, out / f"{stem}-best.png", close=True))
    curve = incumbent_curve(history)
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
    return written
