"""Test helper: a campaign process to kill, and a fast deterministic evaluator.

Not a test module. `run_campaign` is the body of a child process that creates or
resumes a store and runs it; `tests/test_crash_resume.py` kills such children with
SIGKILL at random moments. `HashEvaluator` answers from a hash of the architecture's
canonical key (no data files), optionally sleeping so that kills land in evaluations,
and optionally appending each evaluated key to a log so a test can count evaluations.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from typing import Any

from bo_nas.campaign import Campaign
from bo_nas.encodings import Architecture
from bo_nas.evaluators import EvaluationError, EvaluationResult, Evaluator
from bo_nas.spaces import NB201Space
from bo_nas.strategies import GPStrategy, PoolConfig, RandomSearch, Strategy


def log_and_wait(arch: Architecture, log: str | None, sleep: float) -> None:
    """Append ``arch.key`` to ``log`` (one ``O_APPEND`` write, so concurrent or killed
    writers never mix lines), then sleep ``sleep`` seconds."""
    if log is not None:
        fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{arch.key}\n".encode())
        finally:
            os.close(fd)
    if sleep:
        time.sleep(sleep)


class HashEvaluator(Evaluator):
    """Validation accuracy in [40, 90) from the architecture's key; deterministic.

    Args:
        sleep: Seconds each evaluation sleeps (makes a kill likely to land inside one).
        log: File to which each evaluation appends the key it evaluates (one
            ``O_APPEND`` write per line, so concurrent or killed writers never mix lines).
    """

    kind = "test-hash"

    def __init__(self, sleep: float = 0.0, log: str | None = None) -> None:
        self.sleep = sleep
        self.log = log

    def evaluate(self, arch: Architecture) -> EvaluationResult:
        log_and_wait(arch, self.log, self.sleep)
        h = int(arch.key[:8], 16)
        val = 40.0 + (h % 5000) / 100.0
        return EvaluationResult(val_accuracy=val, test_accuracy=val - 1.0)

    def to_config(self) -> dict[str, Any]:
        return {"kind": self.kind, "sleep": self.sleep, "log": self.log}


def make_strategy(name: str) -> Strategy:
    """The strategies the crash tests use: small pools keep each GP proposal cheap."""
    if name == "random":
        return RandomSearch()
    if name == "gp":
        return GPStrategy(n_init=25, pool=PoolConfig(top_k=3, n_random=40, two_step=4))
    raise ValueError(f"unknown test strategy {name!r}")


def _kill_at_write(conn: sqlite3.Connection, k: int) -> None:
    """SIGKILL this process just before its ``k``-th write statement executes."""
    count = 0

    def trace(sql: str) -> None:
        nonlocal count
        if sql.lstrip().upper().startswith(("INSERT", "UPDATE", "COMMIT")):
            count += 1
            if count >= k:
                os.kill(os.getpid(), signal.SIGKILL)

    conn.set_trace_callback(trace)


def run_campaign(
    path: str,
    budget: int,
    *,
    seed: int = 0,
    strategy: str = "random",
    sleep: float = 0.0,
    log: str | None = None,
    kill_at_write: int | None = None,
) -> None:
    """Create the store at ``path`` (or resume it) and run until ``budget`` trials finish."""
    evaluator = HashEvaluator(sleep, log)
    if os.path.exists(path):
        campaign = Campaign.resume(path, evaluator=evaluator)
    else:
        campaign = Campaign(
            NB201Space(), evaluator, make_strategy(strategy), seed=seed, store=path
        )
    with campaign:
        if kill_at_write is not None:
            _kill_at_write(campaign.store._conn, kill_at_write)
        campaign.run(budget)


# --- parts for the exit-code tests (registered by name, so `bo-nas resume` rebuilds them)


class FailingEvaluator(Evaluator):
    """Every evaluation fails, as a training that always diverges does."""

    kind = "test-failing"

    def evaluate(self, arch: Architecture) -> EvaluationResult:
        raise EvaluationError("loss diverged")

    def to_config(self) -> dict[str, Any]:
        return {"kind": self.kind}


class BuggyStrategy(RandomSearch):
    """A strategy with a bug: the error a user cannot cause."""

    name = "test-buggy"

    def propose(self, history: Any, n: int, rng: Any) -> list[Architecture]:
        raise RuntimeError("a bug in the strategy")


def _hash_evaluator(settings: dict[str, Any]) -> Evaluator:
    return HashEvaluator(**settings)


def _failing_evaluator(settings: dict[str, Any]) -> Evaluator:
    return FailingEvaluator()


def _buggy_strategy(settings: dict[str, Any]) -> Strategy:
    return BuggyStrategy()


def register_test_parts() -> None:
    """Make stores of these test parts resumable by name (idempotent)."""
    from bo_nas import register_evaluator, register_strategy

    register_evaluator(HashEvaluator.kind, _hash_evaluator)
    register_evaluator(FailingEvaluator.kind, _failing_evaluator)
    register_strategy(BuggyStrategy.name, _buggy_strategy)


if __name__ == "__main__":  # pragma: no cover - manual use: python tests/_crash_worker.py STORE N
    import sys

    run_campaign(sys.argv[1], int(sys.argv[2]), sleep=0.005)
