"""Selection rules on the GP posterior: their choices on hand-made models, every rule on a
fitted TW-GP, presets and their stored form, a rule of one's own, whole campaigns."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest
import torch
from botorch.acquisition import LogExpectedImprovement
from botorch.models import SingleTaskGP
from botorch.models.transforms.outcome import Standardize
from botorch.optim import optimize_acqf_discrete

from bo_nas._registry import strategy_from_config
from bo_nas.campaign import Campaign
from bo_nas.encodings import Architecture
from bo_nas.evaluators import EvaluationResult, Evaluator
from bo_nas.selection import (
    BUCB,
    UCB,
    KrigingBeliever,
    LogEI,
    QLogNEI,
    QualityKDPP,
    SelectionRule,
    ThompsonSampling,
    TopK,
    condition_on_pending,
    rule_from_config,
)
from bo_nas.spaces import NB201Space
from bo_nas.strategies import GPStrategy, PoolConfig, gp_preset
from bo_nas.strategies._presets import gp_presets

# --- a small GP with known hyper-parameters (no fit: deterministic and fast) ------------


@pytest.fixture(scope="module")
def model() -> SingleTaskGP:
    g = torch.Generator().manual_seed(0)
    X = torch.rand(15, 3, generator=g, dtype=torch.float64)
    Y = 70 + 6 * torch.sin(4 * X.sum(-1, keepdim=True))
    gp = SingleTaskGP(X, Y, outcome_transform=Standardize(m=1))
    gp.covar_module.lengthscale = 0.4
    gp.likelihood.noise = 1e-2
    gp.eval()
    return gp


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


ALL_RULES: list[SelectionRule] = [
    ThompsonSampling(), ThompsonSampling(max_candidates=5, screen="logei"), LogEI(), UCB(),
    TopK(), TopK(by="ucb"), KrigingBeliever(), BUCB(), QLogNEI(mc_samples=32),
    QualityKDPP(), QualityKDPP(map=True), QualityKDPP(quality="ei"),
    QualityKDPP(quality="ucb", alpha=1.0), QualityKDPP(quality="sample", top_m=10),
    QualityKDPP(rank="ucb", top_m=10), QualityKDPP(rank="sample", top_m=10),
    QualityKDPP(kernel="prior"), QualityKDPP(pending="sample"),
    QualityKDPP(alpha_start=1.0, alpha_ramp=40),
]


def test_conditioning_on_pending_keeps_the_mean_and_shrinks_the_variance(
    model: SingleTaskGP,
) -> None:
    g = _gen(1)
    pool = torch.rand(40, 3, generator=g, dtype=torch.float64)
    pending = torch.rand(3, 3, generator=g, dtype=torch.float64)
    pool[7] = pending[0]
    fantasy = condition_on_pending(model, pending)
    assert condition_on_pending(model, None) is model
    with torch.no_grad():
        before, after = model.posterior(pool), fantasy.posterior(pool)
    torch.testing.assert_close(after.mean, before.mean)
    assert (after.variance <= before.variance + 1e-12).all()
    noise = float(model.likelihood.noise.detach()) * float(model.outcome_transform.stdvs) ** 2
    assert float(after.variance[7]) <= noise + 1e-12  # v s2 / (v + s2) <= s2


def _twins(model: SingleTaskGP) -> torch.Tensor:
    """A pool whose two best candidates (by UCB) are the same point, and the next two
    best candidates at least 0.5 away from it."""
    cand = torch.rand(400, 3, generator=_gen(4), dtype=torch.float64) * 2 - 0.5
    with torch.no_grad():
        post = model.posterior(cand)
        ucb = (post.mean + 2 * post.variance.sqrt()).squeeze(-1)
    order = torch.argsort(ucb, descending=True)
    best = cand[order[0]]
    others = [cand[i] for i in order[1:] if torch.dist(cand[i], best) > 0.5][:2]
    return torch.stack([best, best, *others])


def test_diversity_on_duplicates(model: SingleTaskGP) -> None:
    pool = _twins(model)
    assert sorted(TopK().select(model, pool, None, 2, _gen())) == [0, 1]  # no diversity
    for rule in (KrigingBeliever(), BUCB(), QualityKDPP(map=True)):
        picks = rule.select(model, pool, None, 2, _gen())
        assert 0 in picks or 1 in picks
        assert sorted(picks) != [0, 1], rule
    sampled = [sorted(QualityKDPP().select(model, pool, None, 2, _gen(s))) for s in range(100)]
    assert [0, 1] not in sampled  # det L_{01} is only the jitter
    for s in range(10):
        assert len(set(ThompsonSampling().select(model, pool, None, 3, _gen(s)))) == 3


def test_single_pick_log_ei_matches_botorch_discrete_optimiser(model: SingleTaskGP) -> None:
    pool = torch.rand(60, 3, generator=_gen(5), dtype=torch.float64)
    best_f = float(model.outcome_transform.untransform(model.train_targets.view(-1, 1))[0].max())
    picks, _ = optimize_acqf_discrete(LogExpectedImprovement(model, best_f=best_f), 1, pool)
    assert pool[LogEI().select(model, pool, None, 1, _gen())].equal(picks)


@pytest.mark.parametrize("rule", ALL_RULES, ids=repr)
def test_every_rule_distinct_reproducible_and_stored(
    rule: SelectionRule, model: SingleTaskGP
) -> None:
    g = _gen(6)
    pool = torch.rand(30, 3, generator=g, dtype=torch.float64)
    pending = torch.rand(2, 3, generator=g, dtype=torch.float64)
    for X_pending in (None, pending):
        for q in (1, 4):
            picks = rule.select(model, pool, X_pending, q, _gen(1))
            assert len(picks) == q and len(set(picks)) == q
            assert all(isinstance(i, int) and 0 <= i < len(pool) for i in picks)
            assert picks == rule.select(model, pool, X_pending, q, _gen(1))
    assert rule_from_config(rule.to_config()) == rule
    # A pool as small as the batch is taken whole.
    assert sorted(rule.select(model, pool[:3], None, 3, _gen())) == [0, 1, 2]


def test_thompson_sampling_conditions_on_pending(model: SingleTaskGP) -> None:
    """Two candidates: an unexplored one (A, wide posterior) and a training input whose
    mean lies about one posterior sd of A above A's mean. A wins the draws where its
    spread carries it over; once A is pending its draws collapse to its mean."""
    far = torch.full((1, 3), 3.0, dtype=torch.float64)
    X = model.train_inputs[0]
    with torch.no_grad():
        post = model.posterior(far)
        target = post.mean.squeeze() + post.variance.sqrt().squeeze()
        b = int(torch.argmin((model.posterior(X).mean.squeeze(-1) - target).abs()))
    pool = torch.cat([far, X[b : b + 1]])
    rule = ThompsonSampling()

    def wins(pending: torch.Tensor | None) -> int:
        return sum(rule.select(model, pool, pending, 1, _gen(s)) == [0] for s in range(200))

    assert wins(None) >= 20
    assert wins(far) <= 2


def test_rule_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="quality"):
        QualityKDPP(quality="lcb")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="top_m"):
        QLogNEI(top_m=0)
    with pytest.raises(ValueError, match="alpha_ramp"):
        QualityKDPP(alpha_start=1.0, alpha_ramp=0)
    with pytest.raises(ValueError, match="beta"):
        UCB(beta=-1.0)
    with pytest.raises(ValueError, match="unknown rule"):
        rule_from_config({"rule": "nope"})
    with pytest.raises(ValueError, match="unknown setting"):
        rule_from_config({"rule": "kdpp", "alpah": 3})
    with pytest.raises(dataclasses.FrozenInstanceError):
        QualityKDPP().alpha = 1.0  # type: ignore[misc]


# --- presets ----------------------------------------------------------------------------


def test_presets_and_their_shorthands() -> None:
    assert gp_preset("gp-tw").selector == ThompsonSampling()
    assert gp_preset("gp-tw", {"acquisition": "logei"}).selector == LogEI()
    assert gp_preset("gp-tw", {"acquisition": "ucb", "ucb_beta": 4.0}).selector == UCB(beta=4.0)
    assert gp_preset("gp-tw-kdpp", {"alpha": 1.0, "map": True}).selector == QualityKDPP(
        alpha=1.0, map=True
    )
    assert gp_preset("gp-ts-batch").selector == ThompsonSampling(300, "logei")
    hamming = gp_preset("gp-hamming")
    assert hamming.name == "gp-hamming" and hamming.settings.features == "categorical"
    # Naming a feature map never renames the strategy.
    assert GPStrategy(features="categorical").name == "gp-tw"
    assert GPStrategy(selector=KrigingBeliever()).name == "gp-kb"
    with pytest.raises(ValueError, match="not both"):
        gp_preset("gp-tw", {"acquisition": "logei", "selector": {"rule": "ts"}})
    with pytest.raises(ValueError, match="acquisition"):
        gp_preset("gp-tw", {"acquisition": "pi"})
    with pytest.raises(ValueError, match="not supported"):  # no silent change of rule
        gp_preset("gp-tw-kdpp", {"acquisition": "ucb"})
    with pytest.raises(ValueError, match="unknown setting"):
        strategy_from_config({"name": "gp-tw", "n_inti": 3})


@pytest.mark.parametrize("name", gp_presets())
def test_stored_form_of_every_preset_rebuilds(name: str) -> None:
    cfg = strategy_from_config({"name": name, "n_init": 4}).to_config()
    assert cfg["name"] == name and cfg["selector"]["rule"]
    assert strategy_from_config(cfg).to_config() == cfg


def test_configs_of_the_earlier_flat_form_still_resume() -> None:
    old = {"name": "gp-tw-kdpp", "acquisition": "ts", "features": None, "n_init": 10,
           "ucb_beta": 2.0, "target": "log-error", "top_m": 300, "quality": "mean",
           "alpha": 3.0, "map": False, "jitter": 1e-06,
           "pool": {"top_k": 10, "n_random": 200, "two_step": 20, "whole_space": False}}
    strategy = strategy_from_config(old)
    # Stored before the prior kernel became the default: it resumes as it ran.
    assert strategy.selector == QualityKDPP(kernel="posterior", alpha=3.0, top_m=300)
    assert strategy_from_config({"name": "gp-kb", "acquisition": "ts", "ucb_beta": 2.0,
                                 "top_m": 300}).selector == KrigingBeliever()


# --- a user's own rule --------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class LowestMean(SelectionRule):
    """Picks the candidates the model likes least (a rule no built-in has)."""

    rule = "test-lowest-mean"

    def select(self, model: Any, X_pool: torch.Tensor, X_pending: Any, q: int,
               generator: torch.Generator) -> list[int]:
        with torch.no_grad():
            mean = model.posterior(X_pool).mean.squeeze(-1)
        return torch.topk(-mean, q).indices.tolist()


class ConvCount(Evaluator):
    """A deterministic toy objective on NB-201 cells: convolutions help, ``none`` hurts."""

    def evaluate(self, arch: Architecture) -> EvaluationResult:
        ops = arch.ops
        val = 60 + 5 * ops.count("nor_conv_3x3") + 2 * ops.count("nor_conv_1x1")
        val += 0.3 * (int(arch.key[:4], 16) % 7)  # breaks ties without randomness
        return EvaluationResult(val_accuracy=min(val, 100.0), test_accuracy=min(val, 100.0))

    def to_config(self) -> dict[str, Any]:
        return {"kind": "conv-count"}


_POOL = PoolConfig(top_k=2, n_random=40, two_step=2)


def test_a_rule_of_ones_own_runs_and_resumes(tmp_path: Any) -> None:
    store = tmp_path / "mine.sqlite"
    strategy = GPStrategy(selector=LowestMean(), n_init=4, pool=_POOL)
    assert strategy.name == "gp"
    with Campaign(NB201Space(), ConvCount(), strategy, seed=2, store=store) as c:
        c.run(6)
    with Campaign.resume(store, evaluator=ConvCount()) as c:
        assert c.strategy.selector == LowestMean()
        history = c.run(8)
    assert len(history.complete) == 8 and len(history.keys) == 8


# --- whole campaigns ----------------------------------------------------------------------


def test_campaign_batches() -> None:
    strategy = gp_preset("gp-kb", {"n_init": 6, "pool": _POOL})
    with Campaign(NB201Space(), ConvCount(), strategy, seed=3) as c:
        # 4 + 4 random, then one model-based batch of 4 (one GP fit keeps this fast)
        history = c.run(12, batch_size=4)
    assert len(history) == 12 and len(history.complete) == 12
    assert len(history.keys) == 12  # nothing proposed twice


def test_kdpp_campaign_reproducible_and_asynchronous() -> None:
    def run(budget: int, asynchronous: bool) -> list[str]:
        s = GPStrategy(selector=QualityKDPP(quality="ei", top_m=60), n_init=6, pool=_POOL)
        with Campaign(NB201Space(), ConvCount(), s, seed=11) as c:
            h = c.run(budget, batch_size=3, asynchronous=asynchronous)
            assert len(h.complete) == budget
        return [t.arch.key for t in h]

    assert run(9, False) == run(9, False)
    keys = run(8, True)  # single proposals conditioned on two pending ones
    assert len(set(keys)) == 8


def test_select_on_fitted_tw_gp() -> None:
    """Every rule on a GP fitted by the strategy's own code on NB-201 cells."""
    space = NB201Space()
    archs = space.sample_many(60, np.random.default_rng(0), exclude=[])
    strategy = GPStrategy(n_init=6, pool=_POOL)
    strategy.setup(space)
    ev = ConvCount()
    model = strategy.fit(archs[:10], [ev(a).val_accuracy for a in archs[:10]], _gen(0))
    X_pool, X_pending = strategy._encode(archs[13:]), strategy._encode(archs[10:13])
    for rule in ALL_RULES:
        for pending in (None, X_pending):
            picks = rule.select(model, X_pool, pending, 5, _gen(1))
            assert len(set(picks)) == 5, rule
            assert picks == rule.select(model, X_pool, pending, 5, _gen(1))


