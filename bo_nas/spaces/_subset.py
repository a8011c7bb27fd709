"""A search space restricted to a fixed set of cells (a benchmark table that is a sample).

A tabular benchmark that holds only some cells of its space (the 500-entry NB-101 file)
can answer nothing else: a search on the full space would spend its budget on cells the
table lacks. `SubsetSpace` wraps the full space and yields only the table's cells, so
every strategy, unchanged, searches what the table holds.

`distinct_networks` counts the distinct networks (canonical keys) of a space, which
bounds any campaign's budget.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from bo_nas._random import RandomLike, as_generator
from bo_nas.encodings import Architecture, InvalidArchitectureError, TWEncoder

from ._base import SearchSpace
from ._cell import NB101Space
from ._nb201 import NB201Space

#: Distinct networks (canonical keys) of the built-in spaces: NB-201's 15,625 cells are
#: 8,765 networks once cells equal up to dead edges are merged; NB-101 has 423,624.
NB201_DISTINCT = 8_765
NB101_DISTINCT = 423_624


class SubsetSpace(SearchSpace):
    """The cells ``members`` of the space ``base``, and nothing else.

    `sample` draws a member uniformly, `neighbours` are the base space's neighbours that
    are members, `enumerate` lists the members, and `mutate` moves to a random member
    when no member is one move away (in a sparse sample most cells have no member
    neighbour). Encoders, the op tree and conversions (``to_string``, ``from_matrix``)
    are the base space's.

    Args:
        base: The full space.
        members: Its cells to keep; repeats of a network (same `Architecture.key`) are
            kept once, the first one.
        label: What the subset is, for messages and configs (e.g. ``"nb101 sample"``).

    Raises:
        ValueError: for no members, or a member that is not a cell of ``base``.

    Example:
        >>> base = NB201Space()
        >>> small = SubsetSpace(base, base.sample_many(10, rng=0))
        >>> small.contains(small.sample(0))
        True
    """

    name = "subset"

    def __init__(
        self, base: SearchSpace, members: Iterable[Architecture], label: str | None = None
    ) -> None:
        if not isinstance(base, SearchSpace) or isinstance(base, SubsetSpace):
            raise ValueError(f"base: expected a (full) SearchSpace, got {type(base).__name__}")
        cells: dict[str, Architecture] = {}
        for arch in members:
            if not isinstance(arch, Architecture):
                raise ValueError(f"members: expected Architectures, got {type(arch).__name__}")
            try:
                base.validate(arch)
            except InvalidArchitectureError as exc:
                raise ValueError(f"members: {arch!r} is not a cell of {base!r} ({exc})") from None
            cells.setdefault(arch.key, arch)
        if not cells:
            raise ValueError("members: a subset space needs at least one cell")
        self.base = base
        self.label = label or f"{base.name} subset"
        self.ops = base.ops
        self.op_tree = base.op_tree
        self._cells = cells
        self._list = tuple(cells.values())

    @property
    def members(self) -> tuple[Architecture, ...]:
        """The cells, in the order given."""
        return self._list

    @property
    def n_distinct(self) -> int:
        """Distinct networks: the members."""
        return len(self._list)

    def __len__(self) -> int:
        return len(self._list)

    def __getattr__(self, name: str) -> Any:
        # Conversions of the base space (to_string, from_matrix, ...). Looked up in
        # __dict__ so that unpickling (no attributes yet) does not recurse.
        base = self.__dict__.get("base")
        if base is None or name.startswith("__"):
            raise AttributeError(name)
        return getattr(base, name)

    def _member(self, arch: Architecture) -> Architecture | None:
        return self._cells.get(arch.key)

    def sample(self, rng: RandomLike = None) -> Architecture:
        gen = as_generator(rng)
        return self._list[int(gen.integers(len(self._list)))]

    def sample_many(
        self, n: int, rng: RandomLike = None, exclude: Iterable[Architecture] = ()
    ) -> list[Architecture]:
        """Up to ``n`` distinct members not in ``exclude`` (fewer only when the subset is
        used up)."""
        gen = as_generator(rng)
        seen = {a.key for a in exclude}
        left = [a for a in self._list if a.key not in seen]
        if n >= len(left):
            order = gen.permutation(len(left))
        else:
            order = gen.choice(len(left), size=n, replace=False)
        return [left[int(i)] for i in order]

    def neighbours(self, arch: Architecture) -> list[Architecture]:
        # Memoised per member: a search asks for the same few cells' neighbours at every
        # step, and building the base space's neighbours (NB-101: ~30 graphs, each
        # pruned and hashed) costs far more than a tabular evaluation.
        # A member's neighbours are those of its stored form, so they depend on its key
        # alone, however the caller wrote the cell.
        cache = self.__dict__.setdefault("_neighbour_lists", {})
        member = self._cells.get(arch.key)
        if member is not None:
            hit = cache.get(arch.key)
            if hit is not None:
                return list(hit)
            arch = member
        out: list[Architecture] = []
        seen = {arch.key}
        for b in self.base.neighbours(arch):
            m = self._member(b)
            if m is not None and m.key not in seen:
                seen.add(m.key)
                out.append(m)
        if member is not None:
            cache[arch.key] = tuple(out)
        return out

    def _moves(self, arch: Architecture) -> list[Architecture]:
        # A member without neighbours in the subset may move to any other member.
        return self.neighbours(arch) or [a for a in self._list if a.key != arch.key]

    def validate(self, arch: Architecture) -> Architecture:
        self.base.validate(arch)
        if arch.key not in self._cells:
            raise InvalidArchitectureError(f"{arch!r} is not one of the cells of {self.label}")
        return arch

    def disconnected(self, arch: Architecture) -> bool:
        return self.base.disconnected(arch)

    def enumerate(self) -> Iterator[Architecture]:
        return iter(self._list)

    def encoder(self, positions: bool | None = None, ngrams: bool = False) -> TWEncoder:
        return self.base.encoder(positions, ngrams)

    def to_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "base": self.base.to_config(),
            "members": [a.to_dict() for a in self._list],
        }

    @classmethod
    def from_config(cls, config: Mapping[str, Any], base: SearchSpace) -> SubsetSpace:
        """Rebuild from `to_config` output, given the base space it names."""
        members = config.get("members")
        if not isinstance(members, list):
            raise ValueError("space config: a subset needs its 'members' list")
        try:
            archs = [Architecture.from_dict(m) for m in members]
        except InvalidArchitectureError as exc:
            raise ValueError(f"space config: a malformed member ({exc})") from None
        return cls(base, archs, config.get("label"))

    def __repr__(self) -> str:
        return f"SubsetSpace({self.base!r}, <{len(self._list)} cells>, label={self.label!r})"


def distinct_networks(space: SearchSpace) -> int | None:
    """How many distinct networks (canonical keys) ``space`` holds; ``None`` if unknown.

    NB-201: 8,765 (of 15,625 cells); NB-101: 423,624; a `SubsetSpace`: its members; a
    space of your own: its ``n_distinct`` attribute when it has one.
    """
    n = getattr(space, "n_distinct", None)
    if isinstance(n, int) and not isinstance(n, bool) and n > 0:
        return n
    if isinstance(space, NB201Space):
        return NB201_DISTINCT
    if isinstance(space, NB101Space):
        return NB101_DISTINCT
    return None
