"""The DARTS network: parameter counts against the paper and by hand, shapes, training."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _darts_cells import DARTS_V2
from torch import nn

import bo_nas.spaces
from bo_nas.encodings import InvalidArchitectureError, nb201_architecture
from bo_nas.encodings._darts import DARTS_OPS, DARTSGenotype, darts_architecture
from bo_nas.training import (
    AUXILIARY_PREFIX,
    DARTSCell,
    DARTSNetwork,
    FactorizedReduce,
    TrainConfig,
    build_network,
    count_flops,
    count_parameters,
    darts_op,
    init_parameters,
    load_dataset,
    skeleton_of,
    train,
)
from bo_nas.zero_cost import NetworkScores

V2 = DARTSGenotype.from_string(DARTS_V2)
#: Every op in both cells, stride-2 skips and 5×5 convs on the reduction inputs.
ALL_OPS = DARTSGenotype(
    normal=(("sep_conv_5x5", 0), ("dil_conv_5x5", 1), ("avg_pool_3x3", 0), ("skip_connect", 2),
            ("dil_conv_3x3", 3), ("max_pool_3x3", 1), ("sep_conv_3x3", 4), ("skip_connect", 0)),
    reduce=(("skip_connect", 0), ("sep_conv_5x5", 1), ("dil_conv_5x5", 0), ("avg_pool_3x3", 2),
            ("dil_conv_3x3", 1), ("sep_conv_3x3", 3), ("max_pool_3x3", 4), ("skip_connect", 1)),
)
DARTSSpace = getattr(bo_nas.spaces, "DARTSSpace", None)


@pytest.fixture
def one_thread():
    saved = torch.get_num_threads()
    torch.set_num_threads(1)  # small convs are slower with more threads on a shared CI box
    yield
    torch.set_num_threads(saved)


# --- parameter counts by hand ---------------------------------------------------------

def _bn(c: int) -> int:
    return 2 * c


def _op_params(op: str, c: int, stride: int) -> int:
    """Written from the DARTS paper's op definitions, not from the modules."""
    if op.startswith("sep_conv"):
        k = int(op[-1])
        return 2 * (k * k * c + c * c + _bn(c))
    if op.startswith("dil_conv"):
        k = int(op[-1])
        return k * k * c + c * c + _bn(c)
    if op == "skip_connect":
        return 0 if stride == 1 else c * c + _bn(c)  # two 1×1 convs to C/2 each, then BN
    assert op in ("max_pool_3x3", "avg_pool_3x3")
    return 0


