r"""Params and FLOPs of every NB-201 cell, rebuilt from the zero-cost table.

Params and FLOPs are exactly linear in per-edge op indicators,

.. math::

    y(\text{cell}) = \beta_0 + \sum_{k=1}^{6} \sum_{o \ne \text{none}}
    \beta_{k,o}\, [\text{op}_k = o],

so the 25 coefficients are fitted by least squares on the 9,445 rows of the zero-cost
table (``nb201_zc_proxies_cifar10.csv``) and the fit is required to reproduce every row
(max residual below 1e-6 M), which rebuilds the costs of all 15,625 cells.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from bo_nas.encodings import NB201_OPS

from ._nb201_readers import zc_rows
from ._tables import BenchmarkTableError, parse_number

#: Classifier of the NB-201 network: global average pool, then Linear(64, classes).
_HEAD_IN = 64


def _indicators(ops_rows: np.ndarray) -> np.ndarray:
    """Design matrix `n x 25`: intercept, then [op_k == o] for k in 0..5, o ≠ none."""
    n = ops_rows.shape[0]
    x = np.zeros((n, 1 + 6 * 4))
    x[:, 0] = 1.0
    for k in range(6):
        for o in range(1, 5):
            x[:, 1 + 4 * k + (o - 1)] = ops_rows[:, k] == o
    return x


def op_codes(strings_ops: Iterable[Sequence[str]]) -> np.ndarray:
    """Positions in `NB201_OPS` of each cell's 6 edge ops, shape `n x 6`."""
    pos = {op: i for i, op in enumerate(NB201_OPS)}
    return np.array([[pos[o] for o in ops] for ops in strings_ops], dtype=np.int64).reshape(-1, 6)


def fit_costs(path: Path) -> dict[str, np.ndarray]:
    """Coefficients (length 25) of params and FLOPs (millions, CIFAR-10 network).

    Args:
        path: The zero-cost table, in the columns `ZC_COLUMNS`.

    Raises:
        BenchmarkTableError: for a bad or repeated row, rows too few to determine every
            coefficient, or costs that the linear model does not reproduce.
    """
    ops_rows: list[tuple[str, ...]] = []
    lines: list[int] = []
    params: list[float] = []
    flops: list[float] = []
    for line, ops, row in zc_rows(path):
        where = f"line {line}"
        ops_rows.append(ops)
        lines.append(line)
        params.append(parse_number(path, where, "params", row["params"]))
        flops.append(parse_number(path, where, "flops", row["flops"]))
    x = _indicators(op_codes(ops_rows))
    rank = np.linalg.matrix_rank(x) if len(ops_rows) else 0
    if rank < x.shape[1]:
        raise BenchmarkTableError(
            f"{path}: {len(ops_rows)} rows do not determine params/FLOPs of every op on every "
            f"edge (design rank {rank} < {x.shape[1]})"
        )
    coef: dict[str, np.ndarray] = {}
    for name, y in (("params", np.array(params)), ("flops", np.array(flops))):
        try:
            c, *_ = np.linalg.lstsq(x, y, rcond=None)
        except np.linalg.LinAlgError as exc:
            raise BenchmarkTableError(f"{path}: cannot fit {name} per edge op ({exc})") from None
        with np.errstate(all="ignore"):  # huge values overflow to inf: caught just below
            resid = np.abs(x @ c - y)
        # NaN residuals (from overflowing values) count as the worst misses.
        resid = np.where(np.isfinite(resid), resid, np.inf)
        worst = int(np.argmax(resid))
        if not resid[worst] <= 1e-6:
            raise BenchmarkTableError(
                f"{path}: {name} are not linear in per-edge ops as expected: the fit misses "
                f"line {lines[worst]} by {resid[worst]:.3g} M"
            )
        coef[name] = c
    return coef


def _head(n_classes: int) -> float:
    """Params of Linear(64, n_classes), in millions (also its FLOPs per image)."""
    return (_HEAD_IN * n_classes + n_classes) * 1e-6


def costs_for(coef: Mapping[str, np.ndarray], codes: np.ndarray, n_classes: int,
              dataset: str) -> tuple[np.ndarray, np.ndarray]:
    """Params and FLOPs (millions) of the cells ``codes`` for a dataset's network.

    Args:
        coef: `fit_costs` output.
        codes: `op_codes` of the cells, shape `n x 6`.
        n_classes: The dataset's classes, which size the classifier.
        dataset: The dataset; ``ImageNet16-120`` has smaller feature maps.

    Returns:
        ``(params, flops)``, shape `n` each.
    """
    x = _indicators(codes)
    # The fit reproduces integer counts to ~1e-13; rounding to the table's 6 decimals
    # (units of one parameter / one FLOP) gives the exact counts back.
    params = np.round(x @ coef["params"], 6)
    flops = np.round(x @ coef["flops"], 6)
    params = np.round(params + _head(n_classes) - _head(10), 6)
    if dataset == "ImageNet16-120":
        # 16x16 inputs: every feature map has a quarter of the CIFAR area, so all but
        # the classifier's FLOPs are divided by 4 (an estimate: not always whole FLOPs).
        flops = (flops - _head(10)) / 4.0 + _head(n_classes)
    else:
        flops = np.round(flops + _head(n_classes) - _head(10), 6)
    return params, flops
