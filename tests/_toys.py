"""Shared test doubles: a toy objective and a watchdog (importable by spawned workers)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bo_nas.encodings import Architecture
from bo_nas.evaluators import EvaluationResult, Evaluator


def within(seconds: float, fn: Callable[[], Any]) -> Any:
    """Run ``fn`` in a thread and fail (rather than hang the suite) if it overruns."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        pytest.fail(f"did not finish within {seconds} s (hang)")
    if "error" in box:
        raise box["error"]
    return box.get("value")


def run_campaign(
    evaluator: Evaluator,
    executor: Any,
    strategy: Any,
    *,
    seed: int,
    budget: int,
    max_retries: int = 0,
    asynchronous: bool = False,
    watchdog_s: float = 120.0,
) -> Any:
    """An NB-201 campaign (batches of 2) built and run in the watchdog's thread, so SQLite
    stays in one thread and a hung executor fails the test instead of the suite."""
    from bo_nas.campaign import Campaign
    from bo_nas.spaces import NB201Space

    def go() -> Any:
        with Campaign(
            NB201Space(), evaluator, strategy, seed=seed, max_retries=max_retries
        ) as campaign:
            return campaign.run(budget, batch_size=2, executor=executor, asynchronous=asynchronous)

    return within(watchdog_s, go)


def check_async_gp_campaign(executor: Any) -> None:
    """The executor contract's main case: an asynchronous GP campaign on the NB-201
    CIFAR-100 table, every result equal to the same lookup in this process."""
    from bo_nas._history import TrialState
    from bo_nas.evaluators import NB201Benchmark
    from bo_nas.strategies import GPStrategy, PoolConfig

    bench = NB201Benchmark("cifar100")
    strategy = GPStrategy(n_init=4, pool=PoolConfig(top_k=2, n_random=60, two_step=0))
    history = run_campaign(bench, executor, strategy, seed=0, budget=12, asynchronous=True)
    assert len(history) == 12
    assert all(t.state is TrialState.COMPLETE and t.attempts == 1 for t in history)
    for t in history:  # oracle: the same lookup in this process
        assert t.result == bench.evaluate(t.arch)
    assert len(history.keys) == 12


def first_proposals(n: int, seed: int) -> list[Architecture]:
    """The first ``n`` cells random search proposes with ``seed`` (to pick a victim)."""
    from bo_nas.campaign import Campaign
    from bo_nas.spaces import NB201Space
    from bo_nas.strategies import RandomSearch

    with Campaign(NB201Space(), ConvCount(), RandomSearch(), seed=seed) as c:
        return [t.arch for t in c.ask(n)]


class ConvCount(Evaluator):
    """A deterministic toy objective on NB-201 cells, with FLOPs that vary by cell.

    ``calls`` counts evaluations per architecture key (in the evaluating process).
    """

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}

    def evaluate(self, arch: Architecture) -> EvaluationResult:
        self.calls[arch.key] = self.calls.get(arch.key, 0) + 1
        ops = arch.ops
        val = 60 + 5 * ops.count("nor_conv_3x3") + 2 * ops.count("nor_conv_1x1")
        val += 0.3 * (int(arch.key[:4], 16) % 7)
        flops = 10.0 + 80.0 * ops.count("nor_conv_3x3") + 9.0 * ops.count("nor_conv_1x1")
        return EvaluationResult(val_accuracy=min(val, 100.0), costs={"flops": flops})

    def to_config(self) -> dict[str, Any]:
        return {"kind": "conv-count"}


class Crashing(Evaluator):
    """Kills its worker process on one architecture; once only when ``marker`` is given.

    It never kills the process that built it, so a mistake cannot take the test down.
    """

    def __init__(self, kill_key: str, marker: str | None = None) -> None:
        self.kill_key = kill_key
        self.marker = marker
        self.parent = os.getpid()
        self.base = ConvCount()

    def evaluate(self, arch: Architecture) -> EvaluationResult:
        armed = self.marker is None or not os.path.exists(self.marker)
        if arch.key == self.kill_key and os.getpid() != self.parent and armed:
            if self.marker is not None:
                Path(self.marker).write_text("died once")
            os._exit(3)
        return self.base.evaluate(arch)

    def to_config(self) -> dict[str, Any]:
        return {"kind": "crashing"}
