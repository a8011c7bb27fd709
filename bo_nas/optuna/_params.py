r"""A search space written as fixed categorical parameters, the form Optuna samples.

Optuna describes a trial by named parameters, each drawn from a fixed distribution. A
space can be used from Optuna when every cell is one assignment of a fixed set of
categorical decisions:

- `NB201Space`: one decision per edge, named ``edge_<i><-<j>`` (the edge from node
  ``j`` into node ``i``, 0 ≤ j < i ≤ 3, in the official string's order: ``edge_1<-0``,
  ``edge_2<-0``, ``edge_2<-1``, ``edge_3<-0``, ``edge_3<-1``, ``edge_3<-2``), over the
  five ops of ``NB201_OPS`` in that order (``none`` first).
- `CellSpace` (and `NB101Space`): with ``n`` nodes, ``edge_<j><-<i>`` for every
  0 ≤ i < j ≤ n - 1, choices ``(0, 1)`` (1: the adjacency matrix has the edge
  i → j), and ``node_<k>`` for 1 ≤ k ≤ n - 2, over the space's ops in their order.
  Not every assignment is a cell of the space (the edge budget, an output reachable
  from the input); `SpaceParameters.decode` rejects those.
- `SubsetSpace` and `ConstrainedSpace` of these: the parameters of the base space, and
  an assignment must also be a member (meet the constraints).

This module needs no Optuna: it maps between architectures and plain ``{name: value}``
dictionaries.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from bo_nas.encodings import NB201_OPS, Architecture, BoNasError, InvalidArchitectureError
from bo_nas.encodings._architecture import INPUT, OUTPUT
from bo_nas.encodings._nb101 import graph_matrix
from bo_nas.encodings._nb201 import NB201_EDGES, nb201_architecture, nb201_ops_of
from bo_nas.spaces import CellSpace, ConstrainedSpace, NB201Space, SearchSpace, SubsetSpace

Value = str | int


class UnsupportedSpaceError(BoNasError, ValueError):
    """A search space whose cells are not assignments of fixed categorical parameters."""


class SpaceParameters:
    """The categorical parameters of a search space, and the conversions both ways.

    Decoded architectures are cached by assignment: a sampler rebuilds the history of a
    study from its trials' parameters before every proposal, and building (and hashing)
    a cell costs far more than a dictionary look-up.

    Args:
        space: The search space (`NB201Space`, `CellSpace`, or a `SubsetSpace` or
            `ConstrainedSpace` of one of them).

    Raises:
        UnsupportedSpaceError: for any other space, naming the supported ones.

    Example:
        >>> from bo_nas.spaces import NB201Space
        >>> params = SpaceParameters(NB201Space())
        >>> params.names[:2]
        ('edge_1<-0', 'edge_2<-0')
        >>> arch = params.decode(dict.fromkeys(params.names, "nor_conv_3x3"))
        >>> params.encode(arch)["edge_3<-2"]
        'nor_conv_3x3'
    """

    def __init__(self, space: SearchSpace) -> None:
        if not isinstance(space, SearchSpace):
            raise UnsupportedSpaceError(
                f"space: expected a bo_nas SearchSpace, got {type(space).__name__}"
            )
        self.space = space
        base = space.base if isinstance(space, (SubsetSpace, ConstrainedSpace)) else space
        if isinstance(base, NB201Space):
            self.choices: dict[str, tuple[Value, ...]] = {
                f"edge_{i}<-{j}": NB201_OPS for i, j in NB201_EDGES
            }
            self._encode: Callable[[Architecture], tuple[Value, ...]] = nb201_ops_of
            self._build: Callable[[tuple[Value, ...]], Architecture] = nb201_architecture
        elif isinstance(base, CellSpace):
            self.choices, self._encode, self._build = _cell_parameters(base)
        else:
            raise UnsupportedSpaceError(
                f"space {space!r}: its cells are not one fixed set of categorical "
                "decisions; Optuna parameters are supported for NB201Space, CellSpace "
                "(NB101Space included), and SubsetSpace or ConstrainedSpace of them"
            )
        # A wrapped space adds its own membership test to the base space's checks.
        self._check = space.validate if base is not space else None
        self.names: tuple[str, ...] = tuple(self.choices)
        self._cache: dict[tuple[Value, ...], Architecture | str] = {}

    def encode(self, arch: Architecture) -> dict[str, Value]:
        """The assignment of a cell of the space.

        Raises:
            InvalidArchitectureError: when ``arch`` is not a cell of the space.
        """
        values = self._encode(self.space.validate(arch))
        return dict(zip(self.names, values, strict=True))

    def decode(self, params: Mapping[str, Any]) -> Architecture:
        """The cell of an assignment; other names in ``params`` are ignored.

        Raises:
            InvalidArchitectureError: naming the missing parameter, the value outside
                its choices, or why the assignment is not a cell of the space.
        """
        values = []
        for name in self.names:
            if name not in params:
                raise InvalidArchitectureError(
                    f"parameter {name!r} is missing (a cell of {self.space!r} needs "
                    f"{', '.join(self.names)})"
                )
            value = params[name]
            if not _among(value, self.choices[name]):
                raise InvalidArchitectureError(
                    f"parameter {name!r}: {value!r} is not one of {self.choices[name]}"
                )
            values.append(value)
        key = tuple(values)
        hit = self._cache.get(key)
        if hit is None:
            try:
                arch = self._build(key)
                if self._check is not None:
                    self._check(arch)
                hit = arch
            except InvalidArchitectureError as exc:
                hit = str(exc)
            self._cache[key] = hit
        if isinstance(hit, str):
            raise InvalidArchitectureError(f"parameters {dict(zip(self.names, key))}: {hit}")
        return hit

    def try_decode(self, params: Mapping[str, Any]) -> Architecture | None:
        """`decode`, or ``None`` where it would raise."""
        try:
            return self.decode(params)
        except InvalidArchitectureError:
            return None

    def indices(self, params: Mapping[str, Value]) -> list[int]:
        """Each parameter's value as its index among the choices (a compact record)."""
        return [self.choices[n].index(params[n]) for n in self.names]

    def from_indices(self, indices: object) -> dict[str, Value] | None:
        """Inverse of `indices`; ``None`` for anything that is not such a record."""
        if not isinstance(indices, list) or len(indices) != len(self.names):
            return None
        out: dict[str, Value] = {}
        for name, i in zip(self.names, indices):
            options = self.choices[name]
            if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < len(options):
                return None
            out[name] = options[i]
        return out


