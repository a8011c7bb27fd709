"""Multi-fidelity campaigns: rungs, promotions, the store's rung records, resume, checkpoints."""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path

import pytest
import torch

from bo_nas import Campaign, NB201Space
from bo_nas._surrogate import budget_input, fit_tw_gp, make_tw_gp
from bo_nas.campaign import History, Trial, TrialState, read_store
from bo_nas.campaign._store import SCHEMA_VERSION
from bo_nas.evaluators import Budget, EvaluationResult, NB201Benchmark, TrainingEvaluator
from bo_nas.fidelity import ASHA, Hyperband, rung_budgets, schedule_from_config
from bo_nas.strategies import GPStrategy, PoolConfig, RandomSearch


@pytest.fixture(scope="module")
def bench(data_dir: Path) -> NB201Benchmark:
    return NB201Benchmark("cifar100", data_dir=data_dir)


def _gp() -> GPStrategy:
    return GPStrategy(n_init=5, pool=PoolConfig(top_k=3, n_random=50, two_step=4))


def _rungs_of(history: History) -> list[tuple[str, str, int | None, dict[int, float]]]:
    return [(t.arch.key, t.state.value, t.budget,
             {b: r.val_accuracy for b, r in t.rungs.items()}) for t in history]


# --- rungs and schedules -----------------------------------------------------------------


def test_rungs_are_geometric_and_snapped_to_what_the_evaluator_reports() -> None:
    assert rung_budgets(1, 3, range(1, 82)) == (1, 3, 9, 27, 81)
    # Counted down from the final budget: no short last step (27 -> 30).
    assert rung_budgets(1, 3, range(1, 31)) == (1, 3, 10, 30)
    assert rung_budgets(1, 3, range(1, 13)) == (1, 4, 12)
    assert rung_budgets(2, 2, range(1, 7)) == (3, 6)
    assert rung_budgets(1, 3, (2, 5, 12)) == (2, 12)  # 12 / 3 = 4, lowered to 2
    assert rung_budgets(1, 3, (12, 200)) == (12, 200)
    assert rung_budgets(1, 3, (4,)) == (4,)
    with pytest.raises(ValueError, match="beyond the final budget"):
        ASHA(min_epochs=300).setup((12, 200))
    for bad in ({"eta": 1}, {"min_epochs": 0}, {"eta": True}):
        with pytest.raises(ValueError):
            ASHA(**bad)


def test_schedules_round_trip_through_their_config() -> None:
    for schedule in (ASHA(), ASHA(min_epochs=2, eta=4), Hyperband(brackets=2)):
        assert schedule_from_config(schedule.to_config()) == schedule
    assert schedule_from_config("asha") == ASHA()
    with pytest.raises(ValueError, match="expected one of"):
        schedule_from_config({"name": "median"})
    with pytest.raises(ValueError, match="hyperband"):
        schedule_from_config({"name": "hyperband", "nonsense": 1})


def test_hyperband_deals_brackets_in_hyperbands_proportions() -> None:
    hb = Hyperband(eta=3)
    hb.setup(range(1, 82))  # rungs 1, 3, 9, 27, 81: brackets 0-3
    counts = [0, 0, 0, 0]
    for n in range(2000):
        counts[hb.bracket(n)] += 1
    s_max = 4
    weights = [(s_max + 1) / (s_max - b + 1) * 3 ** (s_max - b) for b in range(4)]
    for b in range(4):
        assert abs(counts[b] / 2000 - weights[b] / sum(weights)) < 0.01
    assert [hb.first_budget(n) for n in range(4)] == [hb.rungs[hb.bracket(n)] for n in range(4)]
    again = Hyperband(eta=3)
    again.setup(range(1, 82))
    assert [again.bracket(n) for n in range(50)] == [hb.bracket(n) for n in range(50)]


def _paused(number: int, rungs: dict[int, float]) -> Trial:
    results = {b: EvaluationResult(val_accuracy=v) for b, v in rungs.items()}
    top = max(results)
    return Trial(number, NB201Space().sample(number), TrialState.PAUSED, results[top],
                 budget=top, rungs=results)


