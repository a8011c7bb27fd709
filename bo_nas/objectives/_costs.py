"""Costs known before an evaluation: the protocol, and the two sources bo-nas ships.

A tabular benchmark knows every cost of every cell (a lookup). A training evaluator
knows parameters and FLOPs as soon as it can build the network, long before training
it. Hard constraints and known-cost objectives read these numbers, so they are exact
and cost no evaluation.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from bo_nas.encodings import Architecture

if TYPE_CHECKING:
    from bo_nas.evaluators import Evaluator


class CostSource(ABC):
    """Costs of architectures, known without evaluating them.

    ``names`` lists the costs the source knows; `costs` returns them for any
    architecture of the evaluator's space, in the same units the evaluator reports in
    ``EvaluationResult.costs``.
    """

    #: The costs this source knows.
    names: tuple[str, ...]

    @abstractmethod
    def costs(self, archs: Sequence[Architecture], names: Sequence[str]) -> np.ndarray:
        """``len(archs) x len(names)`` array; NaN where a cost is unknown for a cell.

        Raises:
            KeyError: for a name not in `names`.
        """

    def all_costs(self, names: Sequence[str]) -> np.ndarray | None:
        """The costs of every architecture of the space (rows in any order), when the
        source can list them (a complete table); ``None`` otherwise."""
        return None

    def _check(self, names: Sequence[str]) -> None:
        unknown = [n for n in names if n not in self.names]
        if unknown:
            raise KeyError(f"unknown costs {unknown}; this source knows {list(self.names)}")


class TableCosts(CostSource):
    """Every cost a tabular benchmark stores, read by looking the cell up.

    Args:
        bench: A `TabularBenchmark` (its `evaluate` is the lookup; ``all_results``
            lists the table).
    """

    def __init__(self, bench: Any) -> None:
        self.bench = bench
        self.names = tuple(bench.all_results().costs)

    def costs(self, archs: Sequence[Architecture], names: Sequence[str]) -> np.ndarray:
        self._check(names)
        out = np.full((len(archs), len(names)), np.nan)
        for i, a in enumerate(archs):
            c = self.bench.evaluate(a).costs
            for j, n in enumerate(names):
                v = c.get(n)
                if v is not None:
                    out[i, j] = v
        return out

    def all_costs(self, names: Sequence[str]) -> np.ndarray | None:
        self._check(names)
        table = self.bench.all_results().costs
        return np.column_stack([np.asarray(table[n], dtype=float) for n in names])


class GraphCosts(CostSource):
    """Parameters and FLOPs (millions) of a training evaluator's networks, counted on
    the network built for the cell (the evaluator's space, sizes and dataset) before any
    training: the numbers its results will report.

    Counts are cached per cell (exact edges and ops: cells equal up to dead edges have
    the same network function but not the same parameter count).
    """

    names = ("params", "flops")

    def __init__(self, evaluator: Evaluator) -> None:
        self.evaluator = evaluator
        self._cache: dict[str, tuple[float, float]] = {}
        self._shape: tuple[int, tuple[int, ...]] | None = None

    def _data_shape(self) -> tuple[int, tuple[int, ...]]:
        if self._shape is None:
            from bo_nas.training import load_dataset

            ev: Any = self.evaluator
            data = load_dataset(ev.dataset, ev.data_dir)
            self._shape = (data.num_classes, tuple(data.image_shape))
        return self._shape

    def _count(self, arch: Architecture) -> tuple[float, float]:
        import torch

        from bo_nas.training import build_network
        from bo_nas.training._flops import count_flops, count_parameters

        ev: Any = self.evaluator
        classes, shape = self._data_shape()
        with torch.no_grad():
            model = build_network(arch, ev.space, classes, channels=ev.channels,
                                  cells_per_stage=ev.cells_per_stage, in_channels=shape[0])
            model.eval()
            return count_parameters(model) / 1e6, count_flops(model, shape) / 1e6

    def costs(self, archs: Sequence[Architecture], names: Sequence[str]) -> np.ndarray:
        self._check(names)
        cols = [self.names.index(n) for n in names]
        out = np.empty((len(archs), len(names)))
        for i, a in enumerate(archs):
            key = json.dumps(a.to_dict(), sort_keys=True)
            hit = self._cache.get(key)
            if hit is None:
                hit = self._cache[key] = self._count(a)
            out[i] = [hit[c] for c in cols]
        return out