def _among(value: object, choices: tuple[Value, ...]) -> bool:
    # ``True == 1`` in Python, but no choice is a bool: a flag is not an edge bit.
    return not isinstance(value, bool) and value in choices


def _cell_parameters(
    space: CellSpace,
) -> tuple[
    dict[str, tuple[Value, ...]],
    Callable[[Architecture], tuple[Value, ...]],
    Callable[[tuple[Value, ...]], Architecture],
]:
    """Choices, encoder and builder of a cell space's matrix-and-ops parameters."""
    n = space.n_nodes
    pairs = [(i, j) for j in range(1, n) for i in range(j)]
    choices: dict[str, tuple[Value, ...]] = {f"edge_{j}<-{i}": (0, 1) for i, j in pairs}
    choices.update({f"node_{k}": tuple(space.ops) for k in range(1, n - 1)})

    def encode(arch: Architecture) -> tuple[Value, ...]:
        m, ops = graph_matrix(arch)
        size = m.shape[0]
        if size < n:
            # A cell written with fewer nodes: the missing ones are dead (no edges) and
            # sit just before the output, so the pruned graph, hence the key, is kept.
            full = np.zeros((n, n), dtype=int)
            full[: size - 1, : size - 1] = m[: size - 1, : size - 1]
            full[: size - 1, n - 1] = m[: size - 1, size - 1]
            m = full
            ops = (*ops[:-1], *[space.ops[0]] * (n - size), ops[-1])
        edges = tuple(int(m[i, j]) for i, j in pairs)
        return edges + tuple(ops[1:-1])

    def build(values: tuple[Value, ...]) -> Architecture:
        m = np.zeros((n, n), dtype=int)
        for (i, j), bit in zip(pairs, values[: len(pairs)]):
            m[i, j] = int(bit)
        return space.from_matrix(m, [INPUT, *values[len(pairs):], OUTPUT])

    return choices, encode, build


_PARAMETERS: weakref.WeakKeyDictionary[SearchSpace, SpaceParameters] = (
    weakref.WeakKeyDictionary()
)


def space_parameters(space: SearchSpace) -> SpaceParameters:
    """The `SpaceParameters` of ``space``, one per space object (its cache shared).

    Raises:
        UnsupportedSpaceError: as `SpaceParameters` does.
    """
    if not isinstance(space, SearchSpace):
        return SpaceParameters(space)  # raises, naming what was given
    params = _PARAMETERS.get(space)
    if params is None:
        params = _PARAMETERS[space] = SpaceParameters(space)
    return params
