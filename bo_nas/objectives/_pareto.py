r"""Pareto fronts and hypervolumes, in the maximisation convention.

Every function takes outcomes :math:`Y \in \mathbb R^{n \times m}` where larger is
better in every column (negate a cost to minimise it). Only numpy is needed for two
objectives; more use BoTorch's exact hypervolume algorithm.
"""

from __future__ import annotations

import numpy as np


def pareto_mask(Y: np.ndarray) -> np.ndarray:
    r"""Which rows of ``Y`` no other row dominates.

    Row :math:`a` dominates :math:`b` when :math:`a \ge b` in every column and
    :math:`a > b` in one. Of identical rows the first is kept. Rows with a NaN are
    never on the front.

    Returns:
        Boolean array of shape `n`.
    """
    Y = np.asarray(Y, dtype=float)
    if Y.ndim != 2:
        raise ValueError(f"Y: expected shape n x m, got {Y.shape}")
    n = len(Y)
    ok = ~np.isnan(Y).any(axis=1)
    mask = ok.copy()
    for i in np.flatnonzero(ok):
        if not mask[i]:
            continue
        others = Y[ok]
        ge = (others >= Y[i]).all(axis=1)
        gt = (others > Y[i]).any(axis=1)
        if (ge & gt).any():
            mask[i] = False
    # Identical rows: keep the first.
    idx = np.flatnonzero(mask)
    seen: set[bytes] = set()
    for i in idx:
        key = Y[i].tobytes()
        if key in seen:
            mask[i] = False
        seen.add(key)
    assert len(mask) == n
    return mask


def hypervolume(Y: np.ndarray, ref: np.ndarray) -> float:
    r"""The volume dominated by ``Y`` and dominating the reference point:

    .. math::

        \mathrm{HV}(Y; r) = \lambda\Big(\bigcup_{y \in Y,\, y > r}
            [r_1, y_1] \times \dots \times [r_m, y_m]\Big).

    Points that do not strictly dominate ``ref`` add nothing. Exact: a sweep for
    :math:`m \le 2`, BoTorch's ``Hypervolume`` (Fonseca et al.'s algorithm) above.
    """
    Y = np.asarray(Y, dtype=float)
    ref = np.asarray(ref, dtype=float).reshape(-1)
    if Y.ndim != 2 or Y.shape[1] != len(ref):
        raise ValueError(f"Y: expected shape n x {len(ref)}, got {Y.shape}")
    Y = Y[~np.isnan(Y).any(axis=1)]
    Y = Y[(ref < Y).all(axis=1)]
    if len(Y) == 0:
        return 0.0
    m = Y.shape[1]
    if m == 1:
        return float(Y[:, 0].max() - ref[0])
    if m == 2:
        front = Y[pareto_mask(Y)]
        front = front[np.argsort(-front[:, 0])]  # first objective descending
        # Second objective then ascends along the front: sum the staircase slabs.
        widths = front[:, 0] - np.append(front[1:, 0], ref[0])
        return float(np.sum(widths * (front[:, 1] - ref[1])))
    import torch
    from botorch.utils.multi_objective.hypervolume import Hypervolume

    front = torch.as_tensor(Y[pareto_mask(Y)], dtype=torch.float64)
    return float(Hypervolume(torch.as_tensor(ref, dtype=torch.float64)).compute(front))
