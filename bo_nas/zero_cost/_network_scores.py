r"""Zero-cost scores that bo-nas computes itself, on its own untrained networks.

`NetworkScores` builds each architecture's network in its space's skeleton
(`bo_nas.training.build_network`), initialises it from a generator derived from the
seed and the architecture's canonical key, and computes the measures of
`bo_nas.zero_cost._measures` on one fixed minibatch. Scores are cached in memory and,
optionally, in a small SQLite file, so a resumed campaign does not recompute them.

Example:
    >>> import torch
    >>> from bo_nas.spaces import NB201Space
    >>> from bo_nas.training import load_digits_dataset
    >>> src = NetworkScores.from_dataset("nb201", load_digits_dataset(), batch_size=16,
    ...                                  generator=torch.Generator().manual_seed(0),
    ...                                  channels=4, cells_per_stage=1)
    >>> src.scores([NB201Space().sample(0)]).shape
    (1, 4)
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import networkx as nx
import numpy as np
import torch
from torch import nn

from bo_nas.encodings import Architecture, nb201_architecture, nb201_canonical_ops
from bo_nas.encodings._nb201 import nb201_ops_of
from bo_nas.training import DEFAULT_SIZES, build_network, skeleton_of

from . import _measures
from ._source import ScoreSource

if TYPE_CHECKING:
    from bo_nas.spaces import SearchSpace
    from bo_nas.training import ImageDataset, OpFactory

logger = logging.getLogger(__name__)

#: Scores computed by default, in column order.
NETWORK_SCORES: tuple[str, ...] = ("nwot", "synflow", "jacov", "grad_kernel")

#: Bumped whenever a measure's definition changes, so stored scores are not reused.
_MEASURES_VERSION = "1"

#: Smallest image side the skeletons accept (two stride-2 reductions).
_MIN_SIDE = 4


@dataclass(frozen=True)
class _Batch:
    images: torch.Tensor
    labels: torch.Tensor | None
    shape: tuple[int, int, int]


def _nwot(model: nn.Module, batch: _Batch) -> float:
    return _measures.naswot(model, batch.images)


def _synflow(model: nn.Module, batch: _Batch) -> float:
    return _measures.synflow(model, batch.shape)


def _jacov(model: nn.Module, batch: _Batch) -> float:
    return _measures.jacov(model, batch.images)


def _grad_kernel(model: nn.Module, batch: _Batch) -> float:
    assert batch.labels is not None  # checked at construction
    return _measures.grad_kernel(model, batch.images, batch.labels)


_MEASURES: dict[str, Callable[[nn.Module, _Batch], float]] = {
    "nwot": _nwot,
    "synflow": _synflow,
    "jacov": _jacov,
    "grad_kernel": _grad_kernel,
}
_NEEDS_LABELS = frozenset({"grad_kernel"})
_NEEDS_TWO = frozenset({"nwot", "jacov"})


def draw_minibatch(
    dataset: ImageDataset,
    batch_size: int = 64,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""A random minibatch of the training split, normalised as for training.

    Args:
        dataset: Its ``train_x`` (`N x C x H x W` uint8) and ``train_y``.
        batch_size: Images drawn without replacement, ``1 <= batch_size <= N``.
        generator: Draws the indices; ``torch.Generator().manual_seed(0)`` when omitted
            (never the global generator).

    Returns:
        ``images`` (`batch_size x C x H x W` float32, :math:`(x/255 - \mu)/\sigma` per
        channel) and ``labels`` (`batch_size` int64).
    """
    n = len(dataset.train_x)
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or not 1 <= batch_size <= n:
        raise ValueError(f"batch_size: expected an integer in [1, {n}], got {batch_size!r}")
    gen = torch.Generator().manual_seed(0) if generator is None else generator
    idx = torch.randperm(n, generator=gen, device=gen.device)[:batch_size].cpu()
    x = dataset.train_x[idx].to(torch.float32) / 255.0
    shape = (1, -1, 1, 1)
    mean = torch.tensor(dataset.mean, dtype=torch.float32).view(shape)
    std = torch.tensor(dataset.std, dtype=torch.float32).view(shape)
    return (x - mean) / std, dataset.train_y[idx].to(torch.int64)


def _check_names(names: Iterable[str]) -> tuple[str, ...]:
    if isinstance(names, str):
        names = (names,)
    out = tuple(names)
    if not out:
        raise ValueError(f"names: expected at least one of {tuple(_MEASURES)}, got none")
    unknown = [n for n in out if n not in _MEASURES]
    if unknown:
        raise ValueError(f"names: unknown score(s) {unknown}; known scores are {tuple(_MEASURES)}")
    if len(set(out)) != len(out):
        raise ValueError(f"names: each score may appear once, got {out}")
    return out


