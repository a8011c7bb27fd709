r"""Cells: executing an `Architecture` DAG as a PyTorch module.

Two merge rules exist:

- **Sum** (NAS-Bench-201 and a user's `CellSpace`): node :math:`v` computes
  :math:`x_v = \mathrm{op}_v\big(\sum_{u \to v} x_u\big)` in topological order, the
  input node holds the cell input and the output node is
  :math:`\sum_{u \to \text{out}} x_u`. An op node without predecessors reads zeros; an
  output without predecessors is zero (a disconnected cell is a constant network).
- **Concatenate** (NAS-Bench-101), see `NB101Cell`.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import networkx as nx
import numpy as np
import torch
from torch import nn

from bo_nas.encodings import INPUT, OUTPUT

from ._ops import ConvBNReLU, OpFactory


def _topological(graph: nx.DiGraph) -> list[Hashable]:
    # Ties broken by insertion order, so two equal graphs give the same module names.
    position = {v: i for i, v in enumerate(graph.nodes)}
    return list(nx.lexicographical_topological_sort(graph, key=position.__getitem__))


def _sum(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    out = tensors[0]
    for t in tensors[1:]:
        out = out + t
    return out


class CellPlan:
    """The execution order of a sum-at-merges cell, computed once per graph.

    Attributes:
        ops: ``(name, op label)`` of every op node, in topological order.
        steps: ``(name, predecessor names)`` of every op node, in topological order.
        live: Names of the op nodes whose result reaches the output.
        input: Name of the input node.
        output_preds: Names of the nodes summed into the output.
        names: Module name (``"n<i>"``, i the topological position) of every node.
    """

    def __init__(self, graph: nx.DiGraph) -> None:
        order = _topological(graph)
        label = {v: graph.nodes[v]["op"] for v in order}
        source = next(v for v in order if label[v] == INPUT)
        sink = next(v for v in order if label[v] == OUTPUT)
        names = {v: f"n{i}" for i, v in enumerate(order)}
        inner = [v for v in order if v not in (source, sink)]
        self.ops = tuple((names[v], label[v]) for v in inner)
        self.steps = tuple((names[v], tuple(names[u] for u in graph.predecessors(v)))
                           for v in inner)
        needed = nx.ancestors(graph, sink)
        self.live = frozenset(names[v] for v in inner if v in needed)
        self.input = names[source]
        self.output_preds = tuple(names[u] for u in graph.predecessors(sink))
        self.names = names


class DagCell(nn.Module):
    r"""A cell that sums at merges: :math:`x_v = \mathrm{op}_v(\sum_{u \to v} x_u)`.

    Every op node of the graph gets a module, so parameter counts include ops whose
    result never reaches the output (NAS-Bench-201's networks hold them too). The
    forward pass skips those dead-end nodes, which cannot change the output; set
    ``execute_all = True`` to run them anyway (the FLOPs counter does, because the
    benchmark's counter charges them).

    Args:
        plan: `CellPlan` of the graph (or the graph itself): a node-labelled DAG with
            one ``input`` and one ``output`` node.
        channels: Channels of every tensor in the cell.
        factories: Module factory of every op label in the graph.

    Shapes:
        `batch x channels x H x W` in and out.
    """

    def __init__(
        self, plan: CellPlan | nx.DiGraph, channels: int, factories: Mapping[str, OpFactory]
    ) -> None:
        super().__init__()
        if not isinstance(plan, CellPlan):
            plan = CellPlan(plan)
        self.ops = nn.ModuleDict({name: factories[op](channels) for name, op in plan.ops})
        self._all_steps = plan.steps
        self._live_steps = tuple(s for s in plan.steps if s[0] in plan.live)
        self._input = plan.input
        self._output_preds = plan.output_preds
        self.execute_all = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        values: dict[str, torch.Tensor] = {self._input: x}
        for name, preds in self._all_steps if self.execute_all else self._live_steps:
            inp = _sum([values[u] for u in preds]) if preds else torch.zeros_like(x)
            values[name] = self.ops[name](inp)
        if not self._output_preds:
            return torch.zeros_like(x)
        return _sum([values[u] for u in self._output_preds])


def nb101_vertex_channels(in_channels: int, out_channels: int, matrix: np.ndarray) -> list[int]:
    r"""Channels of each vertex of a NAS-Bench-101 cell (its own rule, reproduced).

    The output concatenates the vertices that feed it, so ``out_channels`` is split
    evenly among them (the first ``out_channels mod k`` get one more); a vertex that
    only feeds other vertices takes the largest width among its successors. A vertex
    reading a wider one keeps that tensor's first channels.

    Args:
        matrix: `n x n` 0/1 upper-triangular adjacency of the pruned cell.
    """
    n = matrix.shape[0]
    channels = [0] * n
    channels[0], channels[n - 1] = in_channels, out_channels
    if n == 2:
        return channels
    fan_in = int(matrix[1:, n - 1].sum())
    width, extra = divmod(out_channels, fan_in)
    for v in range(1, n - 1):
        if matrix[v, n - 1]:
            channels[v] = width + (1 if extra > 0 else 0)
            extra -= 1 if extra > 0 else 0
    for v in range(n - 2, 0, -1):
        if not matrix[v, n - 1]:
            for w in range(v + 1, n - 1):
                if matrix[v, w]:
                    channels[v] = max(channels[v], channels[w])
    return channels


class NB101Cell(nn.Module):
    r"""A NAS-Bench-101 cell: vertices sum their inputs, the output concatenates.

    Vertex :math:`t` computes
    :math:`x_t = \mathrm{op}_t\big(\sum_{s \to t, s > 0} x_s[:c_t] + [0 \to t]\,P_t(x_0)\big)`
    with :math:`P_t` a 1×1 conv-BN-ReLU projection of the cell input to :math:`c_t`
    channels. The output is :math:`\mathrm{concat}_{t \to \text{out}}(x_t)`, plus
    :math:`P_\text{out}(x_0)` when the input feeds the output directly (or alone).

    Args:
        matrix: `n x n` adjacency of the pruned cell (input first, output last).
        ops: The ``n`` labels (``input``, op names, ``output``).
        in_channels, out_channels: Channels of the cell's input and output.
        factories: Module factory of each op label.
    """

    def __init__(
        self,
        matrix: np.ndarray,
        ops: Sequence[str],
        in_channels: int,
        out_channels: int,
        factories: Mapping[str, OpFactory],
    ) -> None:
        super().__init__()
        n = matrix.shape[0]
        if n == 2 and not matrix[0, 1]:
            raise ValueError("NB-101 cell has no path from input to output")
        self.matrix = matrix.astype(bool)
        self.channels = nb101_vertex_channels(in_channels, out_channels, matrix)
        self.ops = nn.ModuleList(
            [nn.Identity()] + [factories[ops[t]](self.channels[t]) for t in range(1, n - 1)]
        )
        self.projections = nn.ModuleDict(
            {
                str(t): ConvBNReLU(in_channels, self.channels[t], 1)
                for t in range(1, n)
                if matrix[0, t] or (t == n - 1 and n == 2)
            }
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = self.matrix.shape[0]
        values = [x]
        concat: list[torch.Tensor] = []
        for t in range(1, n - 1):
            inputs = [values[s][:, : self.channels[t]] for s in range(1, t) if self.matrix[s, t]]
            if self.matrix[0, t]:
                inputs.append(self.projections[str(t)](x))
            values.append(self.ops[t](_sum(inputs)))
            if self.matrix[t, n - 1]:
                concat.append(values[t])
        if not concat:
            return self.projections[str(n - 1)](x)
        out = torch.cat(concat, dim=1) if len(concat) > 1 else concat[0]
        if self.matrix[0, n - 1]:
            out = out + self.projections[str(n - 1)](x)
        return out
