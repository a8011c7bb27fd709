"""What the tabular evaluators share: the results type, and loading a table lazily.

Every tabular evaluator holds one parsed table, read through `cached` (so once per
process and set of files), and pickles as its settings only: executors ship evaluators
to workers, and a worker reloads the table from its own cache rather than receiving
15,625 rows in every task.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

import numpy as np

from bo_nas.encodings import Architecture
from bo_nas.spaces import SearchSpace

from ._base import Evaluator

if TYPE_CHECKING:
    from bo_nas.objectives import CostSource


@dataclass(frozen=True)
class TabularResults:
    """Every entry of a table, in the table's order (official index order for NB-201).

    Attributes:
        keys: What names each entry, length `n`: the official string for NB-201, the
            canonical hash `Architecture.key` for NB-101.
        val_accuracy: The objective `evaluate` reports, shape `n`.
        costs: ``params`` and ``flops`` (millions), and whatever else the table
            stores per entry (NB-201: the HW-NAS-Bench metrics read, NaN where
            missing; NB-101 imported: ``train_seconds``), shape `n` each.
        test_accuracy: The test accuracy `evaluate` reports, shape `n`; ``None`` for a
            table without a test split (NB-101).
        index: Official benchmark index of each entry, shape `n`; ``None`` for a table
            without one (NB-101).
        architectures: The entries as architectures, length `n`; ``None`` where `keys`
            already spell them out (NB-201: ``NB201Space().from_string(key)``), since
            building 15,625 graphs on every call would cost seconds.

    The arrays are shared and read-only.
    """

    keys: tuple[str, ...]
    val_accuracy: np.ndarray
    costs: Mapping[str, np.ndarray]
    test_accuracy: np.ndarray | None = None
    index: np.ndarray | None = None
    architectures: tuple[Architecture, ...] | None = None

    @property
    def strings(self) -> tuple[str, ...]:
        """`keys` under NB-201's name: the cells' official strings."""
        return self.keys


@dataclass(frozen=True)
class TabularOptimum:
    """The cell with the best objective in a table, and its test accuracy.

    Attributes:
        string: Its official string (NB-101: its `Architecture.key`).
        index: Its official index (NB-101: its row in the sample).
        val_accuracy: Its objective (the best of the table).
        test_accuracy: Its test accuracy: the number a perfect search reports; NaN for
            a table without a test split (NB-101).
    """

    string: str
    index: int
    val_accuracy: float
    test_accuracy: float


class LoadedTable(Protocol):
    """What a tabular evaluator's parsed table offers at least."""

    @property
    def row_of(self) -> Mapping[str, int]:
        """Row of each key."""
        ...

    @property
    def sample(self) -> bool:
        """Whether the table is a sample by design (it holds only part of its space)."""
        ...

    @property
    def results(self) -> TabularResults:
        """Every entry's numbers over the table's shared arrays.

        A new object on every call, so that a caller editing its ``costs`` mapping
        leaves the cached table alone.
        """
        ...


TableT = TypeVar("TableT", bound=LoadedTable)


def readonly(a: np.ndarray) -> np.ndarray:
    """``a``, made read-only: cached tables are shared by every evaluator of a process."""
    a.setflags(write=False)
    return a


class TabularBenchmark(Evaluator, Generic[TableT]):
    """An evaluator answering from a parsed table that it loads on first use.

    Subclasses implement `_read_table` (through `cached`, so that every instance of a
    process shares one copy) and call `_load` wherever they need the table, which is a
    `LoadedTable`. The table is dropped when the evaluator is pickled and read again,
    from the worker's own cache, on first use after unpickling. ``len`` and
    `all_results` come from the table.
    """

    _table: TableT | None = None

    @abstractmethod
    def _read_table(self) -> TableT:
        """The parsed table for this evaluator's settings, from the process cache."""

    def _load(self) -> TableT:
        if self._table is None:
            self._table = self._read_table()
        return self._table

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_table"] = None
        return state

    def __len__(self) -> int:
        return len(self._load().row_of)

    def all_results(self) -> TabularResults:
        """Every entry's objective, test accuracy and costs, in the table's order."""
        return self._load().results

    def known_costs(self) -> CostSource:
        """Every cost the table stores (`bo_nas.objectives.TableCosts`): all known
        before evaluating."""
        from bo_nas.objectives import TableCosts

        return TableCosts(self)

    @property
    def sample(self) -> bool:
        """Whether the table is a sample by design: it holds only some cells of its
        space (declared in code, like NB-101's 500-entry file, or in the benchmark
        folder's ``samples.json``). Campaigns on it search only those cells
        (`search_space`). A table that is neither complete nor a declared sample is
        refused when loaded."""
        return bool(self._load().sample)

    @abstractmethod
    def search_space(self) -> SearchSpace:
        """The space a campaign on this table searches: the full space for a complete
        table, a `bo_nas.spaces.SubsetSpace` of its cells for a sample."""