def test_kdpp_sample_quality_follows_the_draw(model: SingleTaskGP) -> None:
    """With a large alpha, quality from one posterior draw makes the DPP pick that draw's
    argmax: the Thompson-sampling pick, as an independent draw from the same
    eigendecomposition gives it."""
    from bo_nas.selection._kdpp import _draw
    from bo_nas.selection._pool import seed_from

    pool = torch.rand(25, 3, generator=_gen(8), dtype=torch.float64)
    rule = QualityKDPP(quality="sample", alpha=200.0, map=True, top_m=25)
    for s in range(5):
        pick = rule.select(model, pool, None, 1, _gen(s))
        with torch.no_grad():
            latent = model(pool)
        rng = np.random.default_rng(seed_from(_gen(s)))
        draw = _draw(latent.mean.numpy(), latent.covariance_matrix.numpy(), rng)
        assert pick == [int(np.argmax(draw))]


def test_kdpp_sampled_fantasies_move_the_mean_at_pending_points(model: SingleTaskGP) -> None:
    from bo_nas.selection._kdpp import _sampled_fantasy

    pending = torch.rand(2, 3, generator=_gen(9), dtype=torch.float64)
    means = set()
    for s in range(3):
        fantasy = _sampled_fantasy(model, pending, np.random.default_rng(s))
        with torch.no_grad():
            means.add(round(float(fantasy.posterior(pending).mean[0]), 6))
            shrunk = fantasy.posterior(pending).variance
        assert (shrunk <= model.posterior(pending).variance).all()
    assert len(means) == 3  # each draw believes a different value