def test_asha_promotes_the_top_third_of_a_rung_from_the_top_rung_down() -> None:
    asha = ASHA(min_epochs=1, eta=3)
    asha.setup(range(1, 10))  # rungs 1, 3, 9
    # Rung 1: six results; the best two (trials 4 and 1) are in its top third.
    trials = [_paused(i, {1: v}) for i, v in enumerate([50.0, 80.0, 60.0, 40.0, 90.0, 70.0])]
    assert asha.promotions(History(trials), 10) == [(4, 3), (1, 3)]
    assert asha.promotions(History(trials), 1) == [(4, 3)]
    # Trial 4 reached rung 3 already (it counts in rung 1's ranking and is not paused
    # there); three results at rung 3 make one promotion to 9, offered first.
    trials[4] = _paused(4, {1: 90.0, 3: 91.0})
    trials[1] = _paused(1, {1: 80.0, 3: 95.0})
    trials.append(_paused(6, {1: 20.0, 3: 93.0}))
    assert asha.promotions(History(trials), 10) == [(1, 9)]
    # A pending or failed trial is never promoted, but its results still rank.
    trials[1] = Trial(1, trials[1].arch, TrialState.PENDING, budget=9, rungs=trials[1].rungs)
    assert asha.promotions(History(trials), 10) == []


# --- campaigns on the NB-201 table ---------------------------------------------------------


