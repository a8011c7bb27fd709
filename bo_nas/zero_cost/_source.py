"""Where zero-cost scores come from: the protocol every score source follows."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np

from bo_nas.encodings import Architecture


class ScoreSource(ABC):
    """Zero-cost scores of architectures: numbers known before any training.

    A source has named scores (``names``); `scores` returns one row per architecture and
    one column per name, larger meaning "predicted better" (a source negates a score
    whose raw form is smaller-is-better), NaN where a score is unknown for that
    architecture. ``fingerprint`` identifies what the numbers depend on (the table file,
    or the minibatch and network settings), so cached or stored scores are never mixed
    across sources.
    """

    #: Score names, the columns of `scores`.
    names: tuple[str, ...]
    #: Whether scoring costs next to nothing (a table lookup) rather than building and
    #: running each network: a search then scores every candidate it considers.
    free: bool = False

    @property
    @abstractmethod
    def fingerprint(self) -> str:
        """A short string that changes whenever the scores could."""

    @abstractmethod
    def scores(self, archs: Sequence[Architecture]) -> np.ndarray:
        """``len(archs) x len(names)`` float array, larger = predicted better."""
