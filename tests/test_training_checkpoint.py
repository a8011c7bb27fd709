"""Multi-fidelity training: stopping at an epoch, checkpoints, exact continuation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from bo_nas.encodings import nb201_architecture
from bo_nas.evaluators import Budget, EvaluationError
from bo_nas.evaluators._training import TrainingEvaluator
from bo_nas.training import (
    ImageDataset,
    TrainConfig,
    TrainingError,
    _loop,
    build_network,
    load_dataset,
    train,
)
from bo_nas.training._loop import CheckpointError

CELL = "|nor_conv_3x3~0|+|skip_connect~0|none~1|+|avg_pool_3x3~0|none~1|nor_conv_1x1~2|"
OTHER_CELL = "|nor_conv_3x3~0|+|nor_conv_3x3~0|none~1|+|skip_connect~0|none~1|nor_conv_3x3~2|"
TINY: dict[str, Any] = {"channels": 4, "cells_per_stage": 1, "batch_size": 128, "device": "cpu",
                        "threads": 1}


@pytest.fixture(scope="module")
def data() -> ImageDataset:
    return load_dataset("digits")


def _net(cell: str = CELL, seed: int = 0) -> nn.Module:
    return build_network(nb201_architecture(cell), "nb201", 10, channels=4, cells_per_stage=1,
                         in_channels=1, generator=torch.Generator().manual_seed(seed))


def _config(epochs: int, **kw: Any) -> TrainConfig:
    return TrainConfig(epochs=epochs, batch_size=128, device="cpu", seed=0, threads=1, **kw)


def _timeless(curve: list[Any]) -> list[tuple[Any, ...]]:
    # Wall times differ between runs; everything else must not.
    return [(e.epoch, e.lr, e.train_loss, e.train_accuracy, e.val_accuracy) for e in curve]


def test_continuing_from_a_checkpoint_equals_training_straight_through(
    data: ImageDataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    straight_net = _net()
    straight = train(straight_net, data, _config(4))
    assert (straight.start_epoch, straight.epochs) == (0, 4)

    written: list[int] = []
    real_write = _loop._write_checkpoint

    def record(path: str, state: dict[str, Any]) -> None:
        written.append(state["epoch"])
        real_write(path, state)

    monkeypatch.setattr(_loop, "_write_checkpoint", record)
    ckpt = tmp_path / "trial.pt"
    first = train(_net(), data, _config(4), until=2, checkpoint=ckpt)
    assert written == [1, 2]  # after every epoch
    assert (first.start_epoch, first.epochs) == (0, 2) and len(first.curve) == 2
    # The schedule spans the planned 4 epochs, not the 2 trained.
    assert first.curve[1].lr == straight.curve[1].lr
    saved = torch.load(ckpt, weights_only=True)
    assert saved["epoch"] == 2
    assert [p.name for p in tmp_path.iterdir()] == ["trial.pt"]  # no temporary file left

    resumed_net = _net(seed=7)  # other initial weights: the checkpoint's must replace them
    resumed = train(resumed_net, data, _config(4), until=4, checkpoint=str(ckpt))
    assert written == [1, 2, 3, 4]
    assert (resumed.start_epoch, resumed.epochs) == (2, 4)
    assert resumed.val_accuracy == straight.val_accuracy
    assert resumed.test_accuracy == straight.test_accuracy
    assert _timeless(resumed.curve) == _timeless(straight.curve)
    a, b = straight_net.state_dict(), resumed_net.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_checkpoint_at_the_requested_epoch_only_measures(
    data: ImageDataset, tmp_path: Path
) -> None:
    ckpt = tmp_path / "trial.pt"
    # eval_every=0: epoch 1 is validated only because the run stops there.
    first = train(_net(), data, _config(3, eval_every=0), until=1, checkpoint=ckpt)
    again = train(_net(seed=5), data, _config(3, eval_every=0), until=1, checkpoint=ckpt)
    assert (again.start_epoch, again.epochs) == (1, 1)
    assert again.val_accuracy == first.val_accuracy
    assert again.test_accuracy == first.test_accuracy
    assert _timeless(again.curve) == _timeless(first.curve)


def test_unusable_checkpoints_are_errors_naming_the_file(
    data: ImageDataset, tmp_path: Path
) -> None:
    ckpt = tmp_path / "trial.pt"
    train(_net(), data, _config(3), until=2, checkpoint=ckpt)
    with pytest.raises(CheckpointError, match=r"trial\.pt.*epoch 2.*past.*1") as info:
        train(_net(), data, _config(3), until=1, checkpoint=ckpt)
    assert isinstance(info.value, TrainingError)
    with pytest.raises(CheckpointError, match=r"trial\.pt.*epochs 3 \(here 5\)"):
        train(_net(), data, _config(5), until=3, checkpoint=ckpt)
    with pytest.raises(CheckpointError, match=r"trial\.pt.*another network"):
        train(_net(OTHER_CELL), data, _config(3), checkpoint=ckpt)

    intact = ckpt.read_bytes()
    ckpt.write_bytes(intact[: len(intact) // 2])  # a copy cut short
    with pytest.raises(CheckpointError, match=r"trial\.pt is unreadable"):
        train(_net(), data, _config(3), checkpoint=ckpt)
    assert len(ckpt.read_bytes()) == len(intact) // 2  # not retrained over
    with pytest.raises(CheckpointError, match="does not exist"):
        train(_net(), data, _config(3), checkpoint=tmp_path / "missing" / "trial.pt")
    with pytest.raises(ValueError, match="until"):
        train(_net(), data, _config(3), until=4)


def test_evaluate_at_continues_exactly_and_reports_the_epochs_it_trained(
    tmp_path: Path
) -> None:
    ev = TrainingEvaluator("nb201", "digits", epochs=3, seed=1, **TINY)
    arch = nb201_architecture(CELL)
    assert ev.fidelities() == (1, 2, 3)
    full = ev.evaluate(arch)
    straight = ev.evaluate_at(arch, Budget(3, 3))
    assert straight.val_accuracy == full.val_accuracy
    assert straight.info["curve"][-1]["train_loss"] == full.info["curve"][-1]["train_loss"]
    assert (straight.info["epochs_trained"], straight.info["resumed_from"]) == (3, 0)

    ckpt = tmp_path / "rungs" / "trial.pt"  # its folder is created
    low = ev.evaluate_at(arch, Budget(1, 3, checkpoint=str(ckpt)))
    assert torch.load(ckpt, weights_only=True)["epoch"] == 1
    assert {k: low.info[k] for k in ("epochs", "epochs_trained", "max_epochs",
                                     "resumed_from")} == {"epochs": 1, "epochs_trained": 1,
                                                          "max_epochs": 3, "resumed_from": 0}
    high = ev.evaluate_at(arch, Budget(3, 3, checkpoint=str(ckpt), previous=1))
    assert {k: high.info[k] for k in ("epochs", "epochs_trained", "max_epochs",
                                      "resumed_from")} == {"epochs": 3, "epochs_trained": 2,
                                                           "max_epochs": 3, "resumed_from": 1}
    assert high.val_accuracy == straight.val_accuracy == full.val_accuracy
    assert high.test_accuracy == straight.test_accuracy
    assert [e["train_loss"] for e in high.info["curve"]] == \
        [e["train_loss"] for e in straight.info["curve"]]

    with pytest.raises(EvaluationError, match=r"trial\.pt.*past"):
        ev.evaluate_at(arch, Budget(2, 3, checkpoint=str(ckpt)))
    with pytest.raises(EvaluationError, match=r"trial\.pt.*epochs 3 \(here 4\)"):
        ev.evaluate_at(arch, Budget(3, 4, checkpoint=str(ckpt)))
    ckpt.write_bytes(ckpt.read_bytes()[:100])
    with pytest.raises(EvaluationError, match=r"trial\.pt is unreadable"):
        ev.evaluate_at(arch, Budget(3, 3, checkpoint=str(ckpt)))


def test_evaluate_at_plans_the_schedule_for_the_budget(tmp_path: Path) -> None:
    ev = TrainingEvaluator("nb201", "digits", epochs=1, **TINY)
    arch = nb201_architecture(CELL)
    short = ev.evaluate_at(arch, Budget(2, 4))  # beyond the evaluator's own epochs
    assert short.info["max_epochs"] == 4 and len(short.info["curve"]) == 2
    lrs = [e["lr"] for e in short.info["curve"]]
    # Epoch 2 starts a quarter into a 4-epoch cosine: lr0 (1 + cos(pi/4)) / 2.
    assert lrs[1] == pytest.approx(0.1 * (1 + 2 ** -0.5) / 2, rel=1e-6)