def test_asha_campaign_on_the_table(tmp_path: Path, bench: NB201Benchmark) -> None:
    store = tmp_path / "asha.sqlite"
    with Campaign(NB201Space(), bench, RandomSearch(), seed=3, store=store,
                  fidelity=ASHA()) as campaign:
        assert campaign.fidelity.rungs == (12, 200)
        history = campaign.run(30, batch_size=3)
        assert len(history) == 30
        assert {t.state for t in history} <= {TrialState.COMPLETE, TrialState.PAUSED}
        for t in history:
            assert 12 in t.rungs
            assert t.budget == max(t.rungs)
            assert t.result == t.rungs[t.budget]
            assert (t.state is TrialState.COMPLETE) == (t.budget == 200)
            assert t.rungs[12].val_accuracy == pytest.approx(
                bench.evaluate_at(t.arch, Budget(12, 200)).val_accuracy)
        # The schedule drained: every trial in a rung's top third went on.
        reached = [t for t in history if 12 in t.rungs]
        ranked = sorted(reached, key=lambda t: (-t.rungs[12].val_accuracy, t.number))
        assert all(200 in t.rungs for t in ranked[: len(reached) // 3])
        best = campaign.best
        assert best is not None and best.state is TrialState.COMPLETE
        assert best.result.val_accuracy == pytest.approx(bench.evaluate(best.arch).val_accuracy)
        saved = _rungs_of(history)
    # Observers see the rung records and the paused state without the writer.
    config, observed = read_store(store)
    assert config["fidelity"] == {"name": "asha", "min_epochs": 1, "eta": 3}
    assert _rungs_of(observed) == saved
    resumed = Campaign.resume(store)
    try:
        assert resumed.fidelity == ASHA()
        assert _rungs_of(resumed.history) == saved
    finally:
        resumed.close()


def test_a_resumed_multi_fidelity_campaign_continues_exactly(
    tmp_path: Path, bench: NB201Benchmark
) -> None:
    def campaign(path: Path | None) -> Campaign:
        return Campaign(NB201Space(), bench, _gp(), seed=5, store=path, fidelity=ASHA())

    with campaign(None) as whole:
        expected = _rungs_of(whole.run(16))
    store = tmp_path / "mf.sqlite"
    jobs = [0]

    def count(_: Trial) -> None:
        jobs[0] += 1

    with campaign(store) as first:
        # Stop in the middle: after 11 evaluations, with promotions still to come.
        first.run(16, callback=count, stop_when=lambda: jobs[0] >= 11)
        assert len(first.history) < 16
    resumed = Campaign.resume(store, strategy=_gp())
    try:
        assert _rungs_of(resumed.run(16)) == expected
    finally:
        resumed.close()


def test_fidelity_needs_an_evaluator_with_fidelities(bench: NB201Benchmark,
                                                      data_dir: Path) -> None:
    c10v = NB201Benchmark("cifar10-valid", data_dir=data_dir)
    with pytest.raises(ValueError, match="offers no fidelities"):
        Campaign(NB201Space(), c10v, RandomSearch(), fidelity="asha")
    with pytest.raises(ValueError, match="val_accuracy alone"):
        Campaign(NB201Space(), bench, RandomSearch(), fidelity="asha",
                 objectives=["val_accuracy", "params:min"])


def test_a_version_1_store_is_migrated_when_resumed(tmp_path: Path, bench: NB201Benchmark) -> None:
    store = tmp_path / "old.sqlite"
    with Campaign(NB201Space(), bench, RandomSearch(), seed=1, store=store) as c:
        c.run(4)
        before = [(t.arch.key, t.state, t.value) for t in c.history]
    # Rewrite it as release 1 wrote it: no budget column, no rungs table, version 1.
    with sqlite3.connect(store) as conn:
        conn.executescript(
            "ALTER TABLE trials RENAME TO t2;"
            "CREATE TABLE trials (number INTEGER PRIMARY KEY, arch_key TEXT NOT NULL UNIQUE,"
            " arch TEXT NOT NULL, state TEXT NOT NULL CHECK (state IN ('pending', "
            "'complete', 'failed')), result TEXT, error TEXT, attempts INTEGER NOT NULL "
            "DEFAULT 0, proposed_at REAL NOT NULL, finished_at REAL);"
            "INSERT INTO trials SELECT number, arch_key, arch, state, result, error, attempts,"
            " proposed_at, finished_at FROM t2; DROP TABLE t2; DROP TABLE rungs;"
            "UPDATE meta SET value = '1' WHERE key = 'schema_version';"
        )
    conn.close()
    _, observed = read_store(store)  # an observer reads version 1 as it is
    assert [(t.arch.key, t.state, t.value) for t in observed] == before
    with Campaign.resume(store) as c:
        assert [(t.arch.key, t.state, t.value) for t in c.history] == before
        c.run(6)
        assert len(c.history.complete) == 6
    with sqlite3.connect(store) as conn:
        (version,) = conn.execute(
            "SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    conn.close()
    assert json.loads(version) == SCHEMA_VERSION


# --- training: checkpoints -------------------------------------------------------------------


TINY = {"epochs": 3, "channels": 4, "cells_per_stage": 1, "batch_size": 128, "device": "cpu",
        "threads": 1}


def test_training_campaign_continues_promoted_trials_from_checkpoints(tmp_path: Path) -> None:
    store = tmp_path / "train.sqlite"
    evaluator = TrainingEvaluator("nb201", "digits", **{**TINY, "epochs": 4})
    with Campaign(NB201Space(), evaluator, RandomSearch(), seed=2, store=store,
                  fidelity=ASHA(min_epochs=1, eta=2)) as campaign:
        assert campaign.fidelity.rungs == (1, 2, 4)
        history = campaign.run(4)
        promoted = [t for t in history if len(t.rungs) > 1]
        assert promoted, "ASHA with eta 2 promotes the better half"
        for t in history:
            epochs = sorted(t.rungs)
            for previous, epoch in zip([0, *epochs], epochs):
                info = t.rungs[epoch].info
                assert info["epochs"] == epoch
                assert info["resumed_from"] == previous  # continued, not retrained
                assert info["epochs_trained"] == epoch - previous
        # Final and paused trials alike: nothing is left once the run is over.
        folder = campaign.checkpoint_dir
        assert folder == tmp_path / "train.sqlite.checkpoints"
        assert list(folder.glob("*.pt")) == []


def test_a_finished_trial_equals_one_trained_straight_through() -> None:
    evaluator = TrainingEvaluator("nb201", "digits", **TINY)
    with Campaign(NB201Space(), evaluator, RandomSearch(), seed=2,
                  fidelity=ASHA(min_epochs=1, eta=2)) as campaign:
        history = campaign.run(4)
        folder = campaign.checkpoint_dir
        done = [t for t in history if t.state is TrialState.COMPLETE]
        assert done
    assert not folder.exists()  # an in-memory campaign's folder goes with it
    straight = evaluator.evaluate(done[0].arch)
    assert done[0].result.val_accuracy == straight.val_accuracy
    assert done[0].result.test_accuracy == straight.test_accuracy


def _spearman(a: list[float], b: list[float]) -> float:
    ra = torch.tensor(a).argsort().argsort().double()
    rb = torch.tensor(b).argsort().argsort().double()
    return float(torch.corrcoef(torch.stack([ra, rb]))[0, 1])


def test_the_budget_input_carries_low_rung_results_to_the_final_budget(
    bench: NB201Benchmark,
) -> None:
    """Oracle: the table's 200-epoch accuracies of cells never evaluated at 200 epochs.
    A GP that also sees their 12-epoch results ranks them far better than one that sees
    only the few 200-epoch results."""
    space = NB201Space()
    encoder = space.encoder(positions=True)
    gen = torch.Generator().manual_seed(0)
    import numpy as np

    cells = space.sample_many(90, np.random.default_rng(0))
    full, low = cells[:15], cells[15:]

    def acc(arch, epochs: int) -> float:
        return bench.evaluate_at(arch, Budget(epochs, 200)).val_accuracy

    def y(v: float) -> float:
        return -math.log(100.1 - v)

    X = [encoder.encode_one(a) for a in cells]
    z12 = budget_input(12, 200)
    rows = [np.append(X[i], 1.0) for i in range(15)] + [np.append(x, z12) for x in X]
    targets = [y(acc(a, 200)) for a in full] + [y(acc(a, 12)) for a in cells]
    Y = torch.tensor(targets, dtype=torch.float64)[:, None]
    mf = fit_tw_gp(make_tw_gp(torch.tensor(np.stack(rows)), Y, encoder.block_sizes,
                              budget=True), generator=gen)
    only = fit_tw_gp(make_tw_gp(torch.tensor(np.stack(X[:15])), Y[:15], encoder.block_sizes),
                     generator=gen)
    test = torch.tensor(np.stack([np.append(x, 1.0) for x in X[15:]]))
    with torch.no_grad():
        mf_mean = mf.posterior(test).mean.squeeze(-1).tolist()
        only_mean = only.posterior(test[:, :-1]).mean.squeeze(-1).tolist()
    truth = [acc(a, 200) for a in low]
    assert _spearman(mf_mean, truth) > 0.7
    assert _spearman(mf_mean, truth) > _spearman(only_mean, truth) + 0.1


def test_the_gp_proposes_from_rung_results_before_any_trial_is_final(
    bench: NB201Benchmark,
) -> None:
    # With a first rung of 12 epochs and eta 3, six designed and proposed cells give
    # two promotions at most: the GP must already model the 12-epoch results.
    with Campaign(NB201Space(), bench, _gp(), seed=0, fidelity=ASHA()) as campaign:
        assert campaign.strategy.rungs == (12, 200)
        campaign.run(9, stop_when=lambda: len(campaign.history) >= 8)
        history = campaign.history
        assert len(history.complete) < 5 <= len({t.number for t in history if t.rungs})
        proposed = [t for t in history if t.number >= 5]
        assert proposed and all(t.arch.key not in {u.arch.key for u in history[:5]}
                                for t in proposed)


def test_refit_keeps_hyperparameters_until_the_data_grow_enough(
    bench: NB201Benchmark,
) -> None:
    space = NB201Space()
    cells = space.sample_many(20, 0)
    values = [bench.evaluate(a).val_accuracy for a in cells]
    gen = torch.Generator().manual_seed(0)
    strategy = GPStrategy(refit=0.5, prior=None)
    strategy.setup(space)
    strategy.fit(cells[:10], values[:10], gen)
    first = strategy.get_state()
    assert first["fitted_n"] == 10
    # 14 < 10 * 1.5: the model conditions on the new points with the same hyper-parameters.
    strategy.fit(cells[:14], values[:14], gen)
    assert strategy.get_state()["hypers"] == first["hypers"]
    assert strategy.get_state()["fitted_n"] == 10
    strategy.fit(cells[:15], values[:15], gen)
    assert strategy.get_state()["hypers"] != first["hypers"]
    assert strategy.get_state()["fitted_n"] == 15
    # Resumed from its state, the strategy keeps counting from the last fit.
    again = GPStrategy(refit=0.5, prior=None)
    again.setup(space)
    again.set_state(strategy.get_state())
    again.fit(cells[:16], values[:16], gen)
    assert again.get_state()["hypers"] == strategy.get_state()["hypers"]
    # The default fits at every proposal without fidelities.
    every = GPStrategy(prior=None)
    every.setup(space)
    every.fit(cells[:10], values[:10], gen)
    before = every.get_state()["hypers"]
    every.fit(cells[:11], values[:11], gen)
    assert every.get_state()["hypers"] != before
    with pytest.raises(ValueError, match="refit"):
        GPStrategy(refit=-0.1)


_CHILD = """
import sys
from bo_nas import Campaign, NB201Space
from bo_nas.evaluators import TrainingEvaluator
from bo_nas.fidelity import ASHA
from bo_nas.strategies import RandomSearch
evaluator = TrainingEvaluator("nb201", "digits", epochs=8, channels=4, cells_per_stage=1,
                              batch_size=128, device="cpu", threads=1)
Campaign(NB201Space(), evaluator, RandomSearch(), seed=2, store=sys.argv[1],
         fidelity=ASHA(min_epochs=2, eta=2)).run(4)
"""


def test_sigkill_during_a_promoted_training_loses_only_the_epochs_since_its_checkpoint(
    tmp_path: Path,
) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    store = tmp_path / "killed.sqlite"
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(store)],
                             env={**os.environ, "PYTHONHASHSEED": "0"})
    # Trial, previous rung, checkpoint epoch, the budget it was training to.
    killed: tuple[int, int, int, int] | None = None
    deadline = time.monotonic() + 240
    try:
        while killed is None and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
            if not store.exists():
                continue
            try:
                _, history = read_store(store)
            except Exception:
                continue
            for t in history.pending:
                if not t.rungs:
                    continue
                path = Path(f"{store}.checkpoints") / f"trial-{t.number}.pt"
                try:
                    epoch = torch.load(path, weights_only=True)["epoch"]
                except Exception:
                    continue
                if epoch > max(t.rungs):
                    # One epoch of the promoted training is saved: kill it now.
                    os.kill(child.pid, signal.SIGKILL)
                    killed = (t.number, max(t.rungs), int(epoch), int(t.budget or 0))
                    break
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()
    assert killed is not None, "the campaign ended before a promoted training was caught"
    number, previous, saved, budget = killed
    with Campaign.resume(store) as campaign:
        campaign.run(4)
        trial = campaign.trial(number)
        info = trial.rungs[budget].info
        # Continued from the checkpoint written before the kill (or a later one, had
        # another epoch ended between the read and the signal), not from the rung.
        assert saved <= info["resumed_from"] < budget
        assert info["resumed_from"] > previous
        assert info["epochs_trained"] == budget - info["resumed_from"]
        straight = campaign.evaluator.evaluate_at(trial.arch, Budget(budget, 8))
        assert trial.rungs[budget].val_accuracy == straight.val_accuracy
        assert list(campaign.checkpoint_dir.glob("*.pt")) == []


def test_cli_runs_reports_and_exports_a_multi_fidelity_campaign(
    tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import csv
    import io

    from bo_nas.cli import main

    store = tmp_path / "cli.sqlite"
    code = main(["run", "--evaluator", "table", "--dataset", "cifar100", "--data-dir",
                 str(data_dir), "--budget", "7", "--strategy", "random",
                 "--fidelity-schedule", "asha", "--store", str(store), "--out",
                 str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0
    # Seven networks at 12 epochs make two promotions; the run ends with a final one.
    assert "networks: 7; " in out and "stopped early" in out
    config, history = read_store(store)
    assert config["fidelity"] == {"name": "asha", "min_epochs": 1, "eta": 3}
    assert history.complete
    assert main(["status", str(store)]) == 0
    status = capsys.readouterr().out
    assert f"{len(history.paused)} paused; results by epochs: 7 at 12" in status
    assert main(["export", str(store)]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["epochs"] for r in rows] == [str(t.budget) for t in history]
    for r, t in zip(rows, history):
        assert float(r["val_accuracy@12"]) == t.rungs[12].val_accuracy
        assert (r["val_accuracy@200"] != "") == (200 in t.rungs)
    # The table's own fidelity option and a schedule contradict each other.
    code = main(["run", "--evaluator", "table", "--dataset", "cifar100", "--fidelity", "12",
                 "--fidelity-schedule", "asha", "--data-dir", str(data_dir)])
    assert code != 0
    assert "both given" in capsys.readouterr().err


_SMALL = {
    "random": {}, "local-search": {"n_init": 4}, "nsga2": {"population_size": 6},
    "evolution": {"population_size": 6, "sample_size": 3}, "bohb": {"min_points": 4},
    "bananas": {"n_init": 4, "pool": {"top_k": 2, "n_random": 30, "two_step": 2},
                "ensemble": {"n_models": 2, "epochs": 20}},
    "nasbowl": {"n_init": 4, "pool": {"top_k": 2, "n_random": 30, "two_step": 2},
                "h_values": [0, 1]},
}


def _one_objective_strategies() -> list[str]:
    """Every baseline, and the GP presets whose models differ (the other presets share
    gp-tw's model and change only the selection rule, which fidelities do not touch)."""
    from bo_nas.strategies import builtin_strategies

    names = set(builtin_strategies())
    gps = {n for n in names if n.startswith("gp-")}
    return sorted((names - gps) | {"gp-tw", "gp-hamming", "gp-tw-kdpp"})


@pytest.mark.parametrize("name", _one_objective_strategies())
def test_every_strategy_runs_a_multi_fidelity_campaign(name: str, bench: NB201Benchmark) -> None:
    from bo_nas._registry import strategy_from_config

    settings = _SMALL.get(name, {"n_init": 4, "pool": {"top_k": 2, "n_random": 30,
                                                        "two_step": 2}})
    strategy = strategy_from_config({"name": name, **settings})
    with Campaign(NB201Space(), bench, strategy, seed=1, fidelity=ASHA()) as campaign:
        history = campaign.run(10, batch_size=2)
        assert len(history) == 10 and len({t.arch.key for t in history}) == 10
        assert all(t.rungs for t in history) and history.complete
        assert {t.state for t in history} <= {TrialState.COMPLETE, TrialState.PAUSED}


def test_simulated_time_charges_epochs_and_stops_at_the_horizon(bench: NB201Benchmark) -> None:
    from bo_nas.campaign import SimulatedExecutor, run_simulated

    def run(horizon: float | None) -> tuple[Campaign, object]:
        campaign = Campaign(NB201Space(), bench, RandomSearch(), seed=4, fidelity=ASHA())
        executor = SimulatedExecutor(n_workers=3, seed=4, noise_sigma=0.0)
        return campaign, run_simulated(campaign, 40, executor=executor, horizon=horizon)

    full_campaign, full = run(None)
    with full_campaign:
        # Without noise the first rung costs 12/200 of a training, a promotion 188/200.
        promoted = 0
        for trial in full.history:
            mine = [t for t in full.tasks if t.trial == trial.number]
            flops = bench.evaluate(trial.arch).costs["flops"]
            assert mine[0].duration == pytest.approx((600 + 60 * flops) * 12 / 200)
            if len(mine) == 2:
                assert mine[1].duration == pytest.approx((600 + 60 * flops) * 188 / 200)
                promoted += 1
        assert promoted == len(full.history.complete) > 0
        # The test accuracy of the best-validation trial finished by each time.
        test = full.incumbent_of("test_accuracy")
        for i in range(len(full.times)):
            done = [full.history[n] for n in full.order[: i + 1]
                    if full.history[n].state is TrialState.COMPLETE]
            if done:
                best = max(done, key=lambda t: (t.value, -t.number))
                assert test[i] == best.result.test_accuracy
    horizon = float(full.times[len(full.times) // 3])
    cut_campaign, cut = run(horizon)
    with cut_campaign:
        assert len(cut.history) < len(full.history)
        assert all(t.submitted <= horizon for t in cut.tasks)
        assert cut.history.pending  # what was running at the horizon stays pending
