"""Zero-cost measures on bo-nas's own networks, and the `NetworkScores` source.

Small networks (4 channels, 1 cell per stage) on 8x8 digits, except the SynFlow oracle,
which scores 200 NAS-Bench-201 cells at the benchmark's size against the published table.
"""

from __future__ import annotations

import copy
import csv
import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import stats
from torch import nn

from bo_nas.encodings import nb201_architecture
from bo_nas.spaces import CellSpace, NB101Space, NB201Space
from bo_nas.training import build_network, load_digits_dataset
from bo_nas.zero_cost import _measures as zc
from bo_nas.zero_cost._network_scores import NETWORK_SCORES, NetworkScores, draw_minibatch
from bo_nas.zero_cost._source import ScoreSource

MIXED = ("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|"
         "+|skip_connect~0|nor_conv_1x1~1|skip_connect~2|")
EMPTY = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
SMALL = {"channels": 4, "cells_per_stage": 1}


@pytest.fixture(autouse=True)
def one_thread():
    saved = torch.get_num_threads()
    torch.set_num_threads(1)  # small convs are slower with more threads on a shared box
    yield
    torch.set_num_threads(saved)


@pytest.fixture(scope="module")
def batch() -> tuple[torch.Tensor, torch.Tensor]:
    return draw_minibatch(load_digits_dataset(), 16, torch.Generator().manual_seed(0))


def _net(string: str = MIXED, seed: int = 0) -> nn.Module:
    return build_network(nb201_architecture(string), "nb201", 10, in_channels=1,
                         generator=torch.Generator().manual_seed(seed), **SMALL)


def _source(batch: tuple[torch.Tensor, torch.Tensor], space: object = "nb201",
            **kwargs: object) -> NetworkScores:
    images, labels = batch
    return NetworkScores(space, images, labels, 10, device="cpu",  # type: ignore[arg-type]
                         **{**SMALL, **kwargs})  # type: ignore[arg-type]


# --- the SynFlow oracle ---------------------------------------------------------------

def test_synflow_agrees_with_the_published_nb201_table(data_dir: Path) -> None:
    path = data_dir / "nb201" / "nb201_zc_proxies_cifar10.csv"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    # 120 cells keep the rank check tight; the speed is measured in
    # benchmarks/bench_zero_cost.py, not here.
    picked = np.random.default_rng(0).choice(len(rows), 120, replace=False)
    space = NB201Space()
    archs = [space.from_string(rows[i]["net_str"]) for i in picked]
    published = np.array([float(rows[i]["synflow"]) for i in picked])
    # The benchmark's network: C=16, N=5, CIFAR-sized input, 10 classes.
    src = NetworkScores(space, torch.zeros(1, 3, 32, 32), None, 10, names=("synflow",),
                        device="cpu")
    ours = src.scores(archs)[:, 0]
    rho = stats.spearmanr(ours, published).statistic
    assert rho >= 0.95, f"Spearman {rho:.4f} with the table"
    # log S is the table's own scale: equal up to the random initialisation.
    finite = np.isfinite(ours) & (published > 0)
    assert np.median(np.abs(ours[finite] - published[finite])) < 1.0


# --- NASWOT ---------------------------------------------------------------------------

def _codes(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """All ReLU input signs, concatenated: `N x N_A` in {0, 1} (the definition)."""
    parts: list[torch.Tensor] = []
    hooks = [m.register_forward_pre_hook(
        lambda _, inp: parts.append((inp[0] > 0).reshape(len(images), -1).double()))
        for m in model.modules() if isinstance(m, nn.ReLU)]
    model.train()
    with torch.no_grad():
        model(images)
    for h in hooks:
        h.remove()
    return torch.cat(parts, dim=1)


def test_naswot_kernel_is_units_minus_hamming_distance(batch) -> None:
    model, images = _net(), batch[0]
    c = _codes(copy.deepcopy(model), images)
    hamming = torch.cdist(c, c, p=1)
    expected = c.shape[1] - hamming
    assert torch.equal(zc.relu_code_kernel(model, images), expected)
    assert torch.allclose(expected, c @ c.T + (1 - c) @ (1 - c).T)
    assert zc.naswot(model, images) == pytest.approx(
        float(torch.linalg.slogdet(expected).logabsdet), rel=1e-12)


def test_naswot_ignores_the_order_of_the_minibatch(batch) -> None:
    model, images = _net(), batch[0]
    perm = torch.randperm(len(images), generator=torch.Generator().manual_seed(1))
    a, b = zc.naswot(model, images), zc.naswot(model, images[perm])
    assert math.isfinite(a)
    assert a == pytest.approx(b, rel=1e-10)


def test_naswot_of_a_repeated_image_is_minus_infinity(batch) -> None:
    images = batch[0].clone()
    images[3] = images[7]
    assert zc.naswot(_net(), images) == -math.inf
    # A network that maps every image to the same codes is singular too.
    assert zc.naswot(_net(EMPTY), batch[0]) == -math.inf


def test_naswot_needs_relus(batch) -> None:
    with pytest.raises(ValueError, match=r"nn\.ReLU"):
        zc.naswot(nn.Sequential(nn.Flatten(), nn.Linear(64, 3)), batch[0])


# --- SynFlow --------------------------------------------------------------------------

def test_synflow_of_a_linear_chain_is_twice_the_flow() -> None:
    # Two bias-free layers: every layer's sum θ ∂R/∂θ equals R, so S = 2R.
    gen = torch.Generator().manual_seed(0)
    w1, w2 = torch.randn(3, 5, generator=gen), torch.randn(2, 3, generator=gen)
    model = nn.Sequential(nn.Linear(5, 3, bias=False), nn.ReLU(), nn.Linear(3, 2, bias=False))
    with torch.no_grad():
        model[0].weight.copy_(w1)
        model[2].weight.copy_(w2)
    flow = float((w2.abs().double() @ w1.abs().double()).sum())
    assert zc.synflow(model, (5,)) == pytest.approx(math.log(2 * flow), rel=1e-12)


def test_measures_leave_the_model_and_global_rng_alone(batch) -> None:
    model = _net()
    model.eval()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.random.get_rng_state()
    images, labels = batch
    scores = [zc.naswot(model, images), zc.synflow(model, (1, 8, 8)),
              zc.jacov(model, images), zc.grad_kernel(model, images, labels)]
    assert all(math.isfinite(s) for s in scores)
    assert not model.training
    assert all(m.training is False for m in model.modules())
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())
    assert torch.equal(rng, torch.random.get_rng_state())


