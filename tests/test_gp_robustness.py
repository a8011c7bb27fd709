"""The GP fit never takes a campaign down, whatever the data."""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
import pytest
import torch
from _crash_worker import HashEvaluator

from bo_nas._history import History, Trial, TrialState
from bo_nas._surrogate import _ensure_usable, gp_hyperparameters, make_tw_gp
from bo_nas._threads import torch_threads
from bo_nas.campaign import Campaign
from bo_nas.encodings import Architecture
from bo_nas.evaluators import EvaluationResult, Evaluator
from bo_nas.spaces import NB201Space
from bo_nas.strategies import GPStrategy, PoolConfig

GP_LOGGER = "bo_nas._surrogate"
SMALL_POOL = PoolConfig(top_k=3, n_random=40, two_step=4)


class ConstantEvaluator(Evaluator):
    """Every architecture scores the same."""

    kind = "test-constant"

    def evaluate(self, arch: Architecture) -> EvaluationResult:
        return EvaluationResult(55.0, 54.0)

    def to_config(self) -> dict[str, Any]:
        return {"kind": self.kind}


def _history(archs: list[Architecture], values: list[float]) -> History:
    return History([
        Trial(i, a, TrialState.COMPLETE, EvaluationResult(float(v)))
        for i, (a, v) in enumerate(zip(archs, values))
    ])


def _proposes(strategy: GPStrategy, history: History, n: int = 2) -> list[Architecture]:
    out = strategy.propose(history, n, np.random.default_rng(0))
    assert len(out) == n
    assert not {a.key for a in out} & history.keys
    return out


@pytest.fixture()
def space() -> NB201Space:
    return NB201Space()


def test_constant_targets_and_one_observation(space: NB201Space) -> None:
    for n_init, evaluator in ((1, HashEvaluator()), (3, ConstantEvaluator())):
        strategy = GPStrategy(n_init=n_init, pool=SMALL_POOL)
        history = Campaign(space, evaluator, strategy, seed=0).run(6)
        assert len(history.complete) == 6
        assert all(math.isfinite(v) for h in strategy.get_state()["hypers"].values()
                   for v in np.ravel(h))


def test_duplicate_inputs(space: NB201Space) -> None:
    # The same architectures (same features) seen several times with different values:
    # the kernel matrix is singular without the noise term.
    archs = space.sample_many(4, np.random.default_rng(1))
    rng = np.random.default_rng(2)
    strategy = GPStrategy(n_init=1, pool=SMALL_POOL)
    strategy.setup(space)
    _proposes(strategy, _history(archs * 5, list(rng.uniform(30, 70, 20))))
    _proposes(strategy, _history(archs * 5, [50.0] * 20))


@pytest.mark.parametrize("raw", [40.0, -40.0])
def test_extreme_lengthscales(space: NB201Space, raw: float) -> None:
    archs = space.sample_many(15, np.random.default_rng(3))
    values = list(np.random.default_rng(4).uniform(30, 70, 15))
    strategy = GPStrategy(n_init=1, pool=SMALL_POOL)
    strategy.setup(space)
    _proposes(strategy, _history(archs, values))
    state = strategy.get_state()
    state["hypers"] = {
        k: (np.full(np.shape(v), raw).tolist() if "lengthscale" in k else v)
        for k, v in state["hypers"].items()
    }
    strategy.set_state(state)
    _proposes(strategy, _history(archs, values))


def test_non_finite_stored_hypers_restart_from_defaults(
    space: NB201Space, caplog: pytest.LogCaptureFixture
) -> None:
    archs = space.sample_many(10, np.random.default_rng(5))
    strategy = GPStrategy(n_init=1, pool=SMALL_POOL)
    strategy.setup(space)
    strategy.set_state({"hypers": {"covar_module.raw_outputscale": float("nan")}})
    with caplog.at_level(logging.WARNING, logger=GP_LOGGER):
        _proposes(strategy, _history(archs, list(range(40, 50))))
    assert "not finite" in caplog.text
    assert all(math.isfinite(v) for h in strategy.get_state()["hypers"].values()
               for v in np.ravel(h))


def _model(strategy: GPStrategy, archs: list[Architecture], values: list[float]) -> Any:
    X = strategy._encode(archs)
    Y = torch.tensor(values, dtype=torch.float64).unsqueeze(-1)
    return lambda: make_tw_gp(X, Y, strategy.encoder.block_sizes)


def test_cholesky_failure_escalates_jitter_then_falls_back(
    space: NB201Space, caplog: pytest.LogCaptureFixture
) -> None:
    strategy = GPStrategy(n_init=1)
    strategy.setup(space)
    one = space.sample(np.random.default_rng(6))
    rng = np.random.default_rng(7)
    build = _model(strategy, [one] * 30, list(rng.uniform(30, 70, 30)))
    with torch_threads(1):
        # 1. Identical inputs, a huge output scale and the smallest noise: K + σ²I is
        #    rank one plus round-off, so Cholesky fails; a larger noise floor fixes it.
        model = build()
        with torch.no_grad():
            model.covar_module.outputscale = torch.tensor(1e17, dtype=torch.float64)
            model.likelihood.noise = torch.tensor([1e-4], dtype=torch.float64)
        model.eval()
        with caplog.at_level(logging.WARNING, logger=GP_LOGGER):
            fixed = _ensure_usable(model, None, build())
        assert "raised the noise floor" in caplog.text and "fitted" in caplog.text
        assert fixed is model and float(model.likelihood.noise.detach()) > 1e-4
        post = fixed.posterior(fixed.train_inputs[0][:3])
        assert torch.isfinite(post.mean).all() and (post.variance >= 0).all()

        # 2. Hyper-parameters no jitter can save (a NaN output scale, as from a diverged
        #    fit): the previous hyper-parameters are restored.
        good = build()
        previous = gp_hyperparameters(good)
        previous["covar_module.raw_outputscale"] = 0.25
        broken = build()
        with torch.no_grad():
            broken.covar_module.raw_outputscale.fill_(float("nan"))
        broken.eval()
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger=GP_LOGGER):
            restored = _ensure_usable(broken, previous, build())
        assert "fell back to the previous hyper-parameters" in caplog.text
        assert restored is not broken
        assert float(restored.covar_module.raw_outputscale.detach()) == 0.25

        # 3. No usable previous state either: the defaults.
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger=GP_LOGGER):
            default = _ensure_usable(broken, None, build())
        assert "fell back to the default hyper-parameters" in caplog.text
        assert torch.isfinite(default.posterior(default.train_inputs[0][:2]).mean).all()


def test_five_thousand_observations(space: NB201Space) -> None:
    """Hyper-parameters come from a subset; the GP conditions on all 5,000 points (the
    time this takes is measured by ``python -m benchmarks.bench_fit``)."""
    rng = np.random.default_rng(8)
    archs = space.sample_many(5000, rng)
    values = list(HashEvaluator().evaluate(a).val_accuracy for a in archs)
    strategy = GPStrategy(n_init=1, pool=PoolConfig(top_k=3, n_random=100, two_step=4))
    strategy.setup(space)
    _proposes(strategy, _history(archs, values), n=1)
    model = strategy.fit(archs, values, torch.Generator().manual_seed(0))
    assert len(model.train_targets) == 5000
