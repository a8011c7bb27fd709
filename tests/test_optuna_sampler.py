"""`bo_nas.optuna.TWSampler` in real Optuna studies on the NAS-Bench-201 CIFAR-100 table."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

optuna = pytest.importorskip("optuna")

from bo_nas.campaign import Campaign  # noqa: E402
from bo_nas.encodings import NB201_OPS, Architecture, InvalidArchitectureError  # noqa: E402
from bo_nas.evaluators import NB201Benchmark  # noqa: E402
from bo_nas.optuna import (  # noqa: E402
    PROPOSAL_KEY,
    TWSampler,
    UnsupportedSpaceError,
    suggest_architecture,
)
from bo_nas.selection import LogEI  # noqa: E402
from bo_nas.spaces import CellSpace, DARTSSpace, NB201Space, SearchSpace, SubsetSpace  # noqa: E402
from bo_nas.strategies import GPStrategy, PoolConfig  # noqa: E402

optuna.logging.set_verbosity(optuna.logging.WARNING)

EDGES = ("edge_1<-0", "edge_2<-0", "edge_2<-1", "edge_3<-0", "edge_3<-1", "edge_3<-2")


@pytest.fixture(scope="module")
def bench(data_dir: Path) -> NB201Benchmark:
    return NB201Benchmark("cifar100", data_dir=data_dir)


def _gp(n_init: int = 4, **settings: object) -> GPStrategy:
    # A small pool keeps each proposal to a fraction of a second.
    return GPStrategy(n_init=n_init, prior=None,
                      pool=PoolConfig(top_k=2, n_random=40, two_step=0), **settings)


def _study(sampler: TWSampler, direction: str = "maximize") -> optuna.Study:
    return optuna.create_study(direction=direction, sampler=sampler)


def _accuracy(bench: NB201Benchmark, sampler: TWSampler) -> Callable[[optuna.Trial], float]:
    return lambda trial: bench.evaluate(sampler.suggest(trial)).val_accuracy


def _cells(sampler: TWSampler, study: optuna.Study) -> list[Architecture]:
    return [sampler.architecture(t.params) for t in study.trials]


def test_parameters_are_one_categorical_per_edge() -> None:
    sampler = TWSampler(NB201Space(), seed=0)
    assert sampler.param_names == EDGES
    assert all(d == optuna.distributions.CategoricalDistribution(NB201_OPS)
               for d in sampler.distributions.values())
    study = _study(sampler)
    trial = study.ask()
    assert sampler.infer_relative_search_space(study, trial._cached_frozen_trial) == \
        sampler.distributions
    cell = NB201Space().from_string(
        "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_1x1~1|none~2|"
    )
    params = sampler.params(cell)
    assert params == {"edge_1<-0": "nor_conv_3x3", "edge_2<-0": "none",
                      "edge_2<-1": "skip_connect", "edge_3<-0": "avg_pool_3x3",
                      "edge_3<-1": "nor_conv_1x1", "edge_3<-2": "none"}
    assert sampler.architecture(params).meta["string"] == cell.meta["string"]
    with pytest.raises(InvalidArchitectureError, match="'edge_3<-2' is missing"):
        sampler.architecture({k: v for k, v in params.items() if k != "edge_3<-2"})
    with pytest.raises(InvalidArchitectureError, match="'conv7x7' is not one of"):
        sampler.architecture({**params, "edge_1<-0": "conv7x7"})


def test_same_seed_same_trials_and_the_campaign_loops_trials(bench: NB201Benchmark) -> None:
    def run(seed: int) -> list[str]:
        sampler = TWSampler(NB201Space(), strategy=_gp(), seed=seed)
        study = _study(sampler)
        study.optimize(_accuracy(bench, sampler), n_trials=9)
        return [c.meta["string"] for c in _cells(sampler, study)]

    first = run(11)
    assert run(11) == first
    assert run(12) != first
    # The same strategy and seed in our own campaign loop: the same cells, in order.
    with Campaign(NB201Space(), bench, _gp(), seed=11) as campaign:
        history = campaign.run(9)
    assert [t.arch.meta["string"] for t in history] == first


def test_proposals_never_repeat_an_architecture(bench: NB201Benchmark) -> None:
    # 16 networks and 16 trials: every one is proposed once, the last ones with few
    # candidates left; an exact repeat or one equal up to dead edges would show.
    space = NB201Space()
    members = space.sample_many(16, rng=5)
    subset = SubsetSpace(space, members, label="16 cells")
    sampler = TWSampler(subset, strategy=_gp(), seed=1)
    study = _study(sampler)
    study.optimize(_accuracy(bench, sampler), n_trials=16)
    keys = [c.key for c in _cells(sampler, study)]
    assert len(set(keys)) == 16
    assert set(keys) == {m.key for m in members}


def test_failed_and_pruned_trials_are_not_proposed_again(bench: NB201Benchmark) -> None:
    sampler = TWSampler(NB201Space(), strategy=_gp(), seed=2)
    study = _study(sampler)

    def objective(trial: optuna.Trial) -> float:
        arch = sampler.suggest(trial)
        if trial.number % 4 == 1:
            raise RuntimeError("out of memory")
        if trial.number % 4 == 2:
            trial.report(10.0, step=1)
            raise optuna.TrialPruned()
        return bench.evaluate(arch).val_accuracy

    study.optimize(objective, n_trials=14, catch=(RuntimeError,))
    states = [t.state for t in study.trials]
    assert states.count(optuna.trial.TrialState.FAIL) == 4
    assert states.count(optuna.trial.TrialState.PRUNED) == 3
    keys = [c.key for c in _cells(sampler, study)]
    assert len(set(keys)) == len(keys) == 14
    # A trial that fails before suggesting anything leaves no cell behind, and breaks
    # nothing after it.
    study.optimize(lambda trial: 1 / 0, n_trials=1, catch=(ZeroDivisionError,))
    study.optimize(_accuracy(bench, sampler), n_trials=1)
    assert study.trials[-1].state is optuna.trial.TrialState.COMPLETE
    assert sampler.architecture(study.trials[-1].params).key not in keys


def test_the_study_direction_decides_what_is_sought(bench: NB201Benchmark) -> None:
    def later_accuracies(direction: str, value: Callable[[float], float]) -> list[float]:
        # Log-EI exploits sooner than Thompson sampling: the trend shows in 10 trials.
        sampler = TWSampler(NB201Space(), strategy=_gp(n_init=4, selector=LogEI()), seed=4)
        study = _study(sampler, direction)
        study.optimize(lambda t: value(bench.evaluate(sampler.suggest(t)).val_accuracy),
                       n_trials=10)
        return [bench.evaluate(c).val_accuracy for c in _cells(sampler, study)]

    best = later_accuracies("maximize", lambda acc: acc)
    worst = later_accuracies("minimize", lambda acc: acc)
    # The first 4 are the same random cells; after them the GP climbs or descends.
    assert best[:4] == worst[:4]
    assert np.mean(best[4:]) > np.mean(worst[4:]) + 15.0
    # An error (%) minimised is the accuracy maximised: the same trials exactly.
    assert later_accuracies("minimize", lambda acc: 100.0 - acc) == best
    # Values that are no percentages are modelled linearly, in the direction asked.
    scaled = later_accuracies("minimize", lambda acc: -1000.0 * acc)
    assert np.mean(scaled[4:]) > np.mean(worst[4:]) + 15.0


def test_pending_trials_get_distinct_cells(bench: NB201Benchmark) -> None:
    # Eight networks, six evaluated: two trials asked at once must share out the two
    # left, whatever the acquisition prefers.
    space = NB201Space()
    members = space.sample_many(8, rng=9)
    sampler = TWSampler(SubsetSpace(space, members), seed=0,
                        strategy=_gp(n_init=2, selector=LogEI()))
    study = _study(sampler)
    study.optimize(_accuracy(bench, sampler), n_trials=6)
    first, second = study.ask(), study.ask()
    a, b = sampler.suggest(first), sampler.suggest(second)
    evaluated = {c.key for c in _cells(sampler, study)[:6]}
    assert {a.key, b.key} == {m.key for m in members} - evaluated
    # What the pending trial will run is stored with it, before its parameters are.
    assert PROPOSAL_KEY in study.trials[first.number].system_attrs
    study.tell(first, bench.evaluate(a).val_accuracy)
    study.tell(second, bench.evaluate(b).val_accuracy)


def test_parallel_jobs_run_distinct_cells(bench: NB201Benchmark) -> None:
    sampler = TWSampler(NB201Space(), strategy=_gp(n_init=3), seed=0)
    study = _study(sampler)
    running: dict[int, str] = {}
    overlaps: list[tuple[str, str]] = []
    lock = threading.Lock()

    def objective(trial: optuna.Trial) -> float:
        arch = sampler.suggest(trial)
        with lock:
            overlaps.extend((arch.key, other) for other in running.values())
            running[trial.number] = arch.key
        time.sleep(0.05)
        with lock:
            del running[trial.number]
        return bench.evaluate(arch).val_accuracy

    study.optimize(objective, n_trials=10, n_jobs=2)
    keys = [c.key for c in _cells(sampler, study)]
    assert len(keys) == 10 and len(set(keys)) == 10
    assert overlaps and all(a != b for a, b in overlaps)


def test_enqueued_trials(bench: NB201Benchmark) -> None:
    space = NB201Space()
    sampler = TWSampler(space, strategy=_gp(n_init=3), seed=6)
    study = _study(sampler)
    optimum = bench.optimum.string
    study.enqueue_trial(sampler.params(space.from_string(optimum)))
    study.optimize(_accuracy(bench, sampler), n_trials=5)
    assert sampler.architecture(study.trials[0].params).meta["string"] == optimum
    assert study.best_value == pytest.approx(bench.optimum.val_accuracy)
    # Some parameters given: those are kept, the others complete a new network.
    study.enqueue_trial({"edge_1<-0": "avg_pool_3x3", "edge_3<-0": "none"})
    study.optimize(_accuracy(bench, sampler), n_trials=1)
    last = study.trials[-1].params
    assert last["edge_1<-0"] == "avg_pool_3x3" and last["edge_3<-0"] == "none"
    keys = [c.key for c in _cells(sampler, study)]
    assert len(set(keys)) == len(keys)
    # A value outside the choices is refused, naming it.
    study.enqueue_trial({"edge_1<-0": "conv7x7"})
    with pytest.raises(ValueError, match="conv7x7"):
        study.optimize(_accuracy(bench, sampler), n_trials=1)
    study.optimize(_accuracy(bench, sampler), n_trials=1)
    assert study.trials[-1].state is optuna.trial.TrialState.COMPLETE


def _toy_score(space: CellSpace, arch: Architecture) -> float:
    """Accuracy-like score of a cell: conv3x3 nodes on live paths, edges cost a little."""
    g = arch.pruned
    convs = sum(g.nodes[v]["op"] == "conv3x3" for v in g)
    return 50.0 + 10.0 * convs - 2.0 * g.number_of_edges()


def test_a_cell_space_of_ones_own() -> None:
    space = CellSpace(["conv3x3", "conv1x1", "maxpool"], n_nodes=5, max_edges=6)
    sampler = TWSampler(space, strategy=_gp(n_init=4), seed=3)
    assert sampler.param_names[:3] == ("edge_1<-0", "edge_2<-0", "edge_2<-1")
    assert sampler.param_names[-3:] == ("node_1", "node_2", "node_3")
    assert sampler.distributions["edge_4<-3"].choices == (0, 1)
    study = _study(sampler)
    study.optimize(lambda t: _toy_score(space, sampler.suggest(t)), n_trials=8)
    cells = _cells(sampler, study)
    assert len({c.key for c in cells}) == 8
    assert all(space.contains(c) for c in cells)
    # A cell written with fewer nodes keeps its network through the parameters.
    small = space.from_matrix([[0, 1, 0], [0, 0, 1], [0, 0, 0]],
                              ["input", "conv1x1", "output"])
    assert sampler.architecture(sampler.params(small)) == small
    # An assignment over the edge budget is not a cell: the objective is told so.
    study.enqueue_trial(dict.fromkeys(sampler.param_names[:10], 1))
    with pytest.raises(InvalidArchitectureError, match="more than the budget of 6"):
        study.optimize(lambda t: _toy_score(space, sampler.suggest(t)), n_trials=1)


def test_unsupported_spaces_and_studies_are_refused() -> None:
    with pytest.raises(UnsupportedSpaceError, match="NB201Space, CellSpace"):
        TWSampler(DARTSSpace())
    with pytest.raises(UnsupportedSpaceError):
        suggest_architecture(optuna.create_study().ask(), object())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="seed"):
        TWSampler(NB201Space(), seed=-1)
    sampler = TWSampler(NB201Space(), seed=0)
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)
    with pytest.raises(ValueError, match="one objective"):
        study.optimize(lambda t: (len(sampler.suggest(t).ops), 0.0), n_trials=1)


def test_suggest_architecture_serves_any_sampler(bench: NB201Benchmark) -> None:
    space: SearchSpace = NB201Space()
    study = optuna.create_study(direction="maximize",
                                sampler=optuna.samplers.TPESampler(seed=0))
    study.optimize(lambda t: bench.evaluate(suggest_architecture(t, space)).val_accuracy,
                   n_trials=3)
    assert set(study.best_params) == set(EDGES)


def test_only_this_package_imports_optuna() -> None:
    # bo_nas runs without Optuna installed: no other module may import it.
    root = Path(__file__).resolve().parents[1] / "bo_nas"
    importing = re.compile(r"^\s*(import|from)\s+optuna\b", re.MULTILINE)
    offenders = [str(p.relative_to(root)) for p in root.rglob("*.py")
                 if p.parent.name != "optuna" and importing.search(p.read_text())]
    assert not offenders
