"""Datasets, batches and the training loop, on CPU with tiny networks."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from bo_nas.encodings import BoNasError, nb201_architecture
from bo_nas.training import (
    Batches,
    DatasetFormatError,
    DatasetNotFoundError,
    TrainConfig,
    TrainingDivergedError,
    augment,
    build_network,
    load_cifar_dataset,
    load_dataset,
    suggest_cpu_settings,
    train,
)

CONV_CELL = "|nor_conv_3x3~0|+|nor_conv_3x3~0|none~1|+|skip_connect~0|none~1|nor_conv_3x3~2|"


def _write_cifar(folder: Path, files: list[str], label_key: bytes, n: int, classes: int,
                 seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    gen = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for name in files:
        data = gen.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        labels = gen.integers(0, classes, size=n).tolist()
        with open(folder / name, "wb") as fh:
            pickle.dump({b"data": data, label_key: labels, b"batch_label": b"x"}, fh)
        written[name] = (data, np.array(labels))
    return written


CIFAR10_FILES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


def test_cifar10_reader_reads_pickle_batches(tmp_path: Path) -> None:
    written = _write_cifar(tmp_path / "cifar-10-batches-py", CIFAR10_FILES, b"labels", 6, 10, 0)
    data = load_cifar_dataset("cifar10", tmp_path, val_size=4)  # the parent folder works too
    assert len(data.train_x) == 26 and len(data.val_x) == 4 and len(data.test_x) == 6
    assert data.image_shape == (3, 32, 32) and data.num_classes == 10
    raw, labels = written["test_batch"]
    # Row layout: 1024 red, then green, then blue values, each row-major 32 x 32.
    assert data.test_x[2, 1, 3, 5].item() == raw[2, 1024 + 3 * 32 + 5]
    assert data.test_y.tolist() == labels.tolist()
    train_rows = {bytes(r) for r in np.concatenate([written[f][0] for f in CIFAR10_FILES[:5]])}
    held = {bytes(x.reshape(-1).numpy()) for x in torch.cat([data.train_x, data.val_x])}
    assert held == train_rows  # train + validation partition the five training batches
    assert data.crop_padding == 4 and data.flip


def test_cifar100_reader_uses_fine_labels(tmp_path: Path) -> None:
    _write_cifar(tmp_path, ["train", "test"], b"fine_labels", 10, 100, 1)
    data = load_dataset("cifar100", tmp_path, val_size=0.2)
    assert data.num_classes == 100 and len(data.val_x) == 2 and len(data.train_x) == 8


def test_missing_or_malformed_cifar_folder_says_what_was_expected(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match="data_batch_1") as info:
        load_dataset("cifar10", tmp_path)
    assert isinstance(info.value, FileNotFoundError) and isinstance(info.value, BoNasError)
    with pytest.raises(DatasetNotFoundError, match="does not exist"):
        load_dataset("cifar10", tmp_path / "nowhere")
    with pytest.raises(DatasetNotFoundError, match="data_dir"):
        load_dataset("cifar10")
    _write_cifar(tmp_path, CIFAR10_FILES, b"labels", 4, 10, 2)
    (tmp_path / "data_batch_3").write_bytes(b"not a pickle")
    with pytest.raises(DatasetFormatError, match="data_batch_3"):
        load_cifar_dataset("cifar10", tmp_path)
    with open(tmp_path / "data_batch_3", "wb") as fh:
        pickle.dump({b"data": np.zeros((4, 100), np.uint8), b"labels": [0] * 4}, fh)
    with pytest.raises(DatasetFormatError, match="3072"):
        load_cifar_dataset("cifar10", tmp_path)


def test_digits_splits_are_disjoint_and_fixed() -> None:
    data = load_dataset("digits")
    assert data.image_shape == (1, 8, 8) and data.num_classes == 10
    n = len(data.train_x) + len(data.val_x) + len(data.test_x)
    assert n == 1797
    rows = torch.cat([data.train_x, data.val_x, data.test_x]).reshape(n, -1)
    assert data.train_x.max() <= 240 and not data.flip
    assert load_dataset("digits") is data  # cached per process
    assert len(torch.unique(rows, dim=0)) <= n


def test_augment_crops_a_shifted_window_and_flips() -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(16, 2, 5, 5, generator=gen)
    out = augment(x, padding=2, flip=True, generator=torch.Generator().manual_seed(1))
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for i in range(16):
        windows = [padded[i, :, dy:dy + 5, dx:dx + 5] for dy in range(5) for dx in range(5)]
        assert any(torch.equal(out[i], w) or torch.equal(out[i], w.flip(2)) for w in windows)
    assert torch.equal(augment(x, 0, False, gen), x)


def test_batches_cover_the_data() -> None:
    x = torch.arange(10, dtype=torch.uint8).view(10, 1, 1, 1).expand(10, 1, 2, 2).contiguous()
    y = torch.arange(10)
    dev = torch.device("cpu")
    ev = Batches(x, y, 4, dev, (0.0,), (1.0,), train=False)
    assert [b[1].tolist() for b in ev] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    tr = Batches(x, y, 4, dev, (0.0,), (1.0,), train=True,
                 generator=torch.Generator().manual_seed(0))
    labels = [b[1] for b in tr]
    assert len(labels) == 2 and all(len(b) == 4 for b in labels)
    assert len(set(torch.cat(labels).tolist())) == 8
    xb, yb = next(iter(tr))
    torch.testing.assert_close(xb[:, 0, 0, 0], yb.float() / 255)  # normalised pixels


def test_train_config_rejects_bad_settings() -> None:
    for bad in ({"epochs": 0}, {"lr": -1.0}, {"label_smoothing": 1.0}, {"amp_dtype": "int8"},
                {"batch_size": 2.5}, {"device": "gpu0"}, {"compile": "fastest"}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            TrainConfig(**bad)


def test_training_learns_digits_and_reports_a_curve() -> None:
    data = load_dataset("digits")
    net = build_network(nb201_architecture(CONV_CELL), "nb201", 10, channels=8,
                        cells_per_stage=1, in_channels=1,
                        generator=torch.Generator().manual_seed(0))
    result = train(net, data, TrainConfig(epochs=3, batch_size=64, device="cpu", seed=0, threads=1))
    assert result.val_accuracy > 70.0  # chance is 10 %
    assert result.test_accuracy is not None and result.test_accuracy > 70.0
    assert [e.epoch for e in result.curve] == [1, 2, 3]
    assert result.curve[-1].train_loss < result.curve[0].train_loss
    assert result.curve[0].lr == pytest.approx(0.1)
    assert result.params == sum(p.numel() for p in net.parameters())
    assert result.flops > 0 and result.device == "cpu" and result.images_per_second > 0


def test_training_is_reproducible_from_its_seed() -> None:
    data = load_dataset("digits")
    arch = nb201_architecture(CONV_CELL)

    def run(seed: int) -> list[float]:
        net = build_network(arch, "nb201", 10, channels=4, cells_per_stage=1, in_channels=1,
                            generator=torch.Generator().manual_seed(seed))
        cfg = TrainConfig(epochs=1, batch_size=128, device="cpu", seed=seed, threads=1)
        r = train(net, data, cfg)
        return [r.val_accuracy, r.curve[0].train_loss]

    assert run(3) == run(3)


@pytest.mark.slow  # inductor compiles C++ kernels on the CPU: about a minute
def test_compiled_training_matches_eager(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A private kernel cache: one shared with other torch versions can hold stale code.
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path))
    data = load_dataset("digits")
    arch = nb201_architecture(CONV_CELL)

    def run(mode: bool | str) -> list[float]:
        net = build_network(arch, "nb201", 10, channels=4, cells_per_stage=1, in_channels=1,
                            generator=torch.Generator().manual_seed(0))
        cfg = TrainConfig(epochs=2, batch_size=128, device="cpu", seed=0, threads=1,
                          compile=mode)
        return [e.train_loss for e in train(net, data, cfg).curve]

    assert run("reduce-overhead") == pytest.approx(run(False), rel=1e-4)


def test_divergence_is_reported() -> None:
    data = load_dataset("digits")
    net = build_network(nb201_architecture(CONV_CELL), "nb201", 10, channels=4,
                        cells_per_stage=1, in_channels=1,
                        generator=torch.Generator().manual_seed(0))
    with pytest.raises(TrainingDivergedError, match="loss"):
        train(net, data, TrainConfig(epochs=1, lr=1e12, batch_size=128, device="cpu", threads=1))


def test_cpu_settings_split_the_cores() -> None:
    s = suggest_cpu_settings(workers=1)
    assert s.threads == s.cores and s.batch_size > 0
    assert suggest_cpu_settings().threads == 1
