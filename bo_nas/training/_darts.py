r"""The DARTS network: a stack of normal and reduction cells of one genotype.

Layout, as in the DARTS paper's CIFAR evaluation network (``layers`` cells, ``C``
initial channels):

- stem: conv :math:`3\times3` (no bias) + BN to :math:`m C` channels
  (``stem_multiplier`` :math:`m = 3`);
- cells :math:`0 \ldots L-1`, :math:`L` = ``layers``; cells :math:`\lfloor L/3 \rfloor`
  and :math:`\lfloor 2L/3 \rfloor` are reduction cells (stride 2, width doubled), the
  others normal cells. With :math:`L = 3N + 2` that is three stages of :math:`N` normal
  cells with a reduction cell between consecutive stages (DARTS: :math:`N = 6`,
  :math:`L = 20`);
- cell :math:`k` reads the outputs :math:`c_{k-2}, c_{k-1}` of the two cells before it
  (both the stem's output for the first cell) and outputs the concatenation of its
  nodes 2…5, i.e. :math:`4 C_k` channels;
- global average pool → linear.

Cell :math:`k` of width :math:`C_k` first maps its inputs to :math:`C_k` channels
(*preprocessing*): :math:`c_{k-1}` by ReLU-Conv1×1-BN; :math:`c_{k-2}` by
`FactorizedReduce` when cell :math:`k-1` reduced (so it is at the right resolution),
else by ReLU-Conv1×1-BN. Node :math:`i \in 2..5` is
:math:`h_i = \mathrm{op}_a(h_{j_a}) + \mathrm{op}_b(h_{j_b})`; in a reduction cell the
ops reading :math:`h_0, h_1` run at stride 2.

An optional DARTS auxiliary classifier reads the output of the second reduction cell; its
parameters are all under ``auxiliary_head.`` (`AUXILIARY_PREFIX`) and exist only with
``auxiliary=True``. DARTS reports parameter counts without them.
"""

from __future__ import annotations

import torch
from torch import nn

from bo_nas.encodings._darts import DARTS_STEPS, DARTSGenotype

from ._darts_ops import FactorizedReduce, darts_op
from ._ops import ReLUConvBN

#: Name prefix of the auxiliary head's parameters (``auxiliary=True`` only).
AUXILIARY_PREFIX = "auxiliary_head."


def drop_path(x: torch.Tensor, prob: float, generator: torch.Generator) -> torch.Tensor:
    r"""Drop each example's whole tensor with probability :math:`p`, rescaled to keep the
    mean: :math:`y_b = x_b \, m_b / (1 - p)`, :math:`m_b \sim \mathrm{Bernoulli}(1 - p)`.

    The mask is drawn from ``generator`` only (on its device), never the global RNG.
    """
    keep = 1.0 - prob
    mask = torch.empty(x.shape[0], 1, 1, 1, device=generator.device)
    mask.bernoulli_(keep, generator=generator)
    return x * (mask.to(device=x.device, dtype=x.dtype) / keep)


