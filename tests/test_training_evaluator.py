"""`TrainingEvaluator`: real (tiny) training runs as campaign evaluations."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import networkx as nx
import pytest

from bo_nas._registry import evaluator_from_config
from bo_nas.encodings import Architecture, nb201_architecture
from bo_nas.evaluators import EvaluationError, EvaluationResult
from bo_nas.evaluators._training import TrainingEvaluator, evaluation_seed
from bo_nas.spaces import CellSpace, NB101Space, NB201Space

CELL = "|nor_conv_3x3~0|+|skip_connect~0|none~1|+|avg_pool_3x3~0|none~1|nor_conv_1x1~2|"
TINY = {"epochs": 1, "channels": 4, "cells_per_stage": 1, "batch_size": 128, "device": "cpu",
        "threads": 1}


def test_evaluation_reports_accuracies_costs_and_curve() -> None:
    ev = TrainingEvaluator("nb201", "digits", epochs=2, channels=4, cells_per_stage=1,
                           device="cpu", threads=1, seed=1)
    arch = nb201_architecture(CELL)
    result = ev.evaluate(arch)
    assert isinstance(result, EvaluationResult)
    assert result.val_accuracy > 30.0 and result.test_accuracy is not None  # chance: 10 %
    assert set(result.costs) == {"params", "flops", "train_seconds"}
    assert 0 < result.costs["params"] < 0.1 and result.costs["flops"] > 0
    assert [e["epoch"] for e in result.info["curve"]] == [1, 2]
    assert result.info["device"] == "cpu"
    assert result.info["seed"] == evaluation_seed(1, arch.key)
    json.dumps(result.to_dict())  # storable as is
    again = pickle.loads(pickle.dumps(ev)).evaluate(arch)  # what a pool worker runs
    assert again.val_accuracy == result.val_accuracy
    assert again.info["curve"][-1]["train_loss"] == result.info["curve"][-1]["train_loss"]


def test_config_round_trip_through_the_registry() -> None:
    space = CellSpace(["conv3x3", "maxpool", "skip"], n_nodes=4, max_edges=5)
    for ev in (TrainingEvaluator("nb201", **TINY),
               TrainingEvaluator(space, "cifar10", "somewhere", label_smoothing=0.1,
                                 train_options={"amp": False}, **TINY)):
        cfg = ev.to_config()
        assert cfg["kind"] == "training"
        back = evaluator_from_config(json.loads(json.dumps(cfg)))
        assert isinstance(back, TrainingEvaluator) and back.to_config() == cfg
    with pytest.raises(ValueError, match="bogus"):
        TrainingEvaluator.from_config({"kind": "training", "bogus": 1})
    with pytest.raises(ValueError, match="dataset"):
        TrainingEvaluator(dataset="mnist")
    with pytest.raises(ValueError, match="epochs"):
        TrainingEvaluator(epochs=0)
    with pytest.raises(ValueError, match="unknown TrainConfig"):
        TrainingEvaluator(train_options={"warp": 9})


def test_user_cell_space_and_nb101_train() -> None:
    space = CellSpace(["conv3x3", "maxpool", "skip"], n_nodes=4, max_edges=5)
    g = nx.DiGraph()
    g.add_nodes_from([(0, {"op": "input"}), (1, {"op": "conv3x3"}), (2, {"op": "maxpool"}),
                      (3, {"op": "output"})])
    g.add_edges_from([(0, 1), (1, 2), (0, 2), (2, 3)])
    r = TrainingEvaluator(space, **TINY).evaluate(Architecture(g))
    assert 0 <= r.val_accuracy <= 100
    r101 = TrainingEvaluator(NB101Space(), **TINY).evaluate(NB101Space().sample(0))
    assert r101.costs["params"] > 0


def test_failures_become_evaluation_errors(tmp_path: Path) -> None:
    arch = NB201Space().sample(0)
    with pytest.raises(EvaluationError, match="loss"):
        TrainingEvaluator(lr=1e12, **{**TINY, "channels": 8}).evaluate(
            nb201_architecture(CELL))
    with pytest.raises(EvaluationError, match="data_batch_1"):
        TrainingEvaluator("nb201", "cifar10", tmp_path, **TINY).evaluate(arch)
    with pytest.raises(EvaluationError, match="cannot be built"):
        TrainingEvaluator("nb201", **TINY).evaluate(NB101Space().sample(0))
