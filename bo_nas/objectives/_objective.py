r"""What a campaign optimises and what it must respect: objectives and constraints.

An `Objective` names a metric of an `EvaluationResult` (``val_accuracy``, or a key of
its ``costs``) and a direction; a `Constraint` bounds one metric. Both parse from the
short text the command line and TOML use: ``"edgegpu_latency:min"``,
``"params<=1.0"``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:
    from bo_nas.evaluators import EvaluationResult

#: Metrics that are not costs: read from the result's fields.
ACCURACY_METRICS = ("val_accuracy",)

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")
_CONSTRAINT = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_.\-]*)\s*(<=|>=)\s*(\S+)\s*$")


def _check_metric(metric: object, what: str) -> str:
    if not isinstance(metric, str) or not _NAME.match(metric):
        raise ValueError(f"{what}: expected a metric name (val_accuracy or a cost), got {metric!r}")
    if metric == "test_accuracy":
        raise ValueError(
            f"{what}: test_accuracy is only reported, never optimised (use val_accuracy)"
        )
    return metric


def metric_value(result: EvaluationResult, metric: str) -> float | None:
    """``metric`` of a result: ``val_accuracy``, or the cost of that name (``None`` when
    the result has no such cost)."""
    if metric == "val_accuracy":
        return result.val_accuracy
    value = result.costs.get(metric)
    return None if value is None else float(value)


@dataclass(frozen=True)
class Objective:
    """One metric to maximise or minimise.

    Attributes:
        metric: ``val_accuracy`` or the name of a cost in the results (``params``,
            ``flops``, ``edgegpu_latency``, ``train_seconds``, ...).
        minimize: Whether smaller is better. Parsing picks ``False`` for
            ``val_accuracy`` and ``True`` for a cost unless the text says ``:max``.
        threshold: The worst value still of interest (Ax's objective threshold): the
            reference point of the hypervolume a multi-objective search improves.
            ``None`` infers it from the results so far (10 % of the front's range
            beyond its worst point).

    Example:
        >>> Objective.parse("edgegpu_latency:min")
        Objective(metric='edgegpu_latency', minimize=True, threshold=None)
        >>> Objective.parse("val_accuracy:max:85").threshold
        85.0
    """

    metric: str
    minimize: bool = False
    threshold: float | None = None

    def __post_init__(self) -> None:
        _check_metric(self.metric, "objective")
        if not isinstance(self.minimize, bool):
            raise ValueError(f"objective {self.metric}: minimize must be true or false")
        t = self.threshold
        if t is not None:
            if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t):
                raise ValueError(
                    f"objective {self.metric}: the threshold must be a finite number, got {t!r}"
                )
            object.__setattr__(self, "threshold", float(t))

    @classmethod
    def parse(cls, text: str | Objective | Mapping[str, Any]) -> Objective:
        """From ``"metric"``, ``"metric:min"``, ``"metric:max"`` or with a threshold,
        ``"metric:min:5.0"`` (or a stored mapping)."""
        if isinstance(text, Objective):
            return text
        if isinstance(text, Mapping):
            unknown = set(text) - {"metric", "minimize", "threshold"}
            if unknown or "metric" not in text:
                raise ValueError(
                    f"objective: expected {{metric, minimize, threshold}}, got {dict(text)!r}"
                )
            return cls(text["metric"], text.get("minimize", False), text.get("threshold"))
        if not isinstance(text, str):
            raise ValueError(f"objective: expected text such as 'params:min', got {text!r}")
        parts = [p.strip() for p in text.strip().split(":")]
        if len(parts) > 3:
            raise ValueError(f"objective {text!r}: expected METRIC[:min|max[:THRESHOLD]]")
        name = parts[0]
        direction = parts[1].lower() if len(parts) > 1 else ""
        if direction not in ("", "min", "max"):
            raise ValueError(
                f"objective {text!r}: the direction after ':' must be 'min' or 'max'"
            )
        _check_metric(name, f"objective {text!r}")
        threshold = None
        if len(parts) == 3:
            try:
                threshold = float(parts[2])
            except ValueError:
                raise ValueError(
                    f"objective {text!r}: the threshold {parts[2]!r} is not a number"
                ) from None
        minimize = name not in ACCURACY_METRICS if not direction else direction == "min"
        return cls(name, minimize, threshold)

    def value(self, result: EvaluationResult) -> float | None:
        """The metric of ``result`` (``None`` when it lacks the cost)."""
        return metric_value(result, self.metric)

    def to_config(self) -> dict[str, Any]:
        out: dict[str, Any] = {"metric": self.metric, "minimize": self.minimize}
        if self.threshold is not None:
            out["threshold"] = self.threshold
        return out

    def __str__(self) -> str:
        text = f"{self.metric}:{'min' if self.minimize else 'max'}"
        return text if self.threshold is None else f"{text}:{self.threshold:g}"


@dataclass(frozen=True)
class Constraint:
    r"""A bound on one metric: :math:`m(x) \le b` or :math:`m(x) \ge b`.

    A constraint on a cost the evaluator knows before evaluating (`CostSource`: table
    costs, or parameters and FLOPs computed from the graph) is *hard*: no candidate that
    violates it is ever proposed. Any other (measured by the evaluation, e.g. a latency
    the user's evaluator reports) is modelled: the GP strategy estimates its probability
    of being met.

    Example:
        >>> Constraint.parse("params<=1.0")
        Constraint(metric='params', op='<=', bound=1.0)
    """

    metric: str
    op: Literal["<=", ">="]
    bound: float

    def __post_init__(self) -> None:
        _check_metric(self.metric, "constraint")
        if self.op not in ("<=", ">="):
            raise ValueError(f"constraint {self.metric}: op must be '<=' or '>=', got {self.op!r}")
        b = self.bound
        if isinstance(b, bool) or not isinstance(b, (int, float)) or not math.isfinite(b):
            raise ValueError(
                f"constraint {self.metric}: the bound must be a finite number, got {b!r}"
            )
        object.__setattr__(self, "bound", float(b))

    @classmethod
    def parse(cls, text: str | Constraint | Mapping[str, Any]) -> Constraint:
        """From ``"metric<=bound"`` or ``"metric>=bound"`` (or a stored mapping)."""
        if isinstance(text, Constraint):
            return text
        if isinstance(text, Mapping):
            if set(text) != {"metric", "op", "bound"}:
                raise ValueError(f"constraint: expected {{metric, op, bound}}, got {dict(text)!r}")
            return cls(text["metric"], text["op"], text["bound"])
        if not isinstance(text, str):
            raise ValueError(f"constraint: expected text such as 'params<=1.0', got {text!r}")
        m = _CONSTRAINT.match(text)
        if m is None:
            raise ValueError(
                f"constraint {text!r}: expected METRIC<=BOUND or METRIC>=BOUND, "
                "e.g. 'params<=1.0' or 'edgegpu_latency<=5'"
            )
        name, op, bound = m.groups()
        try:
            value = float(bound)
        except ValueError:
            raise ValueError(f"constraint {text!r}: {bound!r} is not a number") from None
        return cls(_check_metric(name, f"constraint {text!r}"), op, value)  # type: ignore[arg-type]

    def satisfied(self, value: float | None) -> bool:
        """Whether ``value`` meets the bound (a missing or NaN value does not)."""
        if value is None or value != value:
            return False
        return value <= self.bound if self.op == "<=" else value >= self.bound

    def holds(self, result: EvaluationResult) -> bool:
        """Whether ``result`` meets the bound."""
        return self.satisfied(metric_value(result, self.metric))

    def to_config(self) -> dict[str, Any]:
        return {"metric": self.metric, "op": self.op, "bound": self.bound}

    def __str__(self) -> str:
        return f"{self.metric}{self.op}{self.bound:g}"


def parse_objectives(
    items: Iterable[str | Objective | Mapping[str, Any]] | None,
) -> tuple[Objective, ...]:
    """Objectives from text or stored mappings; ``None`` or empty: ``val_accuracy``.

    Raises:
        ValueError: for a malformed item or a metric named twice.
    """
    out = tuple(Objective.parse(i) for i in (items or ()))
    if not out:
        return (Objective("val_accuracy"),)
    names = [o.metric for o in out]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"objectives: {twice} named more than once")
    return out


def parse_constraints(
    items: Iterable[str | Constraint | Mapping[str, Any]] | None,
) -> tuple[Constraint, ...]:
    """Constraints from text or stored mappings (``None``: none)."""
    return tuple(Constraint.parse(i) for i in (items or ()))


def outcome_matrix(
    results: Sequence[EvaluationResult | None], objectives: Sequence[Objective]
) -> np.ndarray:
    r"""The objectives of ``results`` in the maximisation convention: row :math:`i`,
    column :math:`j` is :math:`s_j\, m_j(r_i)` with :math:`s_j = -1` for a minimised
    objective. NaN for a missing result (``None``) or cost.

    Returns:
        Array of shape `len(results) x len(objectives)`.
    """
    out = np.full((len(results), len(objectives)), np.nan)
    for i, r in enumerate(results):
        if r is None:
            continue
        for j, o in enumerate(objectives):
            v = o.value(r)
            if v is not None:
                out[i, j] = -v if o.minimize else v
    return out


def feasible(result: EvaluationResult, constraints: Sequence[Constraint]) -> bool:
    """Whether ``result`` meets every constraint."""
    return all(c.holds(result) for c in constraints)