def _check_int(name: str, value: object, low: int) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
        raise ValueError(f"{name}: expected an integer >= {low}, got {value!r}")
    return int(value)


def _check_images(images: object, names: tuple[str, ...],
                  in_channels: int | None) -> torch.Tensor:
    if not isinstance(images, torch.Tensor):
        raise ValueError(f"images: expected a torch.Tensor, got {type(images).__name__}")
    if images.ndim != 4:
        raise ValueError(f"images: expected an N x C x H x W tensor, got shape "
                         f"{tuple(images.shape)}")
    if len(images) == 0:
        raise ValueError("images: the minibatch is empty")
    need_two = sorted(_NEEDS_TWO.intersection(names))
    if need_two and len(images) < 2:
        raise ValueError(f"images: {need_two} need at least 2 images, got 1")
    if not images.is_floating_point():
        raise ValueError(f"images: expected floating-point (normalised) images, got "
                         f"{images.dtype}; draw_minibatch converts a dataset's uint8 images")
    c, h, w = (int(s) for s in images.shape[1:])
    if min(h, w) < _MIN_SIDE:
        raise ValueError(f"images: expected H, W >= {_MIN_SIDE} (the skeletons halve them "
                         f"twice), got {h} x {w}")
    if in_channels is not None and c != in_channels:
        raise ValueError(f"images: in_channels={in_channels} but the images have {c} "
                         f"channels (shape {tuple(images.shape)})")
    if not bool(torch.isfinite(images).all()):
        raise ValueError("images: contain NaN or infinite values")
    return images.detach().to(torch.float32).contiguous()


def _check_labels(labels: object, n: int, num_classes: int) -> torch.Tensor:
    if not isinstance(labels, torch.Tensor) or labels.shape != (n,):
        got = tuple(labels.shape) if isinstance(labels, torch.Tensor) else type(labels).__name__
        raise ValueError(f"labels: expected a tensor of shape ({n},) (one per image), got {got}")
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise ValueError(f"labels: expected integer class labels, got {labels.dtype}")
    if int(labels.min()) < 0 or int(labels.max()) >= num_classes:
        raise ValueError(f"labels: expected values in [0, {num_classes}), got "
                         f"[{int(labels.min())}, {int(labels.max())}]")
    return labels.detach().to(torch.int64).contiguous()


def _canonical(arch: Architecture, skeleton: str) -> Architecture:
    """The representative of ``arch``'s key: equal keys ⇒ the same network and weights."""
    if skeleton == "nb201":
        return nb201_architecture(nb201_canonical_ops(nb201_ops_of(arch)))
    pruned = arch.pruned
    g = nx.DiGraph()
    index = {v: i for i, v in enumerate(arch.canonical_order)}
    for v in arch.canonical_order:
        g.add_node(index[v], op=pruned.nodes[v]["op"])
    g.add_edges_from(sorted((index[u], index[v]) for u, v in pruned.edges))
    return Architecture(g, allow_disconnected=True)


