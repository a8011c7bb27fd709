"""Zero-cost scores from tables and the priors built from them: the initial design, the
GP's prior mean, the baselines' warm-up, and stores written before priors existed."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.stats import rankdata, spearmanr

from bo_nas._history import History, Trial, TrialState
from bo_nas._registry import strategy_from_config
from bo_nas._surrogate import ScoreMean, fit_tw_gp, make_tw_gp
from bo_nas.campaign import Campaign
from bo_nas.evaluators import EvaluationResult, NB101Benchmark, NB201Benchmark
from bo_nas.evaluators._tables import BenchmarkTableError, clear_cache
from bo_nas.spaces import NB101Space, NB201Space
from bo_nas.strategies import GPStrategy, LocalSearch, RegularizedEvolution, ZeroCostPrior
from bo_nas.strategies._prior import filter_pool, prior_design
from bo_nas.zero_cost import (
    ScoreSource,
    TableScores,
    nb101_table_scores,
    nb201_table_scores,
    rank_score,
)

# --- rank_score ---------------------------------------------------------------------


def test_rank_score_is_the_centred_mean_rank() -> None:
    m = np.array([[1.0, 30.0], [2.0, 10.0], [3.0, 20.0], [4.0, 40.0]])
    u = [(rankdata(m[:, j]) - 0.5) / 4 - 0.5 for j in range(2)]
    np.testing.assert_allclose(rank_score(m), (u[0] + u[1]) / 2)
    assert abs(rank_score(m).mean()) < 1e-12
    # Monotone transforms of a column change nothing; ties share their rank.
    np.testing.assert_allclose(rank_score(np.exp(m)), rank_score(m))
    tied = rank_score(np.array([[1.0], [1.0], [5.0]]))
    assert tied[0] == tied[1] < tied[2]


def test_rank_score_skips_unknown_scores() -> None:
    m = np.array([[1.0, np.nan], [2.0, 5.0], [np.nan, np.nan]])
    out = rank_score(m)
    assert out[2] == 0.0  # nothing known: the median
    # Row 0 is ranked on column 0 alone (lowest of two known).
    assert out[0] == pytest.approx(-0.25)
    with pytest.raises(ValueError, match="n x m"):
        rank_score(np.zeros(3))


# --- tables -------------------------------------------------------------------------


def test_nb201_scores_cover_every_cell_and_agree_with_the_benchmark(data_dir: Path) -> None:
    space = NB201Space()
    cells = list(space.enumerate())
    source = nb201_table_scores(data_dir)
    scores = source.scores(cells)
    assert scores.shape == (15625, 3) and np.isfinite(scores).all()
    # Equivalent cells (one network) share their scores.
    by_key: dict[str, np.ndarray] = {}
    for cell, row in zip(cells, scores, strict=True):
        np.testing.assert_array_equal(by_key.setdefault(cell.key, row), row)
    # The combined score ranks CIFAR-100 networks (the file was computed on CIFAR-10).
    bench = NB201Benchmark("cifar100", data_dir)
    distinct = list({c.key: c for c in cells}.values())
    val = [bench.evaluate(c).val_accuracy for c in distinct]
    rho = spearmanr(rank_score(source.scores(distinct)), val)[0]
    assert rho > 0.8
    assert source.fingerprint != nb201_table_scores(data_dir, names=("nwot",)).fingerprint
    with pytest.raises(ValueError, match="has the scores"):
        nb201_table_scores(data_dir, names=("nope",))


def test_a_cut_proxy_table_is_refused_with_what_was_expected(
    data_dir: Path, tmp_path: Path
) -> None:
    (tmp_path / "nb201").mkdir()
    source = data_dir / "nb201" / "nb201_zc_proxies_cifar10.csv"
    lines = source.read_text().splitlines(keepends=True)
    target = tmp_path / "nb201" / source.name
    target.write_text("".join(lines[: len(lines) // 2]))
    clear_cache()
    with pytest.raises(BenchmarkTableError, match="expected all 8765") as err:
        nb201_table_scores(tmp_path)
    assert str(target) in str(err.value)


def test_nb101_scores_are_a_sample(data_dir: Path) -> None:
    source = nb101_table_scores(data_dir)
    assert source.sample and source.names == ("jacov", "synflow")
    bench = NB101Benchmark(data_dir)
    inside = bench.all_results().architectures[0]
    held = set(bench.all_results().keys)
    outside = next(a for a in NB101Space().sample_many(50, np.random.default_rng(0), exclude=[])
                   if a.key not in held)
    rows = source.scores([inside, outside])
    assert np.isfinite(rows[0]).all() and np.isnan(rows[1]).all()
    assert bench.zero_cost().fingerprint == source.fingerprint


def test_a_full_table_raises_for_an_architecture_it_lacks() -> None:
    space = NB201Space()
    source = TableScores({}, ("s",), lambda a: a.key, "empty")
    with pytest.raises(KeyError, match="no zero-cost scores"):
        source.scores([space.sample(0)])


# --- the initial design -------------------------------------------------------------


def _history(space: NB201Space, archs: list, values: list[float] | None = None) -> History:
    trials = []
    for i, a in enumerate(archs):
        result = None if values is None else EvaluationResult(val_accuracy=values[i])
        state = TrialState.PENDING if values is None else TrialState.COMPLETE
        trials.append(Trial(number=i, arch=a, state=state, result=result))
    return History(trials)


def test_prior_design_takes_the_best_scored_cells_apart_from_each_other(
    data_dir: Path,
) -> None:
    space = NB201Space()
    source = nb201_table_scores(data_dir)
    cells = list({c.key: c for c in space.enumerate()}.values())
    best = cells[int(np.argmax(rank_score(source.scores(cells))))]
    design = prior_design(space, source, History(), 10, np.random.default_rng(0))
    assert len({a.key for a in design}) == 10
    assert design[0].key == best.key
    for i, a in enumerate(design):
        near = {b.key for b in space.neighbours(a)}
        assert not near & {b.key for b in design[:i]}
    # Given the first five as history, the next five are the design's last five.
    more = prior_design(space, source, _history(space, design[:5]), 5,
                        np.random.default_rng(1))
    assert [a.key for a in more] == [a.key for a in design[5:]]
    # From a sample instead of the whole space: random, seeded.
    a = prior_design(space, source, History(), 4, np.random.default_rng(3), candidates=300)
    b = prior_design(space, source, History(), 4, np.random.default_rng(3), candidates=300)
    assert [x.key for x in a] == [x.key for x in b]


def test_filter_pool_keeps_the_mutations_and_the_best_random_part() -> None:
    pool = list("abcdefgh")
    scores = np.array([0, 0, 0, 0.1, 0.4, 0.2, 0.3, -0.1])
    assert filter_pool(pool, 5, scores, 0.4) == ["a", "b", "c", "e", "g"]
    assert filter_pool(pool, 5, scores, 1.0) == pool


def test_prior_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="pool_fraction"):
        ZeroCostPrior(pool_fraction=0)
    with pytest.raises(ValueError, match="design_candidates"):
        ZeroCostPrior(design_candidates=0)
    with pytest.raises(ValueError, match="warmup"):
        LocalSearch(warmup="best")


# --- the prior mean -----------------------------------------------------------------


def test_score_mean_is_fitted_and_the_kernel_ignores_the_score(data_dir: Path) -> None:
    space = NB201Space()
    enc = space.encoder()
    source = nb201_table_scores(data_dir)
    bench = NB201Benchmark("cifar100", data_dir)
    cells = space.sample_many(40, np.random.default_rng(0), exclude=[])
    s = rank_score(source.scores(cells))
    X = torch.as_tensor(np.column_stack([enc.encode(cells), s]))
    Y = torch.tensor([[bench.evaluate(c).val_accuracy] for c in cells], dtype=torch.float64)
    gp = fit_tw_gp(make_tw_gp(X, Y, enc.block_sizes, score_mean=True),
                   generator=torch.Generator().manual_seed(0))
    assert isinstance(gp.mean_module, ScoreMean)
    assert float(gp.mean_module.weight.detach()) > 0  # better scores, better cells
    X2 = X.clone()
    X2[:, -1] = torch.rand(len(X2), generator=torch.Generator().manual_seed(1), dtype=X.dtype)
    with torch.no_grad():
        np.testing.assert_allclose(gp.covar_module(X).to_dense(),
                                   gp.covar_module(X2).to_dense())
    with pytest.raises(ValueError, match="columns"):
        make_tw_gp(X[:, :-1], Y, enc.block_sizes, score_mean=True)


# --- in campaigns -------------------------------------------------------------------


def test_a_gp_campaign_starts_from_the_design_and_resumes_the_same(
    data_dir: Path, tmp_path: Path
) -> None:
    space = NB201Space()
    bench = NB201Benchmark("cifar100", data_dir)
    design = prior_design(space, bench.zero_cost(), History(), 10, np.random.default_rng(0))
    store = tmp_path / "run.sqlite"
    full = Campaign(space, bench, GPStrategy(), seed=5).run(14)
    part = Campaign(space, bench, GPStrategy(), seed=5, store=store)
    part.run(12)
    part.store.close()
    resumed = Campaign.resume(store)
    rest = resumed.run(14)
    assert [t.arch.key for t in full][:10] == [a.key for a in design]
    assert [t.arch.key for t in rest] == [t.arch.key for t in full]
    # The GP's proposals after the design use the prior mean.
    assert resumed.strategy._prior is not None


def test_without_scores_or_with_prior_none_the_start_is_random(data_dir: Path) -> None:
    space = NB201Space()
    bench = NB201Benchmark("cifar100", data_dir)
    plain = Campaign(space, bench, GPStrategy(prior=None), seed=5).run(10)
    random = Campaign(space, bench, RegularizedEvolution(), seed=5).run(10)
    assert [t.arch.key for t in plain] == [t.arch.key for t in random]


def test_a_store_from_before_priors_resumes_without_one() -> None:
    old = {"name": "gp-tw", "selector": {"rule": "ts", "max_candidates": 2000,
                                         "screen": "ucb"},
           "features": None, "n_init": 10, "target": "log-error",
           "pool": {"top_k": 10, "n_random": 200, "two_step": 20, "whole_space": False}}
    assert strategy_from_config(dict(old)).settings.prior is None
    assert strategy_from_config({"name": "gp-tw"}).settings.prior == ZeroCostPrior()
    again = strategy_from_config(GPStrategy(prior=ZeroCostPrior(mean=False)).to_config())
    assert again.settings.prior == ZeroCostPrior(mean=False)


@pytest.mark.parametrize("make", [
    lambda: RegularizedEvolution(population_size=10, sample_size=5, warmup="zero-cost"),
    lambda: LocalSearch(warmup="zero-cost"),
])
def test_baselines_warm_up_from_the_design(make, data_dir: Path) -> None:
    space = NB201Space()
    bench = NB201Benchmark("cifar10", data_dir)
    design = prior_design(space, bench.zero_cost(), History(), 10, np.random.default_rng(0))
    trials = Campaign(space, bench, make(), seed=2).run(12)
    assert [t.arch.key for t in trials][:10] == [a.key for a in design]


def test_the_design_copes_with_a_table_copied_elsewhere(data_dir: Path, tmp_path: Path) -> None:
    # The source is the evaluator's own data directory, wherever that is.
    (tmp_path / "nb201").mkdir()
    for f in (data_dir / "nb201").iterdir():
        shutil.copy(f, tmp_path / "nb201" / f.name)
    a = NB201Benchmark("cifar10", tmp_path).zero_cost()
    b = NB201Benchmark("cifar10", data_dir).zero_cost()
    cells = NB201Space().sample_many(20, np.random.default_rng(0), exclude=[])
    np.testing.assert_array_equal(a.scores(cells), b.scores(cells))


def test_a_training_campaign_scores_its_networks_before_the_first_training() -> None:
    from bo_nas.evaluators import TrainingEvaluator
    from bo_nas.zero_cost import NetworkScores

    space = NB201Space()
    evaluator = TrainingEvaluator("nb201", dataset="digits", epochs=1, device="cpu",
                                  channels=4, cells_per_stage=1)
    strategy = GPStrategy(n_init=2, prior=ZeroCostPrior(design_candidates=8))
    campaign = Campaign(space, evaluator, strategy, seed=0)
    source = campaign.strategy.scores
    assert isinstance(source, NetworkScores) and source.names == ("nwot", "jacov", "synflow")
    first = campaign.ask()[0]
    # The design scored its 8 candidates before anything was trained.
    assert source.builds == 8
    scored = [k for k, _ in source._memory]
    by_key = dict(zip(scored, rank_score(np.stack([source._memory[(k, source.fingerprint)]
                                                   for k in scored])), strict=True))
    assert by_key[first.arch.key] == max(by_key.values())
    # A computed source gives the design only: no network is scored per proposal.
    assert campaign.strategy._prior is not None
    assert not _gp_uses_mean(campaign.strategy)


def _gp_uses_mean(strategy: GPStrategy) -> bool:
    from bo_nas.strategies._gp import _uses_mean

    return _uses_mean(strategy._prior, strategy.scores)


class _CountingScores(ScoreSource):
    """Computed (not free) scores from the key, counting every architecture scored."""

    names = ("h",)
    free = False

    def __init__(self) -> None:
        self.scored: list[str] = []

    @property
    def fingerprint(self) -> str:
        return "counting"

    def scores(self, archs):  # type: ignore[no-untyped-def]
        self.scored += [a.key for a in archs]
        return np.array([[int(a.key[:6], 16)] for a in archs], dtype=float)


def test_a_design_over_several_proposals_ranks_one_sample(tmp_path: Path) -> None:
    """Computed scores: one proposal at a time, the design draws and scores one random
    sample for the whole campaign (not a new one per proposal), and resumes with it."""
    from _crash_worker import HashEvaluator

    space = NB201Space()
    source = _CountingScores()

    class Scored(HashEvaluator):
        def zero_cost(self):  # type: ignore[no-untyped-def]
            return source

    store = tmp_path / "s.sqlite"
    with Campaign(space, Scored(), GPStrategy(n_init=6), seed=4, store=store) as c:
        c.run(3)
    assert len(set(source.scored)) <= 100
    first = set(source.scored)
    resumed = Campaign.resume(store, evaluator=Scored())
    resumed.run(6)
    resumed.close()
    # The resumed design ranks the same sample: nothing new scored after the resume but
    # the candidates of that sample.
    assert set(source.scored) == first
    design = [t.arch for t in resumed.history][:6]
    uninterrupted_source = _CountingScores()

    class Scored2(HashEvaluator):
        def zero_cost(self):  # type: ignore[no-untyped-def]
            return uninterrupted_source

    with Campaign(space, Scored2(), GPStrategy(n_init=6), seed=4) as c:
        c.run(6)
        assert [t.arch for t in c.history][:6] == design
