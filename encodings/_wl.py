r"""Weisfeiler–Lehman subtree features of labelled cells (NAS-BOWL's graph features).

Iteration 0 labels every node of the pruned cell with its op. Iteration
:math:`i \ge 1` relabels node :math:`v` by its previous label and the sorted multiset
of its neighbours' previous labels,

.. math::

    \ell_i(v) = \operatorname{hash}\big(\ell_{i-1}(v),\
        \operatorname{sort}\{\ell_{i-1}(u) : u \in N(v)\}\big),

where :math:`N(v)` are the predecessors (``direction="in"``, data flowing into
:math:`v`), the successors (``"out"``) or both. The feature vector after :math:`h`
iterations counts every label of iterations :math:`0..h`; its inner product is the WL
subtree kernel

.. math::

    k_h(G, G') = \sum_{i=0}^{h} \sum_{\sigma} c_i(G, \sigma)\, c_i(G', \sigma).

Labels are content hashes (BLAKE2b of the signature), so one graph's labels never
depend on which other graphs were seen; the *dictionary* (which labels get a column) is
built across a set of graphs by `WLFeaturizer.fit`.

Reference: Ru, Wan, Dong, Osborne. Interpretable neural architecture search via
Bayesian optimisation with Weisfeiler–Lehman kernels. ICLR 2021. Shervashidze et al.
Weisfeiler–Lehman graph kernels. JMLR 2011.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Literal

import numpy as np

from ._architecture import Architecture

Direction = Literal["in", "out", "both"]


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def wl_label_counts(
    arch: Architecture, h: int, direction: Direction = "in"
) -> list[Counter[str]]:
    """Label histograms of iterations ``0..h`` of the pruned cell.

    Returns:
        ``h + 1`` counters; counter i maps an iteration-i label to its number of nodes.
        Iteration-0 labels are the op names themselves; later ones are hashes prefixed
        by the iteration (``"2:…"``), so labels of different iterations never collide.
    """
    if not isinstance(h, int) or h < 0:
        raise ValueError(f"h: expected an integer >= 0, got {h!r}")
    if direction not in ("in", "out", "both"):
        raise ValueError(f"direction: expected 'in', 'out' or 'both', got {direction!r}")
    g = arch.pruned
    labels = {v: str(g.nodes[v]["op"]) for v in g}
    out = [Counter(labels.values())]
    for i in range(1, h + 1):
        new = {}
        for v in g:
            if direction == "in":
                nbrs = [labels[u] for u in g.predecessors(v)]
            elif direction == "out":
                nbrs = [labels[u] for u in g.successors(v)]
            else:
                # Tag the side so a predecessor and a successor with one label differ.
                nbrs = [">" + labels[u] for u in g.predecessors(v)]
                nbrs += ["<" + labels[u] for u in g.successors(v)]
            new[v] = f"{i}:" + _digest(labels[v] + "(" + ",".join(sorted(nbrs)) + ")")
        labels = new
        out.append(Counter(labels.values()))
    return out


class WLFeaturizer:
    r"""WL subtree count features with a dictionary built across graphs.

    Args:
        h: WL iterations; features hold the label counts of iterations ``0..h``.
        direction: Neighbourhood used to refine labels (see the module docstring).
        max_cache: Graphs whose label counts are memoised (by canonical key); the memo
            is emptied when it grows past this.

    Shapes:
        `transform` returns `n x d` (float64) with `d = len(vocabulary)`; labels never
        seen by `fit` are dropped.

    Example:
        >>> wl = WLFeaturizer(h=1)
        >>> X = wl.fit_transform(archs)             # doctest: +SKIP
        >>> K = X @ X.T                            # the WL subtree kernel  # doctest: +SKIP
    """

    def __init__(self, h: int = 1, direction: Direction = "in", max_cache: int = 20_000) -> None:
        if not isinstance(h, int) or h < 0:
            raise ValueError(f"h: expected an integer >= 0, got {h!r}")
        if direction not in ("in", "out", "both"):
            raise ValueError(f"direction: expected 'in', 'out' or 'both', got {direction!r}")
        self.h = h
        self.direction: Direction = direction
        self.max_cache = max_cache
        self.vocabulary: dict[str, int] = {}
        self._cache: dict[str, Counter[str]] = {}

    def counts(self, arch: Architecture) -> Counter[str]:
        """All labels of iterations ``0..h`` with their counts (cached by arch key)."""
        c = self._cache.get(arch.key)
        if c is None:
            c = Counter()
            for layer in wl_label_counts(arch, self.h, self.direction):
                c.update(layer)
            if len(self._cache) >= self.max_cache:
                self._cache.clear()
            self._cache[arch.key] = c
        return c

    def fit(self, archs: Iterable[Architecture]) -> WLFeaturizer:
        """Build the dictionary: every label of ``archs``, columns in sorted label order."""
        labels: set[str] = set()
        for a in archs:
            labels.update(self.counts(a))
        self.vocabulary = {lab: j for j, lab in enumerate(sorted(labels))}
        return self

    def transform(self, archs: Sequence[Architecture]) -> np.ndarray:
        """Count matrix over the dictionary, shape `n x d`."""
        X = np.zeros((len(archs), len(self.vocabulary)))
        for r, a in enumerate(archs):
            for lab, c in self.counts(a).items():
                j = self.vocabulary.get(lab)
                if j is not None:
                    X[r, j] = c
        return X

    def fit_transform(self, archs: Sequence[Architecture]) -> np.ndarray:
        return self.fit(archs).transform(archs)

    def __repr__(self) -> str:
        return f"WLFeaturizer(h={self.h}, direction={self.direction!r})"
