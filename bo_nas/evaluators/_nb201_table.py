"""NAS-Bench-201 answered from tables: accuracies, params, FLOPs and device latencies.

The files and how one dataset's table is assembled from them are in `_nb201_datasets`;
how params and FLOPs are rebuilt for every cell is in `_cost_model`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bo_nas.encodings import Architecture, InvalidArchitectureError, parse_nb201
from bo_nas.encodings._nb201 import nb201_ops_of
from bo_nas.spaces import NB201Space, SearchSpace, SubsetSpace

from ._base import Budget, EvaluationError, EvaluationResult
from ._nb201_datasets import (
    CURVE_EPOCHS,
    DATASETS,
    FIDELITY_FILE,
    NB201_DATASETS,
    NB201_FIDELITIES,
    Curves,
    Table,
    curves_file,
    load_curves,
    load_table,
)
from ._regret import incumbent_test_accuracy
from ._table import TabularBenchmark, TabularOptimum
from ._tables import BenchmarkDataError, absolute_path, nb201_key, resolve_data_dir

if TYPE_CHECKING:
    from bo_nas.zero_cost import ScoreSource


logger = logging.getLogger(__name__)

class NB201Benchmark(TabularBenchmark[Table]):
    r"""NAS-Bench-201 results looked up in tables instead of trained.

    Datasets (each reports a validation accuracy to select on and a test accuracy):

    - ``cifar10``: ``val_acc_200`` (the cifar10-valid validation accuracy) and
      ``test_acc_200`` (the ``cifar10`` split: trained on train+valid) of
      ``nb201_cifar10_trainval.json``; the standard CIFAR-10 protocol.
    - ``cifar10-valid``, ``cifar100``: ``validation accuracy`` / ``test accuracy`` of the
      CSV tables.
    - ``ImageNet16-120``: the same columns of ``nb201_ImageNet16-120.csv``, a file the
      user makes from the official benchmark (not shipped).

    Fidelity: ``200`` (default) uses the 200-epoch numbers above. ``12`` replaces only
    the *objective*: ``val_accuracy`` becomes the **12-epoch test accuracy** of
    ``nb201_test_12ep_200ep.csv`` (single seed), because that file has no 12-epoch
    validation numbers; its CIFAR-10 column is the ``cifar10`` split, so fidelity 12
    is offered for ``cifar10`` and ``cifar100`` only. ``test_accuracy`` stays the
    200-epoch test accuracy of the dataset's table, so regrets stay in final-model
    terms. Note that at fidelity 12 the search is steered by a test-set number.

    Multi-fidelity (`fidelities`, `evaluate_at`): the table answers at several training
    budgets, each request at ``budget.epochs``, from one of two sources:

    - Per-epoch curves, when the data folder holds ``nb201_curves_<dataset>.csv``
      (written by ``bo-nas data import``; ``cifar10`` reads the cifar10-valid curves,
      whose validation split is its objective): fidelities are every epoch 1..200, and
      below 200 ``val_accuracy`` is the **validation** accuracy after that epoch of the
      200-epoch schedule, so a promoted trial really continues the same run.
    - Otherwise, on ``cifar10`` and ``cifar100`` (the datasets with a 12-epoch column,
      and only when ``nb201_test_12ep_200ep.csv`` is there), fidelities ``(12, 200)``:
      the 12-epoch rung is what ``fidelity=12`` gives, the **12-epoch test-set
      accuracy** (single seed) of a separate 12-epoch schedule. A multi-fidelity search
      steered by it is steered by *test* accuracy at its low rung, and a promotion from
      12 to 200 epochs pretends the 12-epoch run continues. Other datasets have no
      fidelities (``None``).

    The last rung (200) is always what the default ``fidelity=200`` evaluator's
    `evaluate` gives: the validation split, as everywhere else. At every rung
    ``test_accuracy`` and ``costs`` are the 200-epoch ones (regrets stay in
    final-model terms; costs are the network's, not the budget's). ``info`` adds
    ``epochs`` and ``max_epochs`` (the budget's) and ``epochs_trained`` (``epochs -
    budget.previous``: a table continues a promoted trial as if from its checkpoint),
    which `bo_nas.campaign.FlopsCostModel` charges for; from curves with times, also
    ``train_seconds``, the recorded seconds of those epochs. The table of the other
    fidelity and the curves are read on the first request that needs them.

    Costs (``costs``): ``params`` and ``flops`` in millions. Without the zero-cost table
    but with ``nb201_costs.csv`` (written by ``bo-nas data import`` from the official
    file), each cell's own numbers for the dataset are read from it. Otherwise they are
    rebuilt for every cell from the CIFAR-10 zero-cost table (see `_cost_model`). The table counts a
    Linear(64, 10) classifier; other datasets add the head difference
    :math:`64(c - 10) + (c - 10)` to both (weights plus bias, FLOPs counted per image as
    the NB-201 counter does). For ImageNet16-120 (16×16 inputs) every feature map has a
    quarter of the CIFAR area, so FLOPs except the classifier's are divided by 4; this is
    an estimate derived from the CIFAR counts, not read from a table (it assumes every
    counted op but the classifier scales with feature-map area). HW-NAS-Bench metrics
    (``edgegpu_latency``,
    ``edgegpu_energy``, ``raspi4_latency``, ``edgetpu_latency``, ``pixel3_latency``,
    ``eyeriss_latency``, ``eyeriss_energy``, ``eyeriss_arithmetic_intensity``,
    ``fpga_latency``, ``fpga_energy``) come from ``nb201_hw_<dataset>.csv`` (the
    CIFAR-10 one for ``cifar10-valid``); a metric missing there (-1) is left out.

    ``info`` holds ``index`` (the official index) and ``string`` (the official string).

    Cells are looked up by their exact edge ops, not by `Architecture.key`: cells equal
    up to dead edges are one network but distinct table entries with distinct numbers.

    Tables are read once per process and data directory; the evaluator pickles as its
    settings only and reloads in the worker. `all_results` lists the cells in official
    index order.

    Args:
        dataset: One of `NB201_DATASETS`.
        data_dir: Folder holding ``nb201/``; `$BO_NAS_DATA_DIR` when omitted.
        fidelity: Training epochs, 12 or 200.
        hardware: Read the HW table: ``True`` requires it, ``False`` skips it, ``None``
            requires it for the CIFAR datasets (shipped) and reads
            ``nb201_hw_ImageNet16-120.csv`` when present; in a folder written by
            ``bo-nas data import`` (costs from ``nb201_costs.csv``, no zero-cost table)
            every HW table is read when present.

    Raises:
        ValueError: for an unknown dataset or fidelity, or fidelity 12 on a dataset
            without 12-epoch numbers.
        BenchmarkFileNotFoundError: for a missing data directory or file.
        BenchmarkTableError: for a file with other columns or a bad row.

    Example:
        >>> bench = NB201Benchmark("cifar10")  # doctest: +SKIP
        >>> bench.optimum.test_accuracy  # doctest: +SKIP
        94.37333333333333
    """

    kind = "nb201_table"

    def __init__(
        self,
        dataset: str = "cifar10",
        data_dir: str | os.PathLike[str] | None = None,
        fidelity: int = 200,
        *,
        hardware: bool | None = None,
    ) -> None:
        if not isinstance(dataset, str) or dataset not in DATASETS:
            raise ValueError(f"dataset: expected one of {NB201_DATASETS}, got {dataset!r}")
        if isinstance(fidelity, bool) or fidelity not in NB201_FIDELITIES:
            raise ValueError(f"fidelity: expected one of {NB201_FIDELITIES}, got {fidelity!r}")
        if fidelity == 12 and DATASETS[dataset].fidelity_column is None:
            ok = [d for d, s in DATASETS.items() if s.fidelity_column]
            raise ValueError(
                f"fidelity 12 is not available for {dataset!r}: {FIDELITY_FILE} has "
                f"12-epoch numbers for {ok} only"
            )
        if hardware is not None and not isinstance(hardware, bool):
            raise ValueError(f"hardware: expected True, False or None, got {hardware!r}")
        self.dataset = dataset
        self.fidelity = int(fidelity)
        self.hardware = hardware
        self._root = resolve_data_dir(data_dir)
        # Absolute, so that a stored campaign resumes from any working directory.
        self._data_dir_arg = None if data_dir is None else absolute_path(data_dir)
        # Which fidelities the folder offers is settled once, so that a campaign sees
        # the same rungs throughout; the tables behind them are read on first use.
        curves = self._root / "nb201" / curves_file(dataset)
        self._curves_path: str | None = str(curves) if curves.is_file() else None
        self._has_short = (DATASETS[dataset].fidelity_column is not None
                           and (self._root / "nb201" / FIDELITY_FILE).is_file())
        self._load()  # a missing or bad file fails here, not at the first evaluation

    # Loaded on first use by evaluate_at and dropped when pickled, like `_table`.
    _other: Table | None = None
    _curves: Curves | None = None

    def _read_table(self) -> Table:
        return load_table(self._root, self.dataset, self.fidelity, self.hardware)

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state["_other"] = None
        state["_curves"] = None
        return state

    def _table_at(self, fidelity: int) -> Table:
        """The table of ``fidelity`` (12 or 200): this evaluator's own, or the other."""
        if fidelity == self.fidelity:
            return self._load()
        if self._other is None:
            self._other = load_table(self._root, self.dataset, fidelity, self.hardware)
        return self._other

    def _load_curves(self) -> Curves:
        assert self._curves_path is not None
        if self._curves is None:
            self._curves = load_curves(Path(self._curves_path))
        return self._curves

    # --- the evaluator protocol --------------------------------------------------------

    def evaluate(self, arch: Architecture) -> EvaluationResult:
        """The table's result for an NB-201 cell.

        Raises:
            EvaluationError: when ``arch`` is not an NB-201 cell or not in the table.
        """
        try:
            ops = nb201_ops_of(arch)
        except InvalidArchitectureError as exc:
            raise EvaluationError(f"{arch!r} is not an NB-201 cell: {exc}") from None
        return self.lookup(nb201_key(ops))

    def fidelities(self) -> tuple[int, ...] | None:
        """Epochs `evaluate_at` answers at: 1..200 from per-epoch curves, else
        ``(12, 200)`` on the datasets with 12-epoch numbers, else ``None``."""
        if self._curves_path is not None:
            return tuple(range(1, CURVE_EPOCHS + 1))
        if self._has_short:
            return NB201_FIDELITIES
        return None

    def evaluate_at(self, arch: Architecture, budget: Budget) -> EvaluationResult:
        """The table's result for an NB-201 cell after ``budget.epochs`` (see the class
        docstring for what each rung reports).

        Raises:
            EvaluationError: when ``arch`` is not an NB-201 cell or not in the table,
                when ``budget.epochs`` is not one of `fidelities`, or when
                ``budget.max_epochs`` is not the final one (200).
        """
        allowed = self.fidelities()
        if allowed is None:
            raise EvaluationError(
                f"{self!r} has no fidelities: the data folder has no "
                f"{curves_file(self.dataset)}, and no 12-epoch numbers for "
                f"{self.dataset!r} ({FIDELITY_FILE} has them for cifar10 and cifar100)"
            )
        final = allowed[-1]
        if budget.epochs not in allowed:
            shown = f"1..{final}" if len(allowed) > 2 else str(list(allowed))
            raise EvaluationError(
                f"budget epochs {budget.epochs}: {self!r} answers at {shown} epochs only"
            )
        if budget.max_epochs != final:
            # Every number of the table comes from schedules planned for 200 epochs.
            raise EvaluationError(
                f"budget max_epochs {budget.max_epochs}: {self!r} answers for a final "
                f"budget of {final} epochs only"
            )
        try:
            ops = nb201_ops_of(arch)
        except InvalidArchitectureError as exc:
            raise EvaluationError(f"{arch!r} is not an NB-201 cell: {exc}") from None
        string = nb201_key(ops)
        full = self._result(self._table_at(final), string)
        info: dict[str, Any] = {**full.info, "epochs": budget.epochs,
                                "max_epochs": budget.max_epochs,
                                "epochs_trained": budget.epochs - budget.previous}
        if self._curves_path is not None:
            c = self._load_curves()
            row = c.row_of.get(full.info["string"])
            if row is None:
                raise EvaluationError(f"NB-201 cell {string!r} is not in {c.source}")
            seconds = float(c.seconds[row, budget.previous:budget.epochs].sum())
            if seconds == seconds:  # NaN when the file has no times
                info["train_seconds"] = seconds
            # At the last epoch the table's own number, so that the top rung is exactly
            # `evaluate` of the 200-epoch benchmark (the importer writes both alike).
            val = full.val_accuracy if budget.epochs == final else float(
                c.val[row, budget.epochs - 1])
        elif budget.epochs == final:
            val = full.val_accuracy
        else:
            val = self._result(self._table_at(budget.epochs), string).val_accuracy
        return EvaluationResult(val_accuracy=val, test_accuracy=full.test_accuracy,
                                costs=full.costs, info=info)

    def lookup(self, string: str) -> EvaluationResult:
        """The table's result for an official NB-201 string.

        Raises:
            EvaluationError: for a malformed string or a cell not in the table.
        """
        return self._result(self._load(), string)

    @staticmethod
    def _result(t: Table, string: str) -> EvaluationResult:
        row = t.row_of.get(string) if isinstance(string, str) else None  # may be unhashable
        if row is None:
            try:
                row = t.row_of.get(nb201_key(parse_nb201(string)))
            except InvalidArchitectureError as exc:
                raise EvaluationError(f"not an NB-201 cell: {exc}") from None
            if row is None:
                raise EvaluationError(f"NB-201 cell {string!r} is not in {t.source}")
        costs = {"params": float(t.params[row]), "flops": float(t.flops[row])}
        for name, value in zip(t.hw_names, t.hw[row].tolist()):
            if value == value:  # not NaN
                costs[name] = value
        return EvaluationResult(
            val_accuracy=float(t.val[row]),
            test_accuracy=float(t.test[row]),
            costs=costs,
            info={"index": int(t.index[row]), "string": t.strings[row]},
        )

    def to_config(self) -> dict[str, Any]:
        """Settings to rebuild this evaluator; ``data_dir`` (absolute) only when given
        explicitly."""
        return {
            "kind": self.kind,
            "dataset": self.dataset,
            "fidelity": self.fidelity,
            "hardware": self.hardware,
            "data_dir": self._data_dir_arg,
        }

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> NB201Benchmark:
        """Rebuild from `to_config` output."""
        if not isinstance(config, Mapping) or config.get("kind", cls.kind) != cls.kind:
            raise ValueError(f"evaluator config: expected kind {cls.kind!r}, got {config!r}")
        return cls(
            config.get("dataset", "cifar10"),
            config.get("data_dir"),
            config.get("fidelity", 200),
            hardware=config.get("hardware"),
        )

    def __repr__(self) -> str:
        return f"NB201Benchmark({self.dataset!r}, fidelity={self.fidelity})"

    # --- for benchmark harnesses -------------------------------------------------------

    def zero_cost(self) -> ScoreSource | None:
        """NASWOT, Jacobian covariance and SynFlow of every cell, read from
        ``nb201_zc_proxies_cifar10.csv`` (computed on CIFAR-10 images; they rank the
        other datasets' networks about as well). For a sample table, the cells the file
        has; ``None``, with a warning, when the file cannot give them (the search then
        runs without a prior)."""
        from bo_nas.zero_cost import nb201_table_scores

        try:
            return nb201_table_scores(self._root, sample=self.sample)
        except BenchmarkDataError as exc:
            logger.warning("no zero-cost scores, searching without a prior: %s", exc)
            return None

    def search_space(self) -> SearchSpace:
        """The space a campaign on this table searches: `NB201Space`, or for a table
        declared a sample (`sample`) a `SubsetSpace` of the cells it holds."""
        space = NB201Space()
        if not self.sample:
            return space
        return SubsetSpace(space, (space.from_string(s) for s in self._load().strings),
                           label=f"the NB-201 sample in {self._load().source}")

    def __contains__(self, string: object) -> bool:
        return isinstance(string, str) and string in self._load().row_of

    @property
    def optimum(self) -> TabularOptimum:
        """The cell with the best objective (``val_accuracy``; lowest index among ties)."""
        t = self._load()
        row = int(np.argmax(t.val))
        return TabularOptimum(t.strings[row], int(t.index[row]), float(t.val[row]),
                              float(t.test[row]))

    @property
    def best_test_accuracy(self) -> float:
        """The best test accuracy of any cell: an oracle bound, never a selection rule."""
        return float(self._load().test.max())

    def is_optimum(self, arch: Architecture | str) -> bool:
        """Whether ``arch`` is the cell of `optimum` (the global best-validation cell)."""
        if isinstance(arch, str):
            string = arch
        else:
            try:
                string = nb201_key(nb201_ops_of(arch))
            except InvalidArchitectureError:
                return False
        return string == self.optimum.string

    def regret(self, results: Iterable[EvaluationResult | None]) -> np.ndarray:
        """Test regret of the incumbent after each query.

        ``optimum.test_accuracy - incumbent_test_accuracy(results)``: zero once the
        global best-validation cell is found. It can be negative when an incumbent with
        a lower validation accuracy happens to test better (CIFAR-100).

        Returns:
            Array of shape `n`, NaN before the first successful result.
        """
        return self.optimum.test_accuracy - incumbent_test_accuracy(results)
