"""The evaluator protocol: architecture in, measured result out."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bo_nas.encodings import Architecture, BoNasError

if TYPE_CHECKING:
    from bo_nas.objectives import CostSource
    from bo_nas.zero_cost import ScoreSource


class EvaluationError(BoNasError, RuntimeError):
    """An evaluation could not produce a result (diverged, out of memory, missing entry)."""


class InvalidResultError(EvaluationError, ValueError):
    """An `EvaluationResult` field (given or stored) is malformed."""


@dataclass(frozen=True)
class EvaluationResult:
    """What one evaluation measured.

    Accuracies are percentages in [0, 100]. The search maximises `val_accuracy`;
    `test_accuracy` is only reported, never used to select.

    Attributes:
        val_accuracy: Validation accuracy (%), the objective.
        test_accuracy: Test accuracy (%) when the evaluator has a test split.
        costs: Named costs, e.g. ``params`` (millions), ``flops`` (millions),
            ``train_seconds``, device latencies.
        info: Anything else JSON-compatible (per-epoch curves, the benchmark index).
    """

    val_accuracy: float
    test_accuracy: float | None = None
    costs: Mapping[str, float] = field(default_factory=dict)
    info: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        v = self.val_accuracy
        # The range test comes first: it rejects NaN and infinities, and math.isfinite
        # would overflow on a huge integer.
        if not isinstance(v, (int, float)) or not 0.0 <= v <= 100.0 or not math.isfinite(v):
            raise InvalidResultError(f"val_accuracy must be a finite percentage, got {v!r}")
        t = self.test_accuracy
        if t is not None and (
            not isinstance(t, (int, float)) or not 0.0 <= t <= 100.0 or not math.isfinite(t)
        ):
            raise InvalidResultError(f"test_accuracy must be a finite percentage, got {t!r}")
        for name in ("costs", "info"):
            value = getattr(self, name)
            if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
                raise InvalidResultError(
                    f"{name} must be a mapping with string keys, got {value!r}"
                )
        costs: dict[str, float] = {}
        for k, c in self.costs.items():
            try:
                costs[k] = float(c)
            except (TypeError, ValueError, OverflowError):
                raise InvalidResultError(f"costs[{k!r}] must be a number, got {c!r}") from None
        object.__setattr__(self, "val_accuracy", float(v))
        if t is not None:
            object.__setattr__(self, "test_accuracy", float(t))
        object.__setattr__(self, "costs", costs)
        object.__setattr__(self, "info", dict(self.info))

    def to_dict(self) -> dict[str, Any]:
        return {
            "val_accuracy": self.val_accuracy,
            "test_accuracy": self.test_accuracy,
            "costs": dict(self.costs),
            "info": dict(self.info),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EvaluationResult:
        """Inverse of `to_dict`; raises `InvalidResultError` (a ``ValueError``) when malformed."""
        if not isinstance(data, Mapping) or "val_accuracy" not in data:
            raise InvalidResultError(
                f"evaluation result: expected an object with 'val_accuracy', got {data!r}"
            )
        return cls(
            val_accuracy=data["val_accuracy"],
            test_accuracy=data.get("test_accuracy"),
            costs=data.get("costs", {}),
            info=data.get("info", {}),
        )


@dataclass(frozen=True)
class Budget:
    """What a multi-fidelity campaign asks of one evaluation (`Evaluator.evaluate_at`).

    Attributes:
        epochs: Train until this epoch and report the result there.
        max_epochs: The final budget: learning-rate schedules are planned for it, so a
            trial promoted later continues the same schedule.
        checkpoint: File of the trial's training state: loaded when it exists (the
            training continues from its epoch), written as training goes on (so a
            killed evaluation loses at most the epochs since the last write). ``None``:
            keep nothing.
        previous: Epochs the trial's earlier rungs trained, what its checkpoint holds
            when one was written (0 for a new trial). A table uses it to report the
            epochs this request costs.
    """

    epochs: int
    max_epochs: int
    checkpoint: str | None = None
    previous: int = 0

    def __post_init__(self) -> None:
        for name in ("epochs", "max_epochs", "previous"):
            v = getattr(self, name)
            low = 0 if name == "previous" else 1
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise ValueError(f"budget {name}: expected an integer >= {low}, got {v!r}")
        if not self.previous <= self.epochs <= self.max_epochs:
            raise ValueError(
                f"budget: expected previous <= epochs <= max_epochs, got {self.previous}, "
                f"{self.epochs}, {self.max_epochs}"
            )


class Evaluator(ABC):
    """Measures architectures. Instances must be picklable: executors ship them to workers.

    `evaluate` returns an `EvaluationResult` or raises; any exception (or a NaN, which
    `EvaluationResult` rejects) is recorded by the campaign as a failed evaluation.
    """

    @abstractmethod
    def evaluate(self, arch: Architecture) -> EvaluationResult:
        """Evaluate one architecture."""

    @abstractmethod
    def to_config(self) -> dict[str, Any]:
        """JSON-compatible description, stored with the campaign."""

    def zero_cost(self) -> ScoreSource | None:
        """Zero-cost scores of the architectures this evaluator measures (known before
        any evaluation, `bo_nas.zero_cost`), or ``None`` (the default). `Campaign` hands
        them to the strategy, which may use them as a prior."""
        return None

    def known_costs(self) -> CostSource | None:
        """Costs this evaluator knows before evaluating (`bo_nas.objectives.CostSource`:
        a table's costs, or parameters and FLOPs of the network to be trained), or
        ``None`` (the default). Hard constraints and known-cost objectives read them."""
        return None

    def fidelities(self) -> tuple[int, ...] | None:
        """Epoch counts this evaluator can report a result at, ascending; the last is the
        final budget. ``None`` (the default): full evaluations only. Multi-fidelity
        campaigns (`bo_nas.fidelity`) need it, and `evaluate_at`."""
        return None

    def evaluate_at(self, arch: Architecture, budget: Budget) -> EvaluationResult:
        """Evaluate ``arch`` at a fidelity: train it to ``budget.epochs`` (continuing
        from ``budget.checkpoint`` when that file exists) and report there.

        The result's ``info`` holds ``epochs`` (= ``budget.epochs``) and
        ``epochs_trained`` (what this call trained: fewer than ``epochs`` when it
        continued from a checkpoint), which simulated clocks charge for.
        """
        raise EvaluationError(
            f"{type(self).__name__} evaluates at full fidelity only (it has no fidelities)"
        )

    def __call__(self, arch: Architecture) -> EvaluationResult:
        return self.evaluate(arch)
