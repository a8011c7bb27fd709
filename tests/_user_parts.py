"""Test helper: a strategy and an evaluator as a user would write them, outside bo-nas.

Not a test module. `register` adds both to bo-nas's registry by name, as a user's
own package would at import time; `run_user_campaign` is the body of a child process
that creates or resumes a store with them (resuming rebuilds both from the stored
configuration alone), for `tests/test_registry.py` to kill with SIGKILL.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from _crash_worker import _kill_at_write, log_and_wait

from bo_nas import (
    Campaign,
    EvaluationResult,
    Evaluator,
    NB201Space,
    Strategy,
    register_evaluator,
    register_strategy,
)
from bo_nas._history import History
from bo_nas.encodings import Architecture


class HillClimb(Strategy):
    """Random samples first, then mutations of the best few; every ``restart_every``-th
    proposal after that is a fresh random sample.

    The proposal counter is state the history does not hold, so resuming exercises
    `get_state` and `set_state` as well as the rebuild from ``to_config()``.
    """

    name = "user-hill-climb"

    def __init__(self, n_init: int = 4, top: int = 3, restart_every: int = 5) -> None:
        self.n_init = n_init
        self.top = top
        self.restart_every = restart_every
        self.proposed = 0

    def propose(self, history: History, n: int, rng: np.random.Generator) -> list[Architecture]:
        seen = set(history.keys)
        out: list[Architecture] = []
        for _ in range(n):
            self.proposed += 1
            best = history.top(self.top)
            arch = None
            if len(history.complete) >= self.n_init and self.proposed % self.restart_every:
                for _ in range(20):
                    parent = best[int(rng.integers(len(best)))].arch
                    candidate = self.space.mutate(parent, rng)
                    if candidate.key not in seen:
                        arch = candidate
                        break
            if arch is None:
                fresh = self.space.sample_many(1, rng, exclude=[*(t.arch for t in history), *out])
                if not fresh:
                    break
                arch = fresh[0]
            seen.add(arch.key)
            out.append(arch)
        return out

    def get_state(self) -> dict[str, Any]:
        return {"proposed": self.proposed}

    def set_state(self, state: dict[str, Any]) -> None:
        self.proposed = int(state.get("proposed", 0))

    def to_config(self) -> dict[str, Any]:
        return {"name": self.name, "n_init": self.n_init, "top": self.top,
                "restart_every": self.restart_every}


class OpScore(Evaluator):
    """A deterministic score from the cell's operations and its key (no data files).

    Args:
        conv_weight: Points per 3x3 convolution.
        sleep: Seconds each evaluation sleeps (so that a kill lands inside one).
        log: File to which each evaluation appends the key it evaluates (one
            ``O_APPEND`` write per line, so a killed writer never leaves half a line).
    """

    kind = "user-op-score"

    def __init__(self, conv_weight: float = 4.0, sleep: float = 0.0,
                 log: str | None = None) -> None:
        self.conv_weight = conv_weight
        self.sleep = sleep
        self.log = log

    def evaluate(self, arch: Architecture) -> EvaluationResult:
        log_and_wait(arch, self.log, self.sleep)
        val = 50.0 + self.conv_weight * arch.ops.count("nor_conv_3x3")
        val += (int(arch.key[:6], 16) % 1000) / 100.0
        return EvaluationResult(val_accuracy=min(val, 100.0))

    def to_config(self) -> dict[str, Any]:
        return {"kind": self.kind, "conv_weight": self.conv_weight, "sleep": self.sleep,
                "log": self.log}


def _hill_climb(settings: dict[str, Any]) -> Strategy:
    return HillClimb(**settings)


def _op_score(settings: dict[str, Any]) -> Evaluator:
    return OpScore(**settings)


def register() -> None:
    """Register both parts by name (again is harmless: the factories are the same)."""
    register_strategy(HillClimb.name, _hill_climb)
    register_evaluator(OpScore.kind, _op_score)


def run_user_campaign(
    path: str,
    budget: int,
    *,
    seed: int = 0,
    sleep: float = 0.0,
    log: str | None = None,
    kill_at_write: int | None = None,
) -> None:
    """Create the store at ``path`` with the user's parts, or resume it from its config
    alone (no ``evaluator=``), and run until ``budget`` trials finish."""
    register()
    if os.path.exists(path):
        campaign = Campaign.resume(path)
    else:
        campaign = Campaign(NB201Space(), OpScore(sleep=sleep, log=log), HillClimb(),
                            seed=seed, store=path)
    with campaign:
        if kill_at_write is not None:
            _kill_at_write(campaign.store._conn, kill_at_write)
        campaign.run(budget)


if __name__ == "__main__":  # the child process of tests/test_registry.py
    import json
    import sys

    args = json.loads(sys.argv[1])
    run_user_campaign(args.pop("path"), args.pop("budget"), **args)
