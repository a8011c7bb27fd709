"""Networks built from architectures: cells, skeletons, parameter and FLOP counts."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
import torch
from torch import nn

from bo_nas.encodings import (
    NB201_EDGES,
    Architecture,
    InvalidArchitectureError,
    decode_nb101_key,
    nb101_architecture,
    nb201_architecture,
)
from bo_nas.spaces import CellSpace, NB101Space, NB201Space
from bo_nas.training import (
    NB201_OP_FACTORIES,
    CellPlan,
    DagCell,
    build_network,
    count_flops,
    count_parameters,
    init_parameters,
    nb101_vertex_channels,
)

DATA = os.environ.get("BO_NAS_DATA_DIR", "").strip()
needs_data = pytest.mark.skipif(not DATA, reason="BO_NAS_DATA_DIR is not set")

RESNET = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|nor_conv_3x3~2|"


@pytest.fixture
def one_thread():
    saved = torch.get_num_threads()
    torch.set_num_threads(1)  # small convs are slower with more threads on a shared CI box
    yield
    torch.set_num_threads(saved)


def _nb201_reference(ops: tuple[str, ...], cell: DagCell, plan: CellPlan,
                     x: torch.Tensor) -> torch.Tensor:
    """NB-201's own cell rule, written on edges: node i = Σ_j op_(i←j)(node j)."""
    nodes = [x]
    for i in (1, 2, 3):
        total = torch.zeros_like(x)
        for k, (tgt, src) in enumerate(NB201_EDGES, start=1):
            if tgt == i and ops[k - 1] != "none":
                total = total + cell.ops[plan.names[k]](nodes[src])
        nodes.append(total)
    return nodes[3]


@pytest.mark.parametrize("string", [
    RESNET,
    "|nor_conv_1x1~0|+|avg_pool_3x3~0|skip_connect~1|+|none~0|nor_conv_3x3~1|avg_pool_3x3~2|",
    "|skip_connect~0|+|none~0|none~1|+|none~0|nor_conv_1x1~1|none~2|",
    "|none~0|+|nor_conv_3x3~0|none~1|+|none~0|none~1|nor_conv_3x3~2|",
    "|none~0|+|none~0|nor_conv_3x3~1|+|none~0|none~1|none~2|",  # conv on a zero input
])
def test_dag_cell_computes_the_nb201_cell(string: str) -> None:
    arch = nb201_architecture(string)
    ops = tuple(arch.graph.nodes[k]["op"] for k in range(1, 7))
    plan = CellPlan(arch.graph)
    gen = torch.Generator().manual_seed(0)
    cell = init_parameters(DagCell(plan, 4, NB201_OP_FACTORIES), gen).eval()
    x = torch.randn(2, 4, 6, 6, generator=gen)
    with torch.no_grad():
        expected = _nb201_reference(ops, cell, plan, x)
        torch.testing.assert_close(cell(x), expected)
        cell.execute_all = True  # running dead ends changes nothing
        torch.testing.assert_close(cell(x), expected)


@needs_data
def test_nb201_params_and_flops_match_the_benchmark_table(one_thread: None) -> None:
    """Params equal the table's to 1e-4 M and FLOPs are within 1 % on 80 cells.

    FLOPs agree to 0.001078 M (a constant the table adds), i.e. well under 0.02 %.
    """
    path = Path(DATA) / "nb201" / "nb201_zc_proxies_cifar10.csv"
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    pick = np.random.default_rng(0).choice(len(rows), 80, replace=False)
    for i in pick:
        row = rows[i]
        net = build_network(nb201_architecture(row["net_str"]), "nb201", 10)
        params = count_parameters(net) / 1e6
        flops = count_flops(net, (3, 32, 32)) / 1e6
        assert abs(params - float(row["params"])) < 1e-4, row["net_str"]
        assert abs(flops / float(row["flops"]) - 1) < 0.01, row["net_str"]
        assert abs(flops - float(row["flops"])) < 2e-3, row["net_str"]


