"""Two objectives against each other: the trials, their Pareto front and the infeasible."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes

from bo_nas.objectives import pareto_mask

from ._colours import foreground, line_colour, method_colour


def _direction(label: str, minimize: bool) -> str:
    return f"{label} ({'lower' if minimize else 'higher'} is better)"


def _mask(mask: Sequence[bool] | np.ndarray | None, n: int, name: str) -> np.ndarray | None:
    if mask is None:
        return None
    m = np.asarray(mask)
    if m.dtype != bool or m.shape != (n,):
        raise ValueError(
            f"{name}: expected a boolean mask of {n} entries, got dtype {m.dtype} and "
            f"shape {m.shape}"
        )
    return m


def plot_pareto_front(
    values_x: Sequence[float] | np.ndarray,
    values_y: Sequence[float] | np.ndarray,
    minimize_x: bool,
    minimize_y: bool,
    *,
    front_mask: Sequence[bool] | np.ndarray | None = None,
    feasible_mask: Sequence[bool] | np.ndarray | None = None,
    ax: Axes | None = None,
    xlabel: str,
    ylabel: str,
    title: str | None = None,
) -> Axes:
    r"""Scatter of two objectives with their Pareto front drawn as a staircase.

    Point :math:`a` dominates :math:`b` when it is at least as good in both objectives
    and better in one. Dominated points are drawn muted, front points highlighted and
    joined by the staircase that bounds the region they dominate, infeasible points
    (``feasible_mask`` false) as crosses; points with a NaN or infinity are left out.

    Args:
        values_x: `n` values of the first objective (horizontal axis).
        values_y: `n` values of the second objective, same order.
        minimize_x: Whether smaller ``values_x`` are better.
        minimize_y: Whether smaller ``values_y`` are better.
        front_mask: `n` booleans, true on the front; ``None`` computes the front of the
            feasible points in these two objectives (of identical points the first).
        feasible_mask: `n` booleans, false for points that violate a constraint;
            ``None``: all feasible.
        ax: Axes to draw on; ``None`` creates a new figure.
        xlabel: Name of the first objective; the direction is appended.
        ylabel: Name of the second objective; the direction is appended.
        title: Axes title.

    Returns:
        The axes drawn on.
    """
    x = np.asarray(values_x, dtype=float).ravel()
    y = np.asarray(values_y, dtype=float).ravel()
    if x.shape != y.shape:
        raise ValueError(
            f"values_x and values_y: expected equal lengths, got {x.size} and {y.size}"
        )
    if x.size == 0:
        raise ValueError("values_x: expected at least one point")
    n = x.size
    ok = np.isfinite(x) & np.isfinite(y)
    feas = _mask(feasible_mask, n, "feasible_mask")
    feas = np.ones(n, dtype=bool) if feas is None else feas
    front = _mask(front_mask, n, "front_mask")
    if front is None:
        idx = np.flatnonzero(ok & feas)
        Y = np.column_stack([-x[idx] if minimize_x else x[idx],
                             -y[idx] if minimize_y else y[idx]])
        front = np.zeros(n, dtype=bool)
        front[idx[pareto_mask(Y)]] = True
    front = front & ok
    if ax is None:
        _, ax = plt.subplots(figsize=(5.0, 3.6))
    dominated = ok & feas & ~front
    infeasible = ok & ~feas & ~front
    # Sky blue, as the architectures of `plot_accuracy_vs_cost`, faded behind the front.
    if dominated.any():
        ax.scatter(x[dominated], y[dominated], s=14, color=method_colour(5), alpha=0.45,
                   linewidths=0, label="dominated")
    if infeasible.any():
        ax.scatter(x[infeasible], y[infeasible], s=18, marker="x", color=method_colour(1),
                   alpha=0.7, linewidths=1.0, label="infeasible")
    if front.any():
        sel = np.flatnonzero(front)
        sel = sel[np.argsort(x[sel], kind="stable")]
        # The step follows the point that attains each x: the next one when larger x
        # is better, the previous one when smaller is.
        ax.plot(x[sel], y[sel], color=method_colour(2), linewidth=1.5,
                drawstyle="steps-post" if minimize_x else "steps-pre", zorder=2)
        ax.scatter(x[sel], y[sel], s=36, color=method_colour(2), edgecolors=line_colour(),
                   linewidths=0.6, zorder=3, label=f"Pareto front ({sel.size})")
    ax.set_xlabel(_direction(xlabel, minimize_x))
    ax.set_ylabel(_direction(ylabel, minimize_y))
    if title:
        ax.set_title(title, color=foreground())
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return ax