def test_synflow_of_a_cell_without_ops_is_minus_infinity() -> None:
    assert zc.synflow(_net(EMPTY), (1, 8, 8)) == -math.inf


# --- Jacobian covariance ------------------------------------------------------------

def test_jacov_is_the_eigenvalue_formula_on_input_jacobians(batch) -> None:
    model, images = _net(), batch[0]
    jac = zc.input_jacobians(model, images).double().numpy()
    v = np.linalg.eigvalsh(np.corrcoef(jac))
    k = 1e-5
    assert zc.jacov(model, images) == pytest.approx(-np.sum(np.log(v + k) + 1 / (v + k)),
                                                    rel=1e-8)
    # A network whose output ignores its input has no defined correlation.
    assert zc.jacov(_net(EMPTY), images) == -math.inf


# --- gradient kernel ----------------------------------------------------------------

@pytest.mark.parametrize("batchnorm", ["batch", "running"])
def test_grad_kernel_methods_agree(batch, batchnorm: str) -> None:
    model, (images, labels) = _net(), batch
    images, labels = images[:6], labels[:6]
    grads = {m: zc.per_example_gradients(model, images, labels, batchnorm=batchnorm, method=m)
             for m in ("vmap", "loop")}
    assert grads["loop"].shape == (6, sum(p.numel() for p in model.parameters()))
    # Two float32 summation orders: agreement to round-off at the gradients' own scale.
    scale = float(grads["loop"].abs().max())
    torch.testing.assert_close(grads["vmap"], grads["loop"], rtol=1e-4, atol=1e-6 * scale)
    gram = zc.gradient_gram(model, images, labels, batchnorm=batchnorm, method="loop")
    assert torch.allclose(gram, gram.T)
    values = [zc.grad_kernel(model, images, labels, batchnorm=batchnorm, method=m)
              for m in ("mean", "vmap", "loop")]
    assert values[0] > 0
    assert values == pytest.approx([values[0]] * 3, rel=1e-5)
    assert values[2] == pytest.approx(float(gram.mean()), rel=1e-12)


def test_grad_kernel_modes_differ_only_through_batchnorm(batch) -> None:
    model, (images, labels) = _net(), batch
    assert zc.grad_kernel(model, images, labels) != zc.grad_kernel(
        model, images, labels, batchnorm="running")
    plain = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))  # no BatchNorm: modes agree
    assert zc.grad_kernel(plain, images, labels) == pytest.approx(
        zc.grad_kernel(plain, images, labels, batchnorm="running"), rel=1e-12)
    with pytest.raises(ValueError, match="batchnorm"):
        zc.grad_kernel(model, images, labels, batchnorm="eval")  # type: ignore[arg-type]


# --- NetworkScores ------------------------------------------------------------------

def test_network_scores_is_a_score_source(batch) -> None:
    src = _source(batch)
    assert isinstance(src, ScoreSource)
    assert src.names == NETWORK_SCORES
    archs = NB201Space().sample_many(3, 0)
    out = src.scores(archs)
    assert out.shape == (3, 4)
    assert np.isfinite(out).all()
    assert src.scores([]).shape == (0, 4)


def test_scores_are_deterministic_and_independent_of_the_call(batch) -> None:
    space = NB201Space()
    archs = space.sample_many(4, 1)
    a = _source(batch, seed=3).scores(archs)
    b = _source(batch, seed=3).scores(archs[::-1])[::-1]
    c = _source(batch, seed=3).scores([archs[2]])
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a[2:3], c)
    d = _source(batch, seed=4).scores(archs)
    assert not np.array_equal(a, d)


