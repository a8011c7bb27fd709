"""The search-space protocol shared by every space."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from bo_nas._random import RandomLike, as_generator
from bo_nas.encodings import Architecture, InvalidArchitectureError, OpTree, TWEncoder


class SearchSpace(ABC):
    """A set of cells with the moves a search needs.

    Subclasses implement `sample`, `neighbours`, `validate`, `encoder` and `to_config`;
    `mutate`, `sample_many` and `contains` are built on them. Randomness always comes
    from an explicit generator or seed argument.
    """

    #: Short name used in configs and stores (``"nb201"``, ``"nb101"``, ``"cell"``).
    name: str
    #: Op labels a cell may use (input/output excluded).
    ops: tuple[str, ...]
    #: The op tree that defines TW's ground metric on `ops`.
    op_tree: OpTree

    @abstractmethod
    def sample(self, rng: RandomLike = None) -> Architecture:
        """One architecture drawn from the space's sampling distribution."""

    @abstractmethod
    def neighbours(self, arch: Architecture) -> list[Architecture]:
        """All distinct architectures one move away (one op change or one edge flip)."""

    @abstractmethod
    def validate(self, arch: Architecture) -> Architecture:
        """Return ``arch`` if it belongs to the space, else raise `InvalidArchitectureError`."""

    @abstractmethod
    def encoder(self, positions: bool | None = None, ngrams: bool = False) -> TWEncoder:
        """TW feature map for this space.

        Args:
            positions: Position-aware features (ops per fixed slot) instead of the op
                histogram; ``None`` picks the space's default.
            ngrams: Add the op 2-gram block (histogram variant only).
        """

    @abstractmethod
    def to_config(self) -> dict[str, Any]:
        """JSON-compatible description; `bo_nas.spaces.space_from_config` inverts it."""

    def mutate(self, arch: Architecture, rng: RandomLike = None, steps: int = 1) -> Architecture:
        """A random architecture ``steps`` moves away (each move to a uniform neighbour)."""
        gen = as_generator(rng)
        current = arch
        for _ in range(steps):
            step = self._step(current, gen)
            if step is None:
                return current
            current = step
        return current

    def _moves(self, arch: Architecture) -> list[Architecture]:
        """Where one `mutate` step may go: the neighbours."""
        return self.neighbours(arch)

    def _step(
        self,
        arch: Architecture,
        rng: np.random.Generator,
        moves: Callable[[Architecture], list[Architecture]] | None = None,
    ) -> Architecture | None:
        """One mutation step: a uniform draw from ``moves(arch)`` (`_moves` by default),
        ``None`` where there is nowhere to go. Spaces whose neighbour lists are costly to
        build draw one move directly instead."""
        options = (moves or self._moves)(arch)
        if not options:
            return None
        return options[int(rng.integers(len(options)))]

    def sample_many(
        self, n: int, rng: RandomLike = None, exclude: Iterable[Architecture] = ()
    ) -> list[Architecture]:
        """Up to ``n`` distinct samples, none in ``exclude``."""
        gen = as_generator(rng)
        seen = {a.key for a in exclude}
        out: list[Architecture] = []
        tries = 0
        while len(out) < n and tries < 20 * n + 100:
            tries += 1
            a = self.sample(gen)
            if a.key not in seen:
                seen.add(a.key)
                out.append(a)
        return out

    def contains(self, arch: Architecture) -> bool:
        try:
            self.validate(arch)
        except InvalidArchitectureError:
            return False
        return True

    def disconnected(self, arch: Architecture) -> bool:
        """Whether no path of computing ops joins the cell's input to its output: the
        network's prediction then cannot depend on its input (it trains to chance), and
        a search has nothing to learn by evaluating it. ``False`` in spaces whose cells
        always connect them (NB-101, DARTS, `CellSpace`)."""
        return False

    def enumerate(self) -> Iterator[Architecture]:
        """Every architecture of the space, when it is small enough to list."""
        raise NotImplementedError(f"{type(self).__name__} is too large to enumerate")

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