class DARTSCell(nn.Module):
    """One DARTS cell of a genotype: normal or reduction.

    Args:
        genotype: The genotype; its ``reduce`` cell is used when ``reduction``, else its
            ``normal`` cell.
        c_prev_prev: Channels of :math:`c_{k-2}`.
        c_prev: Channels of :math:`c_{k-1}`.
        channels: The cell's width :math:`C_k` (its output has ``4 * channels``).
        reduction: Halve the resolution (ops on the two inputs at stride 2).
        reduction_prev: Whether the previous cell reduced (then :math:`c_{k-2}` is at
            twice this cell's input resolution).

    Shapes:
        ``s0``: `B x c_prev_prev x 2H x 2W` when ``reduction_prev`` else `B x c_prev_prev
        x H x W`; ``s1``: `B x c_prev x H x W` → `B x 4·channels x H' x W'`,
        :math:`H' = \\lceil H/2 \\rceil` in a reduction cell, else :math:`H`.
    """

    def __init__(
        self,
        genotype: DARTSGenotype,
        c_prev_prev: int,
        c_prev: int,
        channels: int,
        reduction: bool,
        reduction_prev: bool,
    ) -> None:
        super().__init__()
        self.reduction = reduction
        self.preprocess0: nn.Module = (
            FactorizedReduce(c_prev_prev, channels) if reduction_prev
            else ReLUConvBN(c_prev_prev, channels, 1)
        )
        self.preprocess1 = ReLUConvBN(c_prev, channels, 1)
        edges = genotype.reduce if reduction else genotype.normal
        concat = genotype.reduce_concat if reduction else genotype.normal_concat
        self.inputs: tuple[int, ...] = tuple(src for _, src in edges)
        self.concat: tuple[int, ...] = tuple(concat)
        self.ops = nn.ModuleList(
            darts_op(op, channels, 2 if reduction and src < 2 else 1) for op, src in edges
        )
        # As in DARTS, identity edges are never dropped: they hold no weights to
        # regularise.
        self._droppable = tuple(not isinstance(op, nn.Identity) for op in self.ops)
        self.multiplier = len(self.concat)

    def forward(
        self,
        s0: torch.Tensor,
        s1: torch.Tensor,
        drop_prob: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """The cell's output; with ``drop_prob > 0`` (training mode only) each non-identity
        edge is dropped per example by `drop_path`, drawn from ``generator``.

        Raises:
            ValueError: for ``drop_prob > 0`` without a generator.
        """
        dropping = drop_prob > 0.0 and self.training
        if dropping and generator is None:
            raise ValueError("drop_prob > 0 needs a generator (the global RNG is not used)")
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for step in range(DARTS_STEPS):
            total: torch.Tensor | None = None
            for k in (2 * step, 2 * step + 1):
                h = self.ops[k](states[self.inputs[k]])
                if dropping and self._droppable[k]:
                    assert generator is not None
                    h = drop_path(h, drop_prob, generator)
                total = h if total is None else total + h
            assert total is not None
            states.append(total)
        return torch.cat([states[i] for i in self.concat], dim=1)


class AuxiliaryHead(nn.Module):
    r"""DARTS' auxiliary CIFAR classifier, for an `B x C x 8 x 8` feature map.

    ReLU → AvgPool 5×5 stride 3 (→ 2×2) → Conv1×1 to 128 → BN → ReLU → Conv2×2 to 768
    (→ 1×1) → BN → ReLU → linear. Parameters:
    :math:`128 C + 256 + 4 \cdot 128 \cdot 768 + 1536 + 768 K + K` for :math:`K` classes.
    """

    def __init__(self, channels: int, num_classes: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.AvgPool2d(5, stride=3, padding=0, count_include_pad=False),
            nn.Conv2d(channels, 128, 1, bias=False),
            nn.BatchNorm2d(128),
            nn.ReLU(inplace=False),
            nn.Conv2d(128, 768, 2, bias=False),
            nn.BatchNorm2d(768),
            nn.ReLU(inplace=False),
        )
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


def _check_int(name: str, value: object, low: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ValueError(f"{name}: expected an integer >= {low}, got {value!r}")
    return value


class DARTSNetwork(nn.Module):
    """The DARTS evaluation network of a genotype (see the module docstring).

    Args:
        genotype: A `DARTSGenotype` or its ``Genotype(...)`` text.
        channels: ``C``, the width of the first stage's cells (DARTS: 36).
        layers: Number of cells :math:`L` (DARTS: 20); reductions at cells
            :math:`\\lfloor L/3 \\rfloor` and :math:`\\lfloor 2L/3 \\rfloor`.
        num_classes: Outputs of the linear classifier.
        in_channels: Image channels.
        auxiliary: Add DARTS' auxiliary head (`forward_with_auxiliary`); `forward`
            never runs it. It expects 8×8 features there, i.e. 32×32 images.
        stem_multiplier: The stem has ``stem_multiplier * channels`` channels.
        drop_path_prob: Probability of dropping a non-identity edge per example during
            training (0: off). DARTS raises it linearly over the epochs; set the
            attribute between epochs to do so.
        drop_path_seed: Seeds the drop-path masks (one generator per device, created on
            first use); the global RNG is never used.

    Shapes:
        `B x in_channels x H x W` → `B x num_classes`; each reduction cell maps a side
        :math:`s` to :math:`\\lceil s/2 \\rceil`.

    Raises:
        ValueError: for a bad size or probability.
        InvalidArchitectureError: for a malformed genotype text.
    """

    def __init__(
        self,
        genotype: DARTSGenotype | str,
        channels: int,
        layers: int,
        num_classes: int,
        in_channels: int = 3,
        auxiliary: bool = False,
        stem_multiplier: int = 3,
        drop_path_prob: float = 0.0,
        drop_path_seed: int = 0,
    ) -> None:
        super().__init__()
        if isinstance(genotype, str):
            genotype = DARTSGenotype.from_string(genotype)
        if not isinstance(genotype, DARTSGenotype):
            raise ValueError(f"genotype: expected a DARTSGenotype or its text, got "
                             f"{type(genotype).__name__}")
        c = _check_int("channels", channels, 1)
        _check_int("layers", layers, 1)
        _check_int("num_classes", num_classes, 1)
        _check_int("in_channels", in_channels, 1)
        _check_int("stem_multiplier", stem_multiplier, 1)
        _check_int("drop_path_seed", drop_path_seed, 0)
        self.genotype = genotype
        self.layers = layers
        self.auxiliary = bool(auxiliary)
        self.drop_path_prob = drop_path_prob
        self.drop_path_seed = drop_path_seed
        self._check_drop_prob()
        self._generators: dict[torch.device, torch.Generator] = {}
        self.reduction_layers: tuple[int, ...] = tuple(sorted({layers // 3, 2 * layers // 3}))
        # Where DARTS attaches its auxiliary head: after the second reduction cell.
        self.auxiliary_layer = 2 * layers // 3

        c_stem = stem_multiplier * c
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, c_stem, 3, padding=1, bias=False), nn.BatchNorm2d(c_stem)
        )
        c_prev_prev, c_prev, c_cell = c_stem, c_stem, c
        reduction_prev = False
        c_auxiliary = c_prev
        cells: list[DARTSCell] = []
        for i in range(layers):
            reduction = i in self.reduction_layers
            if reduction:
                c_cell *= 2
            cell = DARTSCell(genotype, c_prev_prev, c_prev, c_cell, reduction, reduction_prev)
            cells.append(cell)
            reduction_prev = reduction
            c_prev_prev, c_prev = c_prev, cell.multiplier * c_cell
            if i == self.auxiliary_layer:
                c_auxiliary = c_prev
        self.cells = nn.ModuleList(cells)
        if self.auxiliary:
            self.auxiliary_head = AuxiliaryHead(c_auxiliary, num_classes)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_prev, num_classes)

    def _check_drop_prob(self) -> None:
        p = self.drop_path_prob
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p < 1.0:
            raise ValueError(f"drop_path_prob: expected a number in [0, 1), got {p!r}")

    def _generator(self, device: torch.device) -> torch.Generator:
        gen = self._generators.get(device)
        if gen is None:
            gen = torch.Generator(device=device).manual_seed(self.drop_path_seed)
            self._generators[device] = gen
        return gen

    def _features(
        self, x: torch.Tensor, with_auxiliary: bool
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The last cell's output, and the auxiliary logits when asked for."""
        self._check_drop_prob()
        p = float(self.drop_path_prob) if self.training else 0.0
        gen = self._generator(x.device) if p > 0.0 else None
        aux: torch.Tensor | None = None
        s0 = s1 = self.stem(x)
        for i, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1, p, gen)
            if with_auxiliary and i == self.auxiliary_layer:
                aux = self.auxiliary_head(s1)
        return s1, aux

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits (the auxiliary head, if any, is not run)."""
        out, _ = self._features(x, with_auxiliary=False)
        return self.classifier(torch.flatten(self.pool(out), 1))

    def forward_with_auxiliary(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(logits, auxiliary logits)``, for DARTS' loss
        :math:`\\mathcal L + w \\mathcal L_{aux}` (DARTS: :math:`w = 0.4`).

        Raises:
            ValueError: when the network was built without ``auxiliary=True``.
        """
        if not self.auxiliary:
            raise ValueError("this DARTSNetwork has no auxiliary head (auxiliary=False)")
        out, aux = self._features(x, with_auxiliary=True)
        assert aux is not None
        return self.classifier(torch.flatten(self.pool(out), 1)), aux