def test_equal_architectures_share_one_network(batch) -> None:
    # The conv on edge 1←0 feeds only `none` edges: a dead branch, the same network.
    live = nb201_architecture("|skip_connect~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    dead = nb201_architecture("|skip_connect~0|+|nor_conv_3x3~0|none~1|+|none~0|none~1|none~2|")
    assert live == dead
    src = _source(batch)
    np.testing.assert_array_equal(src.scores([live]), _source(batch).scores([dead]))
    assert src.scores([live, dead]).shape == (2, 4)
    assert src.builds == 1


def test_second_call_reads_the_cache(batch, tmp_path: Path) -> None:
    archs = NB201Space().sample_many(3, 2)
    path = tmp_path / "zc.sqlite"
    src = _source(batch, cache_path=path)
    first = src.scores(archs)
    assert src.builds == 3
    np.testing.assert_array_equal(src.scores(archs[::-1]), first[::-1])
    assert src.builds == 3
    resumed = _source(batch, cache_path=path)  # a resumed campaign: nothing rebuilt
    np.testing.assert_array_equal(resumed.scores(archs), first)
    assert resumed.builds == 0
    other = _source(batch, cache_path=path, seed=1)  # another fingerprint: recomputed
    assert other.fingerprint != src.fingerprint
    other.scores(archs[:1])
    assert other.builds == 1


def test_fingerprint_follows_what_scores_depend_on(batch) -> None:
    images, labels = batch
    base = _source(batch).fingerprint
    assert _source(batch).fingerprint == base
    assert _source((images + 1e-3, labels)).fingerprint != base
    assert _source(batch, names=("synflow",)).fingerprint != base
    assert _source(batch, channels=8).fingerprint != base
    assert _source(batch, cells_per_stage=2).fingerprint != base


def test_nb101_and_cell_space_networks_score(batch) -> None:
    nb101 = NB101Space()
    cell = CellSpace(["conv3x3", "conv1x1", "maxpool", "skip"], n_nodes=5, max_edges=7)
    for space in (nb101, cell):
        out = _source(batch, space).scores(space.sample_many(2, 0))
        assert out.shape == (2, 4)
        assert np.isfinite(out).all(), (space, out)


def test_from_dataset_draws_a_reproducible_minibatch() -> None:
    data = load_digits_dataset()
    x1, y1 = draw_minibatch(data, 8, torch.Generator().manual_seed(5))
    x2, y2 = draw_minibatch(data, 8, torch.Generator().manual_seed(5))
    assert x1.shape == (8, 1, 8, 8) and x1.dtype == torch.float32
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    src = NetworkScores.from_dataset("nb201", data, 8, torch.Generator().manual_seed(5),
                                     device="cpu", **SMALL)
    assert src.in_channels == 1 and src.num_classes == 10
    assert src.fingerprint == _source((x1, y1)).fingerprint
    assert len(draw_minibatch(data)[0]) == 64
    with pytest.raises(ValueError, match="batch_size"):
        draw_minibatch(data, 0)


@pytest.mark.parametrize(("change", "match"), [
    ({"images": torch.zeros(0, 1, 8, 8), "labels": torch.zeros(0, dtype=torch.long)},
     "empty"),
    ({"images": torch.zeros(16, 8, 8)}, r"N x C x H x W"),
    ({"images": torch.zeros(16, 1, 2, 2)}, "H, W"),
    ({"images": torch.zeros(16, 1, 8, 8, dtype=torch.uint8)}, "floating-point"),
    ({"in_channels": 3}, "channels"),
    ({"labels": torch.zeros(5, dtype=torch.long)}, "one per image"),
    ({"labels": torch.full((16,), 10)}, r"\[0, 10\)"),
    ({"labels": None}, "need labels"),
    ({"names": ("nwot", "snip")}, "unknown score"),
    ({"names": ()}, "at least one"),
    ({"channels": 0}, "channels"),
    ({"seed": -1}, "seed"),
    ({"space": "nb999"}, "space"),
])
def test_bad_input_is_a_helpful_value_error(batch, change: dict, match: str) -> None:
    args = {"space": "nb201", "images": batch[0], "labels": batch[1], **change}
    space, images, labels = args.pop("space"), args.pop("images"), args.pop("labels")
    with pytest.raises(ValueError, match=match):
        NetworkScores(space, images, labels, 10, device="cpu", **{**SMALL, **args})


def test_a_wrong_architecture_is_rejected(batch) -> None:
    with pytest.raises(ValueError):
        _source(batch).scores([NB101Space().sample(0)])
    with pytest.raises(ValueError, match="Architecture"):
        _source(batch).scores(["|none~0|"])  # type: ignore[list-item]


@pytest.mark.skipif(not os.environ.get("BO_NAS_ZC_CUDA") or not torch.cuda.is_available(),
                    reason="set BO_NAS_ZC_CUDA=1 on a CUDA machine")
def test_cuda_scores_match_cpu(batch) -> None:
    archs = NB201Space().sample_many(3, 0)
    cpu = _source(batch).scores(archs)
    gpu = _source(batch, device="cuda").scores(archs)
    np.testing.assert_allclose(gpu, cpu, rtol=1e-3)
