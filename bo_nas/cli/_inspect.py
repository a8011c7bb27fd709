"""``bo-nas status``, ``export`` and ``plot``: read a store without disturbing its campaign."""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from pathlib import Path
from typing import Any

from bo_nas._history import History, Trial
from bo_nas.campaign import read_store

from ._report import write_figures


def _arch_text(config: dict[str, Any], trial: Trial) -> str:
    if config.get("space", {}).get("name") == "nb201":
        from bo_nas.spaces import NB201Space

        try:
            return NB201Space().to_string(trial.arch)
        except ValueError:
            pass
    return trial.arch.to_json()


def cmd_status(args: argparse.Namespace) -> int:
    config, history = read_store(args.store)
    run = config.get("strategy", {}).get("name", "?")
    n = len(history)
    lines = [
        f"store: {args.store}",
        f"strategy: {run}; evaluator: {config.get('evaluator', {}).get('kind', '?')}; "
        f"seed: {config.get('seed')}",
        f"trials: {n} proposed, {len(history.complete)} complete, "
        f"{len(history.pending)} pending, {len(history.failed)} failed",
    ]
    best = history.best()
    if best is not None and best.result is not None:
        r = best.result
        test = f", test {r.test_accuracy:.2f}%" if r.test_accuracy is not None else ""
        lines.append(f"best: trial {best.number}, validation {r.val_accuracy:.2f}%{test}")
        lines.append(f"  {_arch_text(config, best)}")
    for t in history.failed[-3:]:
        lines.append(f"failed: trial {t.number}: {t.error}")
    print("\n".join(lines))
    return 0


def _rows(config: dict[str, Any], history: History) -> list[dict[str, Any]]:
    rows = []
    for t in history:
        r = t.result
        rows.append({
            "number": t.number,
            "state": t.state.value,
            "architecture": _arch_text(config, t),
            "key": t.arch.key,
            "val_accuracy": None if r is None else r.val_accuracy,
            "test_accuracy": None if r is None else r.test_accuracy,
            "costs": {} if r is None else dict(r.costs),
            "error": t.error,
            "attempts": t.attempts,
        })
    return rows


def cmd_export(args: argparse.Namespace) -> int:
    config, history = read_store(args.store)
    rows = _rows(config, history)
    if args.format == "json":
        text = json.dumps({"config": config, "trials": rows}, indent=2) + "\n"
    else:
        cost_keys = sorted({k for row in rows for k in row["costs"]})
        buf = io.StringIO()
        fields = ["number", "state", "architecture", "key", "val_accuracy", "test_accuracy",
                  *cost_keys, "error", "attempts"]
        w = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
        w.writeheader()
        for row in rows:
            costs = row.pop("costs")
            w.writerow({**row, **{k: costs.get(k) for k in cost_keys}})
        text = buf.getvalue()
    if args.output:
        Path(args.output).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    store = Path(args.store)
    _, history = read_store(store)
    if not history.complete:
        raise ValueError(f"store {store}: no complete trial to plot yet")
    out = Path(args.output_dir) if args.output_dir else store.parent
    for f in write_figures(store, history, out, cost=args.cost):
        print(f)
    return 0
