"""One prior score per architecture from several zero-cost scores."""

from __future__ import annotations

import numpy as np


def rank_score(scores: np.ndarray) -> np.ndarray:
    r"""The mean normalised rank of each row over the columns, centred on 0.

    For an ``n x m`` score matrix, column :math:`j`'s values are ranked among the ``n``
    rows (ties share their mean rank) and mapped to
    :math:`u_{ij} = (\mathrm{rank}_{ij} - \tfrac12)/n - \tfrac12 \in (-\tfrac12, \tfrac12)`;
    the result is :math:`\bar u_i`, the mean over the columns known for row :math:`i`
    (0, the median, for a row with none). Ranks make scores of different units and
    heavy tails (SynFlow spans orders of magnitude; failures are -1e8 sentinels)
    comparable, and their mean is the "vote" of the proxies.
    """
    scores = np.asarray(scores, dtype=float)
    if scores.ndim != 2:
        raise ValueError(f"scores: expected an n x m array, got shape {scores.shape}")
    n, m = scores.shape
    if n == 0:
        return np.zeros(0)
    u = np.full((n, m), np.nan)
    for j in range(m):
        col = scores[:, j]
        known = ~np.isnan(col)
        k = int(known.sum())
        if k:
            u[known, j] = (_ranks(col[known]) - 0.5) / k - 0.5
    with np.errstate(invalid="ignore"):
        counts = (~np.isnan(u)).sum(1)
        total = np.nansum(u, axis=1)
    return np.where(counts > 0, total / np.maximum(counts, 1), 0.0)


def _ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks with ties averaged."""
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x))
    ranks[order] = np.arange(1, len(x) + 1)
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    sums = np.zeros(len(counts))
    np.add.at(sums, inverse, ranks)
    return sums[inverse] / counts[inverse]
