"""``bo-nas status``, ``export`` and ``plot``: read a store without disturbing its campaign.

They read through `read_snapshot`: never a write, never the campaign's lock, and any
state a crash can leave is read as its last committed state.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import sys
from pathlib import Path
from typing import Any

from bo_nas._front import pareto_front
from bo_nas._history import History
from bo_nas._summary import (
    arch_formatter,
    best_feasible,
    by_first_objective,
    goals,
    run_budget,
)
from bo_nas.campaign._store import StoreSnapshot, read_snapshot
from bo_nas.objectives import Constraint, Objective, feasible

from . import OutputError
from ._report import write_figures


def _budget(snap: StoreSnapshot) -> str:
    budget = run_budget(snap.meta)
    return f" of a budget of {budget}" if budget is not None else ""


#: Front trials `bo-nas status` lists before summing up the rest.
_FRONT_LINES = 10


def _front_lines(history: History, objectives: tuple[Objective, ...],
                 constraints: tuple[Constraint, ...]) -> list[str]:
    front = by_first_objective(pareto_front(history, objectives, constraints), objectives[0])
    names = ", ".join(str(o) for o in objectives)
    lines = [f"pareto front: {len(front)} trial{'s' if len(front) != 1 else ''} "
             f"(objectives: {names})"]
    for t in front[:_FRONT_LINES]:
        values = ", ".join(f"{o.metric} {o.value(t.result):.6g}"  # type: ignore[arg-type]
                           for o in objectives)
        lines.append(f"  trial {t.number}: {values}")
    if len(front) > _FRONT_LINES:
        lines.append(f"  ... and {len(front) - _FRONT_LINES} more")
    return lines


def cmd_status(args: argparse.Namespace) -> int:
    snap = read_snapshot(args.store)
    config, history = snap.config, snap.history
    strategy = config.get("strategy", {}).get("name", "?")
    done = len(history.complete) + len(history.failed)
    lines = [
        f"store: {snap.path}",
        f"strategy: {strategy}; evaluator: {config.get('evaluator', {}).get('kind', '?')}; "
        f"seed: {config.get('seed')}",
        f"trials: {len(history)} proposed, {len(history.complete)} complete, "
        f"{len(history.pending)} pending, {len(history.failed)} failed "
        f"({done} finished{_budget(snap)})",
    ]
    fidelity = config.get("fidelity")
    if isinstance(fidelity, dict):
        reached: dict[int, int] = {}
        for t in history:
            for b in t.rungs:
                reached[b] = reached.get(b, 0) + 1
        per_rung = ", ".join(f"{n} at {b}" for b, n in sorted(reached.items()))
        lines.append(f"fidelity: {fidelity.get('name')} (eta {fidelity.get('eta')}); "
                     f"{len(history.paused)} paused; results by epochs: {per_rung or 'none'}")
    objectives, constraints = goals(config)
    if constraints:
        lines.append(f"constraints: {', '.join(str(c) for c in constraints)}")
    if len(objectives) > 1:
        lines.extend(_front_lines(history, objectives, constraints))
    best = best_feasible(history, constraints)
    if best is not None and best.result is not None:
        r = best.result
        test = f", test {r.test_accuracy:.2f}%" if r.test_accuracy is not None else ""
        lines.append(f"best: trial {best.number}, validation {r.val_accuracy:.2f}%{test}")
        lines.append(f"  {arch_formatter(config)(best)}")
    elif constraints:
        lines.append("best: no trial meets the constraints yet")
    for t in history.failed[-3:]:
        lines.append(f"failed: trial {t.number}: {t.error}")
    print("\n".join(lines))
    return 0


def _finite(value: Any) -> Any:
    """``value`` with every NaN or infinity as ``None`` (strict JSON; older stores)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _rows(config: dict[str, Any], history: History) -> list[dict[str, Any]]:
    """One row a trial; ``pareto`` with several objectives and ``feasible`` with
    constraints, last, so that the columns of other stores stay as they were."""
    objectives, constraints = goals(config)
    front = ({t.number for t in pareto_front(history, objectives, constraints)}
             if len(objectives) > 1 else None)
    text = arch_formatter(config)
    rows = []
    for t in history:
        r = t.result
        rows.append({
            "number": t.number,
            "state": t.state.value,
            "architecture": text(t),
            "key": t.arch.key,
            "val_accuracy": None if r is None else r.val_accuracy,
            "test_accuracy": None if r is None else r.test_accuracy,
            "costs": {} if r is None else _finite(dict(r.costs)),
            "error": t.error,
            "attempts": t.attempts,
        })
        if front is not None:
            rows[-1]["pareto"] = t.number in front
        if constraints:
            # Unknown (None) until the trial has a result, rather than a guess.
            rows[-1]["feasible"] = None if r is None else feasible(r, constraints)
        if "fidelity" in config:
            rows[-1]["epochs"] = t.budget
            rows[-1]["rungs"] = {str(b): v.val_accuracy for b, v in sorted(t.rungs.items())}
    return rows


def _write(path: str, text: str) -> None:
    try:
        Path(path).write_text(text)
    except OSError as exc:
        raise OutputError(f"--output {path}: cannot write ({exc.strerror or exc})") from None


def cmd_export(args: argparse.Namespace) -> int:
    snap = read_snapshot(args.store)
    config = snap.config
    rows = _rows(config, snap.history)
    if args.format == "json":
        # Strict JSON: no NaN or Infinity, which strict readers refuse.
        text = json.dumps(_finite({"config": config, "trials": rows}), indent=2,
                          allow_nan=False) + "\n"
    else:
        cost_keys = sorted({k for row in rows for k in row["costs"]})
        buf = io.StringIO()
        extra = [k for k in ("pareto", "feasible", "epochs") if rows and k in rows[0]]
        for row in rows:
            # One column per rung: the validation accuracy reached there.
            for b, v in row.pop("rungs", {}).items():
                row[f"val_accuracy@{b}"] = v
        rung_keys = sorted({k for row in rows for k in row if k.startswith("val_accuracy@")},
                           key=lambda k: int(k.split("@")[1]))
        extra += rung_keys
        fields = ["number", "state", "architecture", "key", "val_accuracy", "test_accuracy",
                  *cost_keys, "error", "attempts", *extra]
        w = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
        w.writeheader()
        for row in rows:
            costs = row.pop("costs")
            w.writerow({**row, **{k: costs.get(k) for k in cost_keys}})
        text = buf.getvalue()
    if args.output:
        _write(args.output, text)
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    snap = read_snapshot(args.store)
    if not snap.history.complete:
        raise ValueError(f"store {snap.path}: no complete trial to plot yet")
    out = Path(args.output_dir) if args.output_dir else snap.path.parent
    objectives, constraints = goals(snap.config)
    try:
        figures = write_figures(snap.path, snap.history, out, cost=args.cost,
                                objectives=objectives, constraints=constraints)
    except OSError as exc:
        raise OutputError(
            f"figures in {out}: cannot write ({exc.strerror or exc}); choose a writable "
            "--output-dir"
        ) from None
    for f in figures:
        print(f)
    return 0
