r"""Quality k-DPPs: exact sampling and greedy MAP over a finite candidate set.

A determinantal point process with positive semi-definite kernel :math:`L` (`N x N`)
conditioned on cardinality :math:`k` gives each :math:`k`-subset :math:`S` the probability

.. math::

    P(S) = \frac{\det L_S}{\sum_{|T| = k} \det L_T} = \frac{\det L_S}{e_k(\lambda_1, \dots,
    \lambda_N)},

where :math:`e_k` is the :math:`k`-th elementary symmetric polynomial of the eigenvalues of
:math:`L`. For batch Bayesian optimisation the kernel is the *quality-diversity*
decomposition :math:`L = \operatorname{diag}(q)\,\Sigma\,\operatorname{diag}(q)`, with
:math:`\Sigma` the full GP posterior covariance over the candidates (the off-diagonal is
what makes batches diverse) and :math:`q_i > 0` a monotone transform of the posterior
(quality), so that :math:`\det L_S = (\prod_{i \in S} q_i^2) \det \Sigma_S`.

Everything here is numpy on plain arrays; randomness comes only from the
``numpy.random.Generator`` passed in.

Degenerate cases have defined results, never an exception:

* fewer than ``k`` candidates: all of them are returned (in index order);
* numerical rank of :math:`L` below ``k`` (eigenvalues under ``rtol * max``): a
  :math:`r`-DPP is sampled (``r`` the rank) or greedy stops at ``r`` items, and the rest
  of the batch is filled by decreasing quality (``quality`` if given, else
  :math:`L_{ii}`), skipping items already chosen;
* ``k = 0``: an empty selection.

References:
    A. Kulesza and B. Taskar, "Determinantal point processes for machine learning",
    Foundations and Trends in ML, 2012 (Algorithm 1: sampling from a DPP given its
    eigendecomposition; Algorithm 7/8: elementary symmetric polynomials and the
    eigenvector selection of a k-DPP).
    L. Chen, G. Zhang and H. Zhou, "Fast greedy MAP inference for determinantal point
    process to improve recommendation diversity", NeurIPS 2018.
    A. Çivril and M. Magdon-Ismail, "On selecting a maximum volume sub-matrix of a matrix
    and related problems", Theoretical Computer Science 410, 2009 (greedy is within a
    factor :math:`1/k!` of the maximum volume, i.e. :math:`(1/k!)^2` of the maximum
    determinant).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np

logger = logging.getLogger(__name__)

#: Eigenvalues below ``rtol * max eigenvalue`` count as zero.
DEFAULT_RTOL = 1e-10


def quality_kernel(
    cov: np.ndarray, log_quality: np.ndarray, *, jitter: float = 1e-8
) -> np.ndarray:
    r"""The quality-diversity kernel :math:`L = \operatorname{diag}(q)\,(\Sigma + \epsilon I)
    \operatorname{diag}(q)`.

    Qualities are passed as logarithms and shifted so that :math:`\max_i q_i = 1`: a k-DPP
    is invariant to scaling :math:`L` by a constant (every :math:`\det L_S` gains
    :math:`c^k`), and the shift keeps :math:`\exp(\alpha \cdot \mathrm{UCB})` from
    overflowing. The covariance is symmetrised and gets a relative jitter
    :math:`\epsilon = \text{jitter} \cdot \overline{\Sigma_{ii}}` so that a near-singular
    posterior stays positive semi-definite in floating point.

    Args:
        cov: `N x N` posterior covariance :math:`\Sigma` (full, not its diagonal).
        log_quality: `N` values :math:`\log q_i` (``-inf`` allowed: that item gets
            quality 0 and is never picked unless nothing else is left).
        jitter: Relative diagonal jitter.

    Returns:
        `N x N` symmetric positive semi-definite :math:`L`.
    """
    cov = np.asarray(cov, dtype=np.float64)
    logq = np.asarray(log_quality, dtype=np.float64)
    n = logq.shape[0]
    if cov.shape != (n, n):
        raise ValueError(f"cov: expected shape {(n, n)}, got {cov.shape}")
    if np.isnan(logq).any() or np.isposinf(logq).any():
        raise ValueError("log_quality: expected finite values or -inf, got NaN or +inf")
    if n == 0:
        return np.zeros((0, 0))
    cov = 0.5 * (cov + cov.T)
    scale = float(np.mean(np.clip(np.diag(cov), 0.0, None)))
    if scale > 0.0:
        cov = cov + jitter * scale * np.eye(n)
    finite = np.isfinite(logq)
    q = np.zeros(n)
    if finite.any():
        q[finite] = np.exp(logq[finite] - logq[finite].max())
    return q[:, None] * cov * q[None, :]


def log_elementary_symmetric(eigenvalues: np.ndarray, k: int) -> np.ndarray:
    r"""Logarithms of the elementary symmetric polynomials of all prefixes.

    ``E[l, n]`` :math:`= \log e_l(\lambda_1, \dots, \lambda_n)` for :math:`0 \le l \le k`,
    :math:`0 \le n \le N`, by the recurrence (Kulesza & Taskar, Alg. 7)

    .. math::

        e_l^n = e_l^{n-1} + \lambda_n\, e_{l-1}^{n-1},\qquad e_0^n = 1,\quad
        e_l^0 = 0 \ (l > 0),

    carried out with ``logaddexp`` so that products of many large or small eigenvalues
    neither overflow nor underflow. Zero eigenvalues give ``-inf`` terms.

    Args:
        eigenvalues: `N` non-negative values.
        k: Largest degree.

    Returns:
        `(k + 1) x (N + 1)` array.
    """
    lam = np.asarray(eigenvalues, dtype=np.float64)
    if (lam < 0).any():
        raise ValueError("eigenvalues: expected non-negative values")
    n = lam.shape[0]
    E = np.full((k + 1, n + 1), -np.inf)
    E[0, :] = 0.0
    with np.errstate(divide="ignore"):
        log_lam = np.log(lam)
    for j in range(1, n + 1):
        # Row l at column j uses row l-1 at column j-1: vectorise over l.
        E[1:, j] = np.logaddexp(E[1:, j - 1], log_lam[j - 1] + E[:-1, j - 1])
    return E


@dataclass(frozen=True)
class KDPP:
    r"""A k-DPP's kernel in eigen-form, for repeated exact sampling and MAP.

    Build with `KDPP.from_kernel`; the eigendecomposition (:math:`O(N^3)`) is done
    once, each `sample` then costs :math:`O(N k^2)` plus :math:`O(N k)` for the
    eigenvector selection.

    Attributes:
        L: `N x N` kernel.
        eigenvalues: `N` eigenvalues, clipped (values below ``rtol * max`` set to 0).
        eigenvectors: `N x N` orthonormal eigenvectors (columns).
        rank: Number of non-zero eigenvalues after clipping.
        quality: `N` scores used to fill a batch beyond the rank (higher first).
    """

    L: np.ndarray
    eigenvalues: np.ndarray
    eigenvectors: np.ndarray
    rank: int
    quality: np.ndarray
    _esp: dict[int, tuple[list, list]] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_kernel(
        cls, L: np.ndarray, *, quality: np.ndarray | None = None, rtol: float = DEFAULT_RTOL
    ) -> KDPP:
        """Eigendecompose ``L`` (symmetrised) and clip tiny or negative eigenvalues.

        Args:
            L: `N x N` symmetric positive semi-definite kernel.
            quality: `N` fill-in scores for batches larger than the rank; defaults
                to the diagonal of ``L``.
            rtol: Eigenvalues below ``rtol * max eigenvalue`` count as zero.
        """
        L = np.asarray(L, dtype=np.float64)
        if L.ndim != 2 or L.shape[0] != L.shape[1]:
            raise ValueError(f"L: expected a square matrix, got shape {L.shape}")
        if not np.isfinite(L).all():
            raise ValueError("L: expected finite entries")
        n = L.shape[0]
        q = np.diag(L).copy() if quality is None else np.asarray(quality, dtype=np.float64)
        if q.shape != (n,):
            raise ValueError(f"quality: expected shape {(n,)}, got {q.shape}")
        L = 0.5 * (L + L.T)
        if n == 0:
            return cls(L, np.zeros(0), np.zeros((0, 0)), 0, q)
        lam, vec = np.linalg.eigh(L)
        top = max(float(lam.max()), 0.0)
        lam = np.where(lam > rtol * top, lam, 0.0) if top > 0 else np.zeros(n)
        return cls(L, lam, vec, int((lam > 0).sum()), q)

    @property
    def n(self) -> int:
        """Number of items."""
        return self.L.shape[0]

    def sample(self, k: int, rng: np.random.Generator) -> np.ndarray:
        r"""One exact draw of a k-subset with :math:`P(S) \propto \det L_S`.

        Phase 1 picks :math:`k` eigenvectors, eigenvector :math:`n` (from :math:`N` down)
        with probability :math:`\lambda_n e_{l-1}^{n-1} / e_l^n` where :math:`l` is the
        number still to pick (Kulesza & Taskar, Alg. 8); phase 2 draws items from the
        elementary DPP they span (Alg. 1): item :math:`i` with probability
        :math:`\frac{1}{|V|}\sum_{v \in V} v_i^2`, then restricts :math:`V` to the
        subspace orthogonal to :math:`e_i`.

        Args:
            k: Subset size (``k >= rank`` and ``k >= N`` handled as documented in the
                module).
            rng: Source of randomness.

        Returns:
            `min(k, N)` distinct indices (sampled ones in draw order, then fill-ins).
        """
        k = _check_k(k)
        if k >= self.n:
            return np.arange(self.n)
        r = min(k, self.rank)
        chosen = self._sample_exact(r, rng) if r > 0 else np.zeros(0, dtype=np.int64)
        return self._fill(chosen, k)

    def _sample_exact(self, k: int, rng: np.random.Generator) -> np.ndarray:
        tables = self._esp.get(k)
        if tables is None:  # cached: repeated draws reuse the O(N k) table
            with np.errstate(divide="ignore"):
                log_lam = np.log(self.eigenvalues)
            # Python lists: phase 1 is a scalar loop, where numpy scalars are slow.
            tables = self._esp[k] = (
                log_elementary_symmetric(self.eigenvalues, k).tolist(),
                log_lam.tolist(),
            )
        E, log_lam = tables
        picked: list[int] = []
        remaining = k
        log_u = np.log(rng.random(self.n)).tolist()
        for m in range(self.n, 0, -1):
            if remaining == 0:
                break
            if remaining >= m:  # all of the rest must be picked; avoid rounding misses
                picked.extend(range(m - 1, -1, -1))
                break
            # log P(select eigenvector m | `remaining` still to pick among 1..m)
            log_p = log_lam[m - 1] + E[remaining - 1][m - 1] - E[remaining][m]
            if log_u[m - 1] < log_p:
                picked.append(m - 1)
                remaining -= 1
        n = self.n
        V = self.eigenvectors[:, picked]
        u_items = rng.random(k)
        out: list[int] = []
        for t in range(k):
            p = np.einsum("ij,ij->i", V, V)
            p[out] = 0.0  # exactly zero in theory; clear rounding residue
            cdf = np.cumsum(np.maximum(p, 0.0))
            i = min(int(cdf.searchsorted(u_items[t] * cdf[-1], side="right")), n - 1)
            out.append(i)
            m = V.shape[1]
            if m == 1:
                break
            # Restrict span(V) to {v : v_i = 0}. A Householder reflection H maps the row
            # r = V[i] onto the last axis, so V H keeps orthonormal columns and only its
            # last column is non-zero at i: drop it. No re-orthonormalisation needed.
            r = V[i] / math.sqrt(V[i] @ V[i])
            h = r.copy()
            h[-1] += 1.0 if r[-1] >= 0 else -1.0
            V = V[:, :-1] - np.outer(V @ h, h[:-1] * (2.0 / (h @ h)))
        return np.asarray(out, dtype=np.int64)

    def greedy_map(self, k: int, *, rtol: float = DEFAULT_RTOL) -> np.ndarray:
        r"""Approximate :math:`\arg\max_{|S| = k} \det L_S` by greedy selection.

        Adds, one at a time, the item with the largest marginal gain
        :math:`\det L_{S \cup i} / \det L_S = d_i^2`, kept up to date by an incremental
        Cholesky factor (Chen et al. 2018): with :math:`j` the last pick,
        :math:`e_i = (L_{ji} - \langle c_j, c_i\rangle)/d_j`, :math:`c_i \leftarrow
        [c_i, e_i]`, :math:`d_i^2 \leftarrow d_i^2 - e_i^2`. Cost :math:`O(N k^2)`.

        Greedy is exact for ``k = 1`` and for diagonal ``L``; in general
        :math:`\det L_{S_g} \ge \det L_{S^*} / (k!)^2` (Çivril & Magdon-Ismail 2009).
        Deterministic: ties go to the lowest index. When the best gain falls below
        ``rtol * max_i L_ii`` (numerical rank reached) the rest is filled by quality.

        Returns:
            `min(k, N)` distinct indices, in pick order.
        """
        k = _check_k(k)
        n = self.n
        if k >= n:
            return np.arange(n)
        L = self.L
        d2 = np.diag(L).astype(np.float64).copy()
        floor = rtol * max(float(d2.max()), 0.0) if n else 0.0
        C = np.zeros((k, n))
        picked: list[int] = []
        taken = np.zeros(n, dtype=bool)
        for t in range(k):
            gains = np.where(taken, -np.inf, d2)
            j = int(np.argmax(gains))
            if not gains[j] > floor:
                break
            picked.append(j)
            taken[j] = True
            if t == k - 1:
                break
            e = (L[j] - C[:t, j] @ C[:t]) / np.sqrt(d2[j])
            C[t] = e
            d2 = d2 - e * e
        return self._fill(np.asarray(picked, dtype=np.int64), k)

    def _fill(self, chosen: np.ndarray, k: int) -> np.ndarray:
        """Append the highest-quality unchosen items until ``k`` are chosen."""
        if len(chosen) >= k:
            return chosen
        logger.debug("k-DPP: rank %d below k=%d, filling by quality", len(chosen), k)
        order = np.argsort(-self.quality, kind="stable")
        mask = np.isin(order, chosen)
        extra = order[~mask][: k - len(chosen)]
        return np.concatenate([chosen, extra]).astype(np.int64)


def sample_kdpp(
    L: np.ndarray,
    k: int,
    rng: np.random.Generator,
    *,
    quality: np.ndarray | None = None,
    rtol: float = DEFAULT_RTOL,
) -> np.ndarray:
    """One exact k-DPP sample; see `KDPP.sample` (build a `KDPP` to draw many)."""
    return KDPP.from_kernel(L, quality=quality, rtol=rtol).sample(k, rng)


def greedy_map_kdpp(
    L: np.ndarray, k: int, *, quality: np.ndarray | None = None, rtol: float = DEFAULT_RTOL
) -> np.ndarray:
    """Greedy MAP k-subset; see `KDPP.greedy_map`. Needs no eigendecomposition."""
    L = np.asarray(L, dtype=np.float64)
    if L.ndim != 2 or L.shape[0] != L.shape[1]:
        raise ValueError(f"L: expected a square matrix, got shape {L.shape}")
    n = L.shape[0]
    q = np.diag(L).copy() if quality is None else np.asarray(quality, dtype=np.float64)
    if q.shape != (n,):
        raise ValueError(f"quality: expected shape {(n,)}, got {q.shape}")
    # The eigen-fields are unused by greedy_map; skip the O(N^3) decomposition.
    kd = KDPP(0.5 * (L + L.T), np.zeros(n), np.zeros((n, 0)), 0, q)
    return kd.greedy_map(k, rtol=rtol)


def log_det_subset(L: np.ndarray, subset: np.ndarray) -> float:
    r""":math:`\log\det L_S` (``-inf`` when singular)."""
    idx = np.asarray(subset, dtype=np.int64)
    if idx.size == 0:
        return 0.0
    sign, logdet = np.linalg.slogdet(np.asarray(L)[np.ix_(idx, idx)])
    return float(logdet) if sign > 0 else -np.inf


def _check_k(k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
        raise ValueError(f"k: expected a non-negative integer, got {k!r}")
    return int(k)
