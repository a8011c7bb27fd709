"""SIGKILL a real campaign process at random moments, resume it, and check the store.

Each round starts a child process (a fork of a server that has imported bo-nas, so a
start costs milliseconds, not the seconds of a fresh interpreter) that creates or
resumes the store and runs the campaign. The child is killed with SIGKILL either after
a random delay (landing in a proposal, an evaluation, a store write or start-up), or by
itself just before a randomly chosen SQL write statement executes (landing inside a
store transaction). While a child runs, observers read the store (`read_store`, as
``bo-nas status`` does) and must see committed states only, never losing a trial. After
every kill the observers read first, on the store as the crash left it (hot journal and
all), and must see what the store holds once reopened by a writer: SQLite's integrity
check must pass and no trial committed before may have disappeared or changed. At the end:
exactly the budgeted number of distinct evaluations, every result present once, the
proposals identical to an uninterrupted run with the same seed, and no evaluation
repeated except those a kill interrupted.
"""

from __future__ import annotations

import multiprocessing
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from _crash_worker import run_campaign

from bo_nas.campaign import CampaignStore, TrialState, read_store
from bo_nas.cli import main

BUDGET = 40
KILLS = 20


def _observed(path: Path) -> dict[int, tuple[str, str, float | None]]:
    """What an observer reads, without the lock and without writing."""
    _, history = read_store(path)
    return {t.number: (t.arch.key, t.state.value, t.value) for t in history}


def _consistent(earlier: dict[int, tuple[str, str, float | None]],
                later: dict[int, tuple[str, str, float | None]]) -> None:
    """Nothing committed is ever lost or changed; a result, once there, stays."""
    for number, (key, state, value) in earlier.items():
        assert number in later, f"trial {number} lost"
        assert later[number][0] == key
        if state != TrialState.PENDING.value:
            assert later[number] == (key, state, value)


def _snapshot(path: Path) -> dict[int, tuple[str, str, float | None]]:
    """Reopen the store as a resuming campaign would; number -> (key, state, value)."""
    with CampaignStore(path) as store:
        assert store.integrity_check() == "ok"
        return {
            t.number: (t.arch.key, t.state.value, t.value) for t in store.trials()
        }


@pytest.mark.parametrize("strategy", ["random", "gp"])
def test_sigkill_resume(
    tmp_path: Path, strategy: str, capsys: pytest.CaptureFixture[str]
) -> None:
    budget, kills_wanted = (BUDGET, KILLS) if strategy == "random" else (32, 8)
    # The uninterrupted reference, in this process.
    ref_path = tmp_path / "reference.sqlite"
    run_campaign(str(ref_path), budget, seed=7, strategy=strategy)
    reference = _snapshot(ref_path)
    assert len(reference) == budget

    ctx = multiprocessing.get_context("forkserver")
    # Installed modules only: Python 3.11's fork server ignores the test's sys.path
    # when preloading, so it could not import `_crash_worker` itself.
    ctx.set_forkserver_preload(["bo_nas.campaign", "bo_nas.spaces", "bo_nas.strategies"])
    path = tmp_path / "crashed.sqlite"
    log = tmp_path / "evaluations.log"
    rng = np.random.default_rng(2024)
    kills: Counter[str] = Counter()
    seen: dict[int, tuple[str, str, float | None]] = {}
    pending_at_kill: set[str] = set()
    rounds = 0
    reads = 0
    while sum(kills.values()) < kills_wanted:
        rounds += 1
        assert rounds <= 4 * kills_wanted, f"campaign finished before {kills_wanted} kills"
        self_kill = rng.random() < 0.35
        kwargs = {
            "seed": 7,
            "strategy": strategy,
            "sleep": 0.01,
            "log": str(log),
            "kill_at_write": int(rng.integers(1, 12)) if self_kill else None,
        }
        proc = ctx.Process(target=run_campaign, args=(str(path), budget), kwargs=kwargs)
        proc.start()
        if self_kill:
            proc.join(60)
        else:
            # Observers read while the campaign runs: committed states only.
            deadline = time.monotonic() + float(rng.uniform(0.05, 0.6))
            while proc.is_alive() and time.monotonic() < deadline:
                if path.exists():
                    now = _observed(path)
                    _consistent(seen, now)
                    seen = now
                    reads += 1
                time.sleep(0.01)
            if proc.is_alive():
                proc.kill()  # SIGKILL
                proc.join(60)
        if proc.exitcode != -9:
            assert proc.exitcode == 0, f"child failed with exit code {proc.exitcode}"
            break  # finished its budget before being killed
        # Observers first, on the store as the kill left it: they see exactly what the
        # next writer will find once it has rolled back any unfinished write.
        observed = _observed(path) if path.exists() else {}
        if path.exists():
            assert main(["status", str(path)]) == 0
            assert f"{len(observed)} proposed" in capsys.readouterr().out
        snap = _snapshot(path) if path.exists() else {}
        assert observed == snap
        # Classify where the kill landed, for the summary.
        last = log.read_text().split() if log.exists() else []
        pending = {k for k, s, _ in snap.values() if s == TrialState.PENDING.value}
        if self_kill:
            kills["store write"] += 1
        elif last and last[-1] in pending:
            kills["evaluation"] += 1
        else:
            kills["proposal/start-up/other"] += 1
        pending_at_kill |= pending
        _consistent(seen, snap)
        seen = snap

    # The last child runs unkilled to the end.
    run_campaign(str(path), budget, seed=7, strategy=strategy, sleep=0.0, log=str(log))
    final = _snapshot(path)
    assert sorted(final) == list(range(budget))
    assert all(state == TrialState.COMPLETE.value for _, state, _ in final.values())
    keys = [final[i][0] for i in range(budget)]
    assert len(set(keys)) == budget
    # Same seed, same proposals and results as the run that was never interrupted.
    assert final == reference
    # Every evaluation ran once, except those a kill interrupted before their result
    # was committed (at most one per kill, each of a trial left pending).
    evaluated = Counter(log.read_text().split())
    assert set(evaluated) == set(keys)
    repeated = {k: c - 1 for k, c in evaluated.items() if c > 1}
    assert sum(repeated.values()) <= sum(kills.values())
    assert set(repeated) <= pending_at_kill
    print(
        f"\n[{strategy}] {sum(kills.values())} SIGKILLs survived in {rounds} rounds: "
        f"{dict(kills)}; evaluations repeated after a kill: {sum(repeated.values())}; "
        f"{reads} reads by observers while it ran"
    )