def _network_params(g: DARTSGenotype, c: int, layers: int, classes: int, c_in: int) -> int:
    total = c_in * 3 * c * 9 + _bn(3 * c)  # stem
    c_pp = c_p = 3 * c
    width = c
    for i in range(layers):
        reduction = i in (layers // 3, 2 * layers // 3)
        width *= 2 if reduction else 1
        # Preprocessing: a 1×1 ReLU-conv-BN, or FactorizedReduce (the same count).
        total += c_pp * width + _bn(width) + c_p * width + _bn(width)
        cell = g.reduce if reduction else g.normal
        total += sum(_op_params(op, width, 2 if reduction and src < 2 else 1) for op, src in cell)
        c_pp, c_p = c_p, 4 * width
    return total + c_p * classes + classes


def _random_genotype(rng: np.random.Generator) -> DARTSGenotype:
    cells = []
    for _ in range(2):
        edges = []
        for node in range(2, 6):
            for src in rng.choice(node, size=2, replace=False):
                edges.append((DARTS_OPS[int(rng.integers(len(DARTS_OPS)))], int(src)))
        cells.append(tuple(edges))
    return DARTSGenotype(normal=cells[0], reduce=cells[1])


def test_darts_v2_has_the_papers_3_3_million_parameters() -> None:
    with torch.device("meta"):  # counting needs shapes only
        net = DARTSNetwork(V2, channels=36, layers=20, num_classes=10)
        built = build_network(darts_architecture(V2), "darts", 10, channels=36,
                              cells_per_stage=6)
        aux = DARTSNetwork(V2, channels=36, layers=20, num_classes=10, auxiliary=True)
    count = count_parameters(net)
    # DARTS' own training log prints "param size = 3.349342MB" for this genotype.
    assert count == 3_349_342
    assert round(count / 1e6, 1) == 3.3
    assert count == _network_params(V2, 36, 20, 10, 3)
    assert count_parameters(built) == count
    # The auxiliary head adds parameters under its own prefix only.
    main = sum(p.numel() for name, p in aux.named_parameters()
               if not name.startswith(AUXILIARY_PREFIX))
    assert main == count
    head = count_parameters(aux) - count
    c_aux = 4 * 4 * 36  # output of the second reduction cell
    assert head == c_aux * 128 + _bn(128) + 128 * 768 * 4 + _bn(768) + 768 * 10 + 10
    assert not any(name.startswith(AUXILIARY_PREFIX) for name, _ in net.named_parameters())


@pytest.mark.parametrize("name", DARTS_OPS)
@pytest.mark.parametrize("stride", [1, 2])
def test_each_op_has_the_hand_counted_parameters(name: str, stride: int) -> None:
    c = 6
    op = darts_op(name, c, stride)
    assert sum(p.numel() for p in op.parameters()) == _op_params(name, c, stride)
    x = torch.randn(2, c, 8, 8)
    assert op(x).shape == (2, c, 8 // stride, 8 // stride)


#: Side of the square an op's output at the centre depends on, and the step between the
#: pixels it reads: two 3×3 convs see 5×5; a dilated 3×3 sees every second pixel of 5×5.
SUPPORT = {"sep_conv_3x3": (5, 1), "sep_conv_5x5": (9, 1), "dil_conv_3x3": (5, 2),
           "dil_conv_5x5": (9, 2), "max_pool_3x3": (3, 1), "avg_pool_3x3": (3, 1),
           "skip_connect": (1, 1)}


@pytest.mark.parametrize("name", DARTS_OPS)
def test_each_op_reads_the_pixels_of_its_kernel_and_dilation(name: str) -> None:
    op = darts_op(name, 1, 1).eval()
    with torch.no_grad():
        for pname, p in op.named_parameters():
            # Weights 1, BN shifts 0: BN (eval, fresh statistics) is about the identity.
            p.fill_(0.0 if pname.endswith("bias") else 1.0)
        side, step = SUPPORT[name]
        for i in range(11):
            for j in range(11):
                x = torch.zeros(1, 1, 11, 11)
                x[0, 0, i, j] = 1.0
                seen = bool(op(x)[0, 0, 5, 5] != 0)
                di, dj = abs(i - 5), abs(j - 5)
                expected = (max(di, dj) <= side // 2 and di % step == 0 and dj % step == 0)
                assert seen == expected, (name, i, j)


def test_average_pool_excludes_the_padding_and_pools_reduce() -> None:
    ones = torch.ones(1, 2, 5, 5)
    torch.testing.assert_close(darts_op("avg_pool_3x3", 2, 1)(ones), ones)
    torch.testing.assert_close(darts_op("avg_pool_3x3", 2, 2)(ones), torch.ones(1, 2, 3, 3))
    x = torch.arange(16.0).view(1, 1, 4, 4)
    # 3×3 windows centred on pixels (0, 0), (0, 2), (2, 0), (2, 2).
    assert darts_op("max_pool_3x3", 1, 2)(x).flatten().tolist() == [5.0, 7.0, 13.0, 15.0]


@pytest.mark.parametrize("side", [6, 5])
def test_factorized_reduce_reads_both_pixel_grids(side: int) -> None:
    fr = FactorizedReduce(3, 4).eval()
    with torch.no_grad():
        for p in fr.parameters():
            p.normal_(generator=torch.Generator().manual_seed(1))
        fr.bn.running_mean.normal_(generator=torch.Generator().manual_seed(2))
        x = torch.randn(2, 3, side, side, generator=torch.Generator().manual_seed(3))
        out = fr(x)
        r = x.relu()
        half = (side + 1) // 2
        even = torch.einsum("oi,bihw->bohw", fr.conv_a.weight[:, :, 0, 0], r[:, :, ::2, ::2])
        odd = torch.zeros(2, 2, half, half)
        odd_part = r[:, :, 1::2, 1::2]  # pixels (1, 1), (1, 3), …: the shifted grid
        odd[:, :, :odd_part.shape[2], :odd_part.shape[3]] = torch.einsum(
            "oi,bihw->bohw", fr.conv_b.weight[:, :, 0, 0], odd_part)
        expected = fr.bn(torch.cat([even, odd], dim=1))
    assert out.shape == (2, 4, half, half)
    torch.testing.assert_close(out, expected)


def test_a_small_cell_has_the_hand_counted_parameters() -> None:
    # The V2 normal cell at C = 4 after a reduction: FactorizedReduce on c_{k-2}.
    cell = DARTSCell(V2, c_prev_prev=10, c_prev=12, channels=4, reduction=False,
                     reduction_prev=True)
    assert isinstance(cell.preprocess0, FactorizedReduce)
    sep3 = 2 * (9 * 4 + 4 * 4 + 2 * 4)  # = 120
    dil3 = 9 * 4 + 4 * 4 + 2 * 4  # = 60
    expected = (10 * 4 + 8) + (12 * 4 + 8) + 5 * sep3 + dil3  # preprocessing, 5 sep, 1 dil
    assert sum(p.numel() for p in cell.parameters()) == expected == 764
    out = cell(torch.randn(2, 10, 8, 8), torch.randn(2, 12, 4, 4))
    assert out.shape == (2, 16, 4, 4)


@pytest.mark.parametrize("seed", range(6))
def test_networks_have_the_hand_counted_parameters(seed: int) -> None:
    rng = np.random.default_rng(seed)
    genotype = [V2, ALL_OPS][seed] if seed < 2 else _random_genotype(rng)
    c = (4, 5, 6)[seed % 3]  # odd widths too
    layers = (5, 8, 3, 4, 1, 2)[seed]
    classes = 3 + seed
    with torch.device("meta"):
        net = DARTSNetwork(genotype, c, layers, classes, in_channels=1 + seed % 3)
    assert count_parameters(net) == _network_params(genotype, c, layers, classes, 1 + seed % 3)


# --- shapes -----------------------------------------------------------------------------

def _cell_shapes(net: nn.Module, x: torch.Tensor) -> list[tuple[int, ...]]:
    shapes: list[tuple[int, ...]] = []
    handles = [m.register_forward_hook(lambda m, i, o: shapes.append(tuple(o.shape)))
               for m in net.modules() if isinstance(m, DARTSCell)]
    try:
        with torch.no_grad():
            out = net(x)
    finally:
        for h in handles:
            h.remove()
    assert out.shape == (len(x), net.classifier.out_features)
    assert torch.isfinite(out).all()
    return shapes


@pytest.mark.parametrize(("in_channels", "side"), [(3, 32), (1, 8), (3, 9), (1, 7)])
def test_forward_shapes_and_reductions_halve_the_side(in_channels: int, side: int,
                                                      one_thread: None) -> None:
    c = 4
    net = DARTSNetwork(ALL_OPS, c, 8, 10, in_channels=in_channels).eval()
    assert net.reduction_layers == (2, 5)
    shapes = _cell_shapes(net, torch.randn(2, in_channels, side, side))
    s, width = side, c
    expected = []
    for i in range(8):
        if i in (2, 5):
            s, width = (s + 1) // 2, 2 * width  # ceil: odd sides work as well
        expected.append((2, 4 * width, s, s))
    assert shapes == expected


def test_darts_v2_at_paper_size_runs_on_cifar_sized_images(one_thread: None) -> None:
    net = DARTSNetwork(V2, 36, 20, 10, auxiliary=True).eval()
    shapes = _cell_shapes(net, torch.randn(1, 3, 32, 32))
    assert [s[2] for s in shapes] == [32] * 6 + [16] * 7 + [8] * 7
    logits, aux = net.forward_with_auxiliary(torch.randn(2, 3, 32, 32))
    assert logits.shape == aux.shape == (2, 10)
    with pytest.raises(ValueError, match="auxiliary"):
        DARTSNetwork(V2, 4, 5, 10).forward_with_auxiliary(torch.randn(2, 3, 32, 32))


def test_flops_are_counted_on_darts_ops() -> None:
    # FactorizedReduce(4 → 6) on 4×4: ReLU 4·16, two 1×1 convs 2·(2·2·3·4), BN 2·6·4.
    assert count_flops(FactorizedReduce(4, 6), (4, 4, 4)) == 64 + 96 + 48
    # sep_conv_3x3, C = 2, stride 2 on 4×4: ReLU 32, dw 2·2·2·9, pw 2·2·2·2, BN 16;
    # then on 2×2: ReLU 8, dw 72, pw 16, BN 16.
    sep = darts_op("sep_conv_3x3", 2, 2)
    assert count_flops(sep, (2, 4, 4)) == 32 + 72 + 16 + 16 + 8 + 72 + 16 + 16
    net = DARTSNetwork(V2, 4, 5, 10, in_channels=1).train()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    assert count_flops(net, (1, 8, 8)) > 0
    assert net.training
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())


# --- build_network ------------------------------------------------------------------------

def test_build_network_builds_darts_genotypes() -> None:
    assert skeleton_of("darts") == ("darts", None)
    arch = darts_architecture(V2)
    net = build_network(arch, "darts", 10)
    assert isinstance(net, DARTSNetwork)
    assert net.genotype == V2
    # DEFAULT_SIZES["darts"] = (16, 2): the DARTS search network's 8 cells of C = 16.
    assert len(net.cells) == 8 and net.cells[0].preprocess1[1].out_channels == 16
    small = build_network(arch, "darts", 7, channels=4, cells_per_stage=0, in_channels=1)
    assert len(small.cells) == 2 and all(cell.reduction for cell in small.cells)
    assert small(torch.randn(2, 1, 8, 8)).shape == (2, 7)
    with pytest.raises(InvalidArchitectureError):
        build_network(nb201_architecture("|nor_conv_3x3~0|+|none~0|skip_connect~1|+"
                                         "|nor_conv_3x3~0|none~1|skip_connect~2|"), "darts")
    with pytest.raises(ValueError, match="ops"):
        build_network(arch, "darts", ops={"sep_conv_3x3": lambda c: nn.Identity()})


@pytest.mark.skipif(DARTSSpace is None, reason="bo_nas.spaces has no DARTSSpace yet")
def test_build_network_takes_a_darts_space() -> None:
    assert DARTSSpace is not None
    space = DARTSSpace()
    assert skeleton_of(space) == ("darts", space)
    arch = space.sample(3)
    net = build_network(arch, space, 10, channels=4, cells_per_stage=1)
    assert net.genotype == space.genotype(arch)
    with pytest.raises(InvalidArchitectureError):
        build_network(nb201_architecture("|nor_conv_3x3~0|+|none~0|skip_connect~1|+"
                                         "|nor_conv_3x3~0|none~1|skip_connect~2|"), space)


def test_seeded_init_is_reproducible_whatever_the_global_rng(one_thread: None) -> None:
    arch = darts_architecture(V2)

    def build(seed: int, global_seed: int) -> nn.Module:
        torch.manual_seed(global_seed)  # module construction draws from it; init must not
        return build_network(arch, "darts", 10, channels=4, cells_per_stage=1,
                             generator=torch.Generator().manual_seed(seed))

    a, b, c = build(5, 0), build(5, 1), build(6, 0)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not all(torch.equal(p, q) for p, q in zip(a.parameters(), c.parameters()))
    x = torch.randn(2, 3, 8, 8)
    torch.testing.assert_close(a.eval()(x), b.eval()(x))
    state = torch.random.get_rng_state()
    init_parameters(a, torch.Generator().manual_seed(5))
    assert torch.equal(torch.random.get_rng_state(), state)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def _swapped_v2() -> DARTSGenotype:
    normal = list(V2.normal)
    normal[6], normal[7] = normal[7], normal[6]  # node 5's two edges
    # Reduction nodes 3 and 4 renumbered (node 4 does not read node 3; node 5 reads
    # neither), node 4's edges swapped too.
    r = list(V2.reduce)
    reduce = [*r[:2], r[5], r[4], *r[2:4], *r[6:]]
    return DARTSGenotype(normal=tuple(normal), reduce=tuple(reduce))


def test_equal_architectures_build_equal_networks(one_thread: None) -> None:
    other = _swapped_v2()
    assert other != V2
    a, b = darts_architecture(V2), darts_architecture(other)
    assert a.key == b.key
    assert other.canonical() == V2.canonical()
    with torch.device("meta"):
        na = build_network(a, "darts", 10, channels=36, cells_per_stage=6)
        nb = build_network(b, "darts", 10, channels=36, cells_per_stage=6)
    assert count_parameters(na) == count_parameters(nb) == 3_349_342
    small = [build_network(x, "darts", 10, channels=4, cells_per_stage=1) for x in (a, b)]
    assert count_flops(small[0], (3, 8, 8)) == count_flops(small[1], (3, 8, 8))


# --- drop path ------------------------------------------------------------------------------

def test_drop_path_is_seeded_and_only_in_training(one_thread: None) -> None:
    nets = [DARTSNetwork(V2, 4, 5, 10, drop_path_prob=0.5, drop_path_seed=s) for s in (1, 1, 2)]
    plain = DARTSNetwork(V2, 4, 5, 10)
    for n in [*nets[1:], plain]:
        n.load_state_dict(nets[0].state_dict())
    x = torch.randn(4, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    state = torch.random.get_rng_state()
    with torch.no_grad():
        # Evaluation first: a training-mode pass updates the BatchNorm statistics.
        torch.testing.assert_close(nets[0].eval()(x), plain.eval()(x))
        outs = [n.train()(x) for n in nets]
        ref = plain.train()(x)
    torch.testing.assert_close(outs[0], outs[1])
    assert not torch.allclose(outs[0], outs[2])
    assert not torch.allclose(outs[0], ref)
    assert torch.equal(torch.random.get_rng_state(), state)
    cell = DARTSCell(V2, 4, 4, 4, reduction=False, reduction_prev=False).train()
    with pytest.raises(ValueError, match="generator"):
        cell(torch.randn(2, 4, 4, 4), torch.randn(2, 4, 4, 4), drop_prob=0.2)
    with pytest.raises(ValueError, match="drop_path_prob"):
        DARTSNetwork(V2, 4, 5, 10, drop_path_prob=1.0)


# --- training and zero-cost scores ---------------------------------------------------------

def _normalised(data_x: torch.Tensor, mean: tuple[float, ...],
                std: tuple[float, ...]) -> torch.Tensor:
    shape = (1, -1, 1, 1)
    return (data_x.float() / 255 - torch.tensor(mean).view(shape)) / torch.tensor(std).view(shape)


def _batch_stat_accuracy(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    # BatchNorm on the batch's own statistics: after one short epoch the running
    # statistics lag the weights (the loop's own validation in eval mode is noisy then).
    net.train()
    with torch.no_grad():
        return float((net(x).argmax(1) == y).float().mean())


def test_one_epoch_on_digits_through_the_training_loop(one_thread: None) -> None:
    data = load_dataset("digits")
    net = build_network(darts_architecture(V2), "darts", data.num_classes, channels=8,
                        cells_per_stage=1, in_channels=1,
                        generator=torch.Generator().manual_seed(0))
    x, y = _normalised(data.val_x, data.mean, data.std), data.val_y
    before = _batch_stat_accuracy(net, x, y)
    result = train(net, data, TrainConfig(epochs=1, batch_size=64, device="cpu", seed=0,
                                          threads=1))
    assert [e.epoch for e in result.curve] == [1]
    assert np.isfinite(result.curve[0].train_loss)
    assert result.params == count_parameters(net)
    assert result.flops == count_flops(net, data.image_shape) > 0
    assert 0.0 <= result.val_accuracy <= 100.0
    after = _batch_stat_accuracy(net, x, y)
    assert before < 0.3 and after > 0.5  # chance is 0.1; about 0.8 after this epoch


def test_zero_cost_scores_of_darts_networks(one_thread: None) -> None:
    data = load_dataset("digits")
    a, b = darts_architecture(V2), darts_architecture(_swapped_v2())
    rows = []
    for arch in (a, b, darts_architecture(ALL_OPS)):
        # A fresh source each time: one source would serve b from a's cached row.
        src = NetworkScores.from_dataset("darts", data, batch_size=16,
                                         generator=torch.Generator().manual_seed(0),
                                         channels=4, cells_per_stage=0)
        rows.append(src.scores([arch])[0])
        assert src.builds == 1
    assert np.isfinite(np.stack(rows)).all()
    np.testing.assert_array_equal(rows[0], rows[1])  # equal keys, equal networks
    assert not np.array_equal(rows[0], rows[2])