def _arch_seed(seed: int, key: str) -> int:
    digest = hashlib.blake2b(f"{seed}:{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & (2**63 - 1)


class NetworkScores(ScoreSource):
    r"""Zero-cost scores of bo-nas's own untrained networks on one fixed minibatch.

    For each architecture: the network of its canonical representative (so equal
    architectures, whatever their dead branches or node names, get the same network) is
    built in the space's skeleton, initialised by `bo_nas.training.init_parameters` from
    a generator seeded by ``(seed, arch.key)`` (a row never depends on the other
    architectures of a call), moved to ``device``, and scored:

    - ``"nwot"``: `naswot`, :math:`\log|\det K_H|` (``-inf`` for a singular kernel);
    - ``"synflow"``: `synflow`, :math:`\log S` (data-free; BatchNorm in eval mode);
    - ``"jacov"``: `jacov`, the Jacobian-correlation score;
    - ``"grad_kernel"``: `grad_kernel`, the mean of the per-example gradient Gram matrix
      (needs ``labels``).

    A measure that fails with a ``RuntimeError`` (e.g. out of memory) gives NaN, logged,
    and that row is not stored on disk. Scores are cached in memory by
    ``(arch.key, fingerprint)`` and, with ``cache_path``, in an SQLite file that any
    number of sources (different fingerprints) may share.

    Args:
        space: A space object or its skeleton name (``"nb201"``, ``"nb101"``,
            ``"darts"``, ``"cell"``), as `build_network` accepts.
        images: `N x C x H x W` float minibatch (already normalised), H, W >= 4.
        labels: `N` integer labels in ``[0, num_classes)``; needed for ``grad_kernel``.
        num_classes: Classifier outputs.
        names: Scores to compute, in column order; `NETWORK_SCORES` by default.
        channels, cells_per_stage: Network size; the skeleton's benchmark size
            (`bo_nas.training.DEFAULT_SIZES`: NB-201 C=16, N=5; NB-101 C=128, N=3).
        in_channels: Image channels; taken from ``images`` when omitted.
        seed: Seed of the weight initialisation (with each architecture's key).
        device: Where networks run; ``"cuda"`` when available, else ``"cpu"``.
        cache_path: Optional SQLite file for computed scores (created when absent).
        ops: Extra op factories for a `CellSpace`, as in `build_network`.

    Raises:
        ValueError: for an empty or malformed minibatch, mismatched labels or channels,
            an unknown score name or a bad size.

    Attributes:
        builds: Networks built so far (cache hits build nothing).
        seconds: Seconds spent per measure, and in ``"build"``, so far.
    """

    def __init__(
        self,
        space: str | SearchSpace,
        images: torch.Tensor,
        labels: torch.Tensor | None = None,
        num_classes: int = 10,
        *,
        names: Iterable[str] = NETWORK_SCORES,
        channels: int | None = None,
        cells_per_stage: int | None = None,
        in_channels: int | None = None,
        seed: int = 0,
        device: str | torch.device | None = None,
        cache_path: str | os.PathLike[str] | None = None,
        ops: Mapping[str, OpFactory] | None = None,
    ) -> None:
        self.skeleton, self._space = skeleton_of(space)
        self.names = _check_names(names)
        self.num_classes = _check_int("num_classes", num_classes, 1)
        c_default, n_default = DEFAULT_SIZES[self.skeleton]
        self.channels = _check_int("channels", c_default if channels is None else channels, 1)
        self.cells_per_stage = _check_int(
            "cells_per_stage", n_default if cells_per_stage is None else cells_per_stage, 0)
        if in_channels is not None:
            in_channels = _check_int("in_channels", in_channels, 1)
        imgs = _check_images(images, self.names, in_channels)
        self.in_channels = int(imgs.shape[1])
        if labels is None:
            needing = sorted(_NEEDS_LABELS.intersection(self.names))
            if needing:
                raise ValueError(f"labels: {needing} need labels; pass labels or leave "
                                 f"{needing} out of names")
            labs = None
        else:
            labs = _check_labels(labels, len(imgs), self.num_classes)
        self.seed = _check_int("seed", seed, 0)
        self.device = torch.device(
            ("cuda" if torch.cuda.is_available() else "cpu") if device is None else device)
        self._ops = dict(ops or {})
        self._cache_path = None if cache_path is None else Path(cache_path)
        self._fingerprint = self._make_fingerprint(imgs, labs)
        self._batch = _Batch(imgs.to(self.device), None if labs is None else labs.to(self.device),
                             (self.in_channels, int(imgs.shape[2]), int(imgs.shape[3])))
        self._memory: dict[tuple[str, str], np.ndarray] = {}
        self.builds = 0
        self.seconds: dict[str, float] = {"build": 0.0, **dict.fromkeys(self.names, 0.0)}
        if self._cache_path is not None:
            with self._connect() as conn:
                conn.execute("CREATE TABLE IF NOT EXISTS zero_cost (fingerprint TEXT NOT NULL, "
                             "arch_key TEXT NOT NULL, names TEXT NOT NULL, scores TEXT NOT NULL, "
                             "PRIMARY KEY (fingerprint, arch_key))")

    @classmethod
    def from_dataset(
        cls,
        space: str | SearchSpace,
        dataset: ImageDataset,
        batch_size: int = 64,
        generator: torch.Generator | None = None,
        **kwargs: Any,
    ) -> NetworkScores:
        """A source on a minibatch of ``dataset``'s training split (`draw_minibatch`).

        ``num_classes`` and ``in_channels`` come from the dataset; ``kwargs`` are the
        other keyword arguments of the constructor.
        """
        images, labels = draw_minibatch(dataset, batch_size, generator)
        return cls(space, images, labels, dataset.num_classes,
                   in_channels=dataset.image_shape[0], **kwargs)

    def _make_fingerprint(self, images: torch.Tensor, labels: torch.Tensor | None) -> str:
        h = hashlib.sha256()
        settings = {
            "version": _MEASURES_VERSION, "skeleton": self.skeleton, "names": self.names,
            "channels": self.channels, "cells_per_stage": self.cells_per_stage,
            "in_channels": self.in_channels, "num_classes": self.num_classes,
            "seed": self.seed, "ops": sorted(self._ops), "images": list(images.shape),
            "labels": None if labels is None else list(labels.shape),
        }
        h.update(json.dumps(settings, sort_keys=True).encode())
        h.update(images.cpu().numpy().tobytes())
        if labels is not None:
            h.update(labels.cpu().numpy().tobytes())
        return h.hexdigest()[:16]

    @property
    def images(self) -> torch.Tensor:
        """The minibatch, `N x C x H x W` float32 on ``device``."""
        return self._batch.images

    @property
    def labels(self) -> torch.Tensor | None:
        """Its `N` int64 labels on ``device`` (None when not given)."""
        return self._batch.labels

    @property
    def fingerprint(self) -> str:
        """Hash of the minibatch, the network settings, the score names and the seed."""
        return self._fingerprint

    def __repr__(self) -> str:
        return (f"NetworkScores({self.skeleton!r}, names={self.names}, C={self.channels}, "
                f"N={self.cells_per_stage}, batch={tuple(self._batch.images.shape)}, "
                f"seed={self.seed}, device={self.device.type!r}, "
                f"fingerprint={self._fingerprint!r})")

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        assert self._cache_path is not None
        conn = sqlite3.connect(self._cache_path, timeout=30.0)
        try:
            with conn:  # one commit (or rollback) per block
                yield conn
        finally:
            conn.close()

    def _load(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        if self._cache_path is None or not keys:
            return {}
        out: dict[str, np.ndarray] = {}
        with self._connect() as conn:
            for start in range(0, len(keys), 500):
                chunk = list(keys[start:start + 500])
                marks = ",".join("?" * len(chunk))
                rows = conn.execute(
                    f"SELECT arch_key, names, scores FROM zero_cost WHERE fingerprint = ? "
                    f"AND arch_key IN ({marks})", [self._fingerprint, *chunk]).fetchall()
                for key, names, values in rows:
                    if tuple(json.loads(names)) == self.names:
                        out[key] = np.asarray(json.loads(values), dtype=float)
        return out

    def _store(self, key: str, row: np.ndarray) -> None:
        if self._cache_path is None:
            return
        with self._connect() as conn:
            conn.execute("INSERT OR REPLACE INTO zero_cost VALUES (?, ?, ?, ?)",
                         (self._fingerprint, key, json.dumps(list(self.names)),
                          json.dumps([float(v) for v in row])))

    def network(self, arch: Architecture) -> nn.Module:
        """The initialised network that `scores` measures for ``arch`` (on ``device``)."""
        if self._space is not None:
            self._space.validate(arch)
        rep = _canonical(arch, self.skeleton)
        gen = torch.Generator().manual_seed(_arch_seed(self.seed, arch.key))
        net = build_network(rep, self.skeleton, self.num_classes, channels=self.channels,
                            cells_per_stage=self.cells_per_stage, in_channels=self.in_channels,
                            ops=self._ops or None, generator=gen)
        self.builds += 1
        return net.to(self.device)

    def _compute(self, arch: Architecture) -> tuple[np.ndarray, bool]:
        t0 = time.perf_counter()
        net = self.network(arch)
        self.seconds["build"] += time.perf_counter() - t0
        row = np.full(len(self.names), np.nan)
        ok = True
        for j, name in enumerate(self.names):
            t0 = time.perf_counter()
            try:
                row[j] = _MEASURES[name](net, self._batch)
            except RuntimeError as exc:  # out of memory, an op the measure cannot run, …
                ok = False
                logger.warning("zero-cost score %r failed for %r: %s", name, arch, exc)
                if self.device.type == "cuda":
                    torch.cuda.empty_cache()
            finally:
                self.seconds[name] += time.perf_counter() - t0
        logger.debug("scored %r: %s", arch, dict(zip(self.names, row.tolist())))
        return row, ok

    def scores(self, archs: Sequence[Architecture]) -> np.ndarray:
        """``len(archs) x len(names)``: each architecture's scores (cached by key)."""
        archs = list(archs)
        for i, a in enumerate(archs):
            if not isinstance(a, Architecture):
                raise ValueError(f"archs[{i}]: expected an Architecture, got {type(a).__name__}")
        t_start = time.perf_counter()
        keys = [a.key for a in archs]
        fp = self._fingerprint
        missing = list(dict.fromkeys(k for k in keys if (k, fp) not in self._memory))
        loaded = self._load(missing)
        for key, row in loaded.items():
            self._memory[(key, fp)] = row
        computed = 0
        for a, key in zip(archs, keys):
            if (key, fp) in self._memory:
                continue
            row, ok = self._compute(a)
            self._memory[(key, fp)] = row
            computed += 1
            if ok:
                self._store(key, row)
        out = np.stack([self._memory[(k, fp)] for k in keys]) if archs else np.zeros(
            (0, len(self.names)))
        if computed or loaded:
            logger.info("zero-cost scores of %d architectures: %d computed, %d read from %s, "
                        "%.2f s", len(archs), computed, len(loaded), self._cache_path,
                        time.perf_counter() - t_start)
        return out


__all__ = ["NETWORK_SCORES", "NetworkScores", "draw_minibatch"]