@needs_data
def test_nb101_params_match_the_benchmark_sample() -> None:
    path = Path(DATA) / "nb101" / "nb101_500_cifar10.json"
    table = json.loads(path.read_text())["nasbench101"]["cifar10"]
    for key, entry in list(table.items())[:40]:
        matrix, ops = decode_nb101_key(json.loads(key.replace("(", "[").replace(")", "]")))
        with torch.device("meta"):  # shapes only: counting parameters needs no values
            net = build_network(nb101_architecture(matrix, ops), "nb101", 10)
        assert count_parameters(net) / 1e6 == pytest.approx(entry["params"], abs=1e-6)


def test_nb101_vertex_channels_split_the_output() -> None:
    # input → 1, 2, 3 → output, 1 → 4 → output: output concatenates 2, 3 and 4.
    m = np.zeros((6, 6), dtype=int)
    m[0, 1] = m[0, 2] = m[0, 3] = 1
    m[1, 4] = 1
    m[2, 5] = m[3, 5] = m[4, 5] = 1
    # 128 = 43 + 43 + 42, the extra channels to the first vertices; vertex 1 feeds only
    # vertex 4 and takes its width.
    assert nb101_vertex_channels(64, 128, m) == [64, 42, 43, 43, 42, 128]


def test_nb101_network_runs_on_digit_sized_images() -> None:
    arch = NB101Space().sample(3)
    net = build_network(arch, "nb101", 10, channels=8, cells_per_stage=1, in_channels=1)
    assert net(torch.randn(2, 1, 8, 8)).shape == (2, 10)


def test_generic_cell_space_uses_named_ops_and_custom_factories() -> None:
    space = CellSpace(["conv3x3", "maxpool", "skip", "widen"], n_nodes=5, max_edges=7)
    g = nx.DiGraph()
    g.add_nodes_from([(0, {"op": "input"}), (1, {"op": "conv3x3"}), (2, {"op": "widen"}),
                      (3, {"op": "maxpool"}), (4, {"op": "output"})])
    g.add_edges_from([(0, 1), (0, 2), (1, 3), (2, 3), (3, 4), (0, 4)])
    arch = Architecture(g)
    with pytest.raises(ValueError, match="widen"):
        build_network(arch, space, 10, channels=4, cells_per_stage=1)
    calls: list[int] = []

    def widen(c: int) -> nn.Module:
        calls.append(c)
        return nn.Conv2d(c, c, 1)

    net = build_network(arch, space, 10, channels=4, cells_per_stage=1, ops={"widen": widen})
    assert calls == [4, 8, 16]  # one per stage, at the stage's width
    assert net(torch.randn(3, 3, 16, 16)).shape == (3, 10)


def test_build_network_rejects_a_cell_of_another_space() -> None:
    arch = NB101Space().sample(0)
    with pytest.raises(InvalidArchitectureError):
        build_network(arch, "nb201", 10)
    with pytest.raises(ValueError, match="space"):
        build_network(arch, "resnet", 10)


def test_init_parameters_is_seeded_and_leaves_the_global_rng_alone() -> None:
    arch = NB201Space().sample(1)
    state = torch.random.get_rng_state()
    a = build_network(arch, channels=4, cells_per_stage=1,
                      generator=torch.Generator().manual_seed(5))
    b = build_network(arch, channels=4, cells_per_stage=1,
                      generator=torch.Generator().manual_seed(5))
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)
    torch.random.set_rng_state(state)
    c = build_network(arch, channels=4, cells_per_stage=1,
                      generator=torch.Generator().manual_seed(6))
    assert not all(torch.equal(p, q) for p, q in zip(a.parameters(), c.parameters()))


def test_disconnected_nb201_cell_is_a_constant_network() -> None:
    arch = nb201_architecture("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    net = build_network(arch, channels=4, cells_per_stage=1,
                        generator=torch.Generator().manual_seed(0)).eval()
    x = torch.randn(4, 3, 8, 8)
    out = net(x)
    torch.testing.assert_close(out, out[:1].expand_as(out))
