"""Search curves, accuracy-versus-cost scatters and saving figures."""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ._colours import foreground, line_colour, method_colour

ArrayLike = Sequence[float] | Sequence[Sequence[float]] | np.ndarray


def _as_curves(curves: Mapping[str, ArrayLike] | ArrayLike) -> dict[str, np.ndarray]:
    items = list(curves.items()) if isinstance(curves, Mapping) else [("", curves)]
    if not items:
        raise ValueError("curves: expected at least one curve")
    out: dict[str, np.ndarray] = {}
    for name, values in items:
        try:
            arr = np.asarray(values, dtype=float)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"curves[{name!r}]: not a numeric array ({exc})") from None
        if arr.ndim not in (1, 2) or arr.shape[-1] == 0:
            raise ValueError(
                f"curves[{name!r}]: expected a non-empty 1-D array (queries) or 2-D array "
                f"(trials x queries), got shape {arr.shape}"
            )
        out[str(name)] = arr
    return out


def plot_search_curve(
    curves: Mapping[str, ArrayLike] | ArrayLike,
    ax: Axes | None = None,
    *,
    ylabel: str = "best validation accuracy (%)",
    xlabel: str = "queries",
    optimum: float | None = None,
    regret: bool = False,
    title: str | None = None,
) -> Axes:
    r"""Incumbent value after each query, one line per method.

    A 1-D array is one run. A 2-D array (`n_trials x n_queries`) is several seeded runs
    of one method: the line is the median over trials and the band the interquartile
    range (25th to 75th percentile). NaNs (queries before the first result, runs shorter
    than others) are ignored per query.

    Args:
        curves: ``{method name: values}``, or the values of a single method.
        ax: Axes to draw on; ``None`` creates a new figure.
        ylabel: Label of the value axis.
        xlabel: Label of the query axis.
        optimum: Best attainable value, drawn as a dashed line (or, with ``regret``,
            subtracted: :math:`r_t = y^\star - y_t` on a log axis).
        regret: Plot the simple regret instead of the value; needs ``optimum``. Zero
            regret (optimum found) has no place on the log axis and is not drawn.
        title: Axes title.

    Returns:
        The axes drawn on.
    """
    data = _as_curves(curves)
    if regret and optimum is None:
        raise ValueError("regret=True needs the optimum")
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 3.5))
    for i, (name, arr) in enumerate(data.items()):
        colour = method_colour(i)
        if regret:
            arr = float(optimum) - arr  # type: ignore[arg-type]
        x = np.arange(1, arr.shape[-1] + 1)
        label = name or None
        if arr.ndim == 1:
            ax.plot(x, arr, color=colour, linewidth=1.8, label=label, drawstyle="steps-post")
            continue
        # Queries before any result are all-NaN columns: numpy warns, the band is empty.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            med = np.nanmedian(arr, axis=0)
            lo, hi = np.nanpercentile(arr, [25.0, 75.0], axis=0)
        n = arr.shape[0]
        if label is not None:
            label = f"{label} (median of {n}, IQR)"
        ax.plot(x, med, color=colour, linewidth=1.8, label=label, drawstyle="steps-post")
        ax.fill_between(x, lo, hi, color=colour, alpha=0.3, linewidth=0, step="post")
    if optimum is not None and not regret:
        ax.axhline(float(optimum), color=line_colour(), linestyle="--", linewidth=1.0,
                   label="optimum")
    if regret:
        ax.set_yscale("log")
        ylabel = "simple regret" if ylabel == "best validation accuracy (%)" else ylabel
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, color=foreground())
    if any(name for name in data) or (optimum is not None and not regret):
        ax.legend(fontsize=8)
    ax.grid(True, alpha=0.3)
    return ax


def _pareto_mask(values: np.ndarray, costs: np.ndarray) -> np.ndarray:
    """Points no other point beats (higher value and lower cost, one strictly)."""
    order = np.lexsort((-values, costs))  # cost ascending, value descending on ties
    mask = np.zeros(len(values), dtype=bool)
    best = -np.inf
    for i in order:
        if values[i] > best:
            mask[i] = True
            best = values[i]
    return mask


def plot_accuracy_vs_cost(
    values: Sequence[float] | np.ndarray,
    costs: Sequence[float] | np.ndarray,
    ax: Axes | None = None,
    *,
    xlabel: str = "cost",
    ylabel: str = "validation accuracy (%)",
    highlight: int | Sequence[int] | np.ndarray | None = None,
    highlight_label: str = "selected",
    pareto: bool = False,
    logx: bool = False,
    title: str | None = None,
) -> Axes:
    """Scatter of a value (accuracy) against a cost (params, FLOPs, latency).

    Args:
        values: `n` values (higher is better).
        costs: `n` costs (lower is better), same order.
        ax: Axes to draw on; ``None`` creates a new figure.
        xlabel: Label of the cost axis.
        ylabel: Label of the value axis.
        highlight: Points to mark: an index, a list of indices or a boolean mask.
        highlight_label: Legend label of the highlighted points.
        pareto: Also draw the Pareto front (max value, min cost).
        logx: Logarithmic cost axis.
        title: Axes title.

    Returns:
        The axes drawn on.
    """
    v = np.asarray(values, dtype=float).ravel()
    c = np.asarray(costs, dtype=float).ravel()
    if v.shape != c.shape:
        raise ValueError(f"values and costs: expected equal lengths, got {v.size} and {c.size}")
    if v.size == 0:
        raise ValueError("values: expected at least one point")
    if ax is None:
        _, ax = plt.subplots(figsize=(5.0, 3.6))
    ok = np.isfinite(v) & np.isfinite(c)
    # Sky blue rather than the deeper method blue: small points must show on black too.
    ax.scatter(c[ok], v[ok], s=14, color=method_colour(5), alpha=0.6, linewidths=0,
               label="architectures")
    if pareto and ok.any():
        idx = np.flatnonzero(ok)
        front = idx[_pareto_mask(v[ok], c[ok])]
        front = front[np.argsort(c[front])]
        ax.plot(c[front], v[front], color=method_colour(2), linewidth=1.5,
                drawstyle="steps-post", label="Pareto front")
    if highlight is not None:
        h = np.asarray(highlight)
        if h.dtype == bool:
            if h.shape != v.shape:
                raise ValueError(
                    f"highlight: a boolean mask needs {v.size} entries, got {h.size}"
                )
            sel = np.flatnonzero(h)
        else:
            sel = np.atleast_1d(h).astype(int)
            if sel.size and (sel.min() < -v.size or sel.max() >= v.size):
                raise ValueError(f"highlight: index out of range for {v.size} points")
        ax.scatter(c[sel], v[sel], s=70, marker="*", color=method_colour(1),
                   edgecolors=line_colour(), linewidths=0.6, zorder=3, label=highlight_label)
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, color=foreground())
    ax.grid(True, alpha=0.3)
    if highlight is not None or pareto:
        ax.legend(fontsize=8)
    return ax


def save_figure(
    fig: Figure, path: str | os.PathLike[str], *, dpi: int = 150, close: bool = False
) -> Path:
    """Write a figure (format from the suffix) at ``dpi`` with a tight bounding box.

    Missing parent folders are created. With ``close`` the figure is released from
    pyplot afterwards (scripts that draw many figures).

    Returns:
        The path written.
    """
    if not isinstance(fig, Figure):
        raise ValueError(f"fig: expected a matplotlib Figure, got {type(fig).__name__}")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=dpi, bbox_inches="tight")
    if close:
        plt.close(fig)
    return out