def test_kdpp_stored_before_the_kernel_setting_resumes_on_the_posterior() -> None:
    from bo_nas.selection._base import rule_from_config

    stored = {"rule": "kdpp", "quality": "mean", "alpha": 3.0, "map": False,
              "jitter": 1e-6, "top_m": 300, "beta": 2.0}
    assert rule_from_config(stored).kernel == "posterior"
    assert rule_from_config({**stored, "kernel": "prior"}).kernel == "prior"
    assert QualityKDPP().kernel == "prior"  # the default since the study
    assert rule_from_config({"rule": "kdpp", "alpha": 1.0}).kernel == "prior"
    again = QualityKDPP(pending="sample", rank="ucb")
    assert rule_from_config(again.to_config()) == again


def test_kdpp_prior_kernel_keeps_batches_away_from_pending_points(model: SingleTaskGP) -> None:
    """Given a pending point, its twin in the pool has (almost) no similarity mass left:
    the conditioned prior kernel's diagonal there is ~0, as for the posterior kernel."""
    from bo_nas.selection._kdpp import _prior_given_pending

    pool = torch.rand(12, 3, generator=_gen(10), dtype=torch.float64)
    pending = pool[3:4].clone()
    K = _prior_given_pending(model, pool, pending, 1e-9)
    free = _prior_given_pending(model, pool, None, 1e-9)
    assert K[3, 3] < 1e-6 * free[3, 3]
    assert np.all(np.diag(K) <= np.diag(free) + 1e-12)
    picks = [QualityKDPP(map=True).select(model, pool, pending, 3, _gen(s)) for s in range(3)]
    assert all(3 not in p for p in picks)


def test_kdpp_alpha_schedule_interpolates_over_the_observations(model: SingleTaskGP) -> None:
    """The model holds 15 observations: a schedule from 1 to 5 over 30 is at 3 there, and
    picks what the fixed exponent 3 picks; reached (ramp 15), what the fixed 5 picks."""
    rule = QualityKDPP(alpha_start=1.0, alpha=5.0, alpha_ramp=30, map=True, top_m=40)
    assert [rule.alpha_at(n) for n in (0, 15, 30, 90)] == [1.0, 3.0, 5.0, 5.0]
    assert QualityKDPP(alpha=2.0).alpha_at(7) == 2.0
    pool = torch.rand(40, 3, generator=_gen(11), dtype=torch.float64)

    def picks(r: QualityKDPP) -> list[int]:
        return r.select(model, pool, None, 6, _gen(2))

    assert picks(rule) == picks(QualityKDPP(alpha=3.0, map=True, top_m=40))
    reached = dataclasses.replace(rule, alpha_ramp=15)
    assert picks(reached) == picks(QualityKDPP(alpha=5.0, map=True, top_m=40))
    assert picks(QualityKDPP(alpha=0.0, map=True, top_m=40)) != picks(reached)
    assert rule_from_config(rule.to_config()) == rule
