r"""BANANAS: an ensemble of neural predictors on the path encoding, Thompson-sampled.

Reference: White, Neiswanger, Savani. BANANAS: Bayesian optimization with neural
architectures for neural architecture search. AAAI 2021.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from bo_nas._history import History
from bo_nas._random import torch_generator
from bo_nas._settings import check_int
from bo_nas.encodings import Architecture, PathEncoder
from bo_nas.spaces import CellSpace, NB201Space, SearchSpace

from ._base import Strategy
from ._pool import NeighbourCache, PoolConfig, candidate_pool

logger = logging.getLogger(__name__)

#: Widest path encoding built for a space; longer paths are truncated below it.
MAX_PATH_DIM = 10_000


def path_encoder_for(space: SearchSpace) -> PathEncoder:
    """The path encoding of a space: its ops, paths as long as its cells allow.

    NB-201 cells have at most 3 op nodes on a path (``none`` is no op); a `CellSpace`
    cell ``n_nodes - 2``; other spaces 6. The length is lowered until the encoding has at
    most `MAX_PATH_DIM` features (BANANAS' truncation).
    """
    if isinstance(space, NB201Space):
        return PathEncoder(tuple(op for op in space.ops if op != "none"), 3,
                           skip_ops=frozenset({"none"}))
    ops = tuple(space.ops)
    length = space.n_nodes - 2 if isinstance(space, CellSpace) else 6
    while length > 1 and sum(len(ops) ** i for i in range(length + 1)) > MAX_PATH_DIM:
        length -= 1
    return PathEncoder(ops, length)


@dataclass(frozen=True)
class MLPEnsembleConfig:
    """The neural predictors.

    Attributes:
        n_models: Ensemble members, each from its own random initialisation.
        n_layers: Hidden layers per member.
        width: Units per hidden layer.
        epochs: Passes over the training set.
        batch_size: Minibatch size (Adam). The default exceeds typical budgets, so
            training is full-batch: as accurate as BANANAS' minibatches of 32 on NB-201
            (Kendall τ 0.65 at 100 training cells) at a fifth of the cost.
        lr: Adam learning rate.
        weight_decay: L2 penalty.
    """

    n_models: int = 5
    n_layers: int = 3
    width: int = 32
    epochs: int = 200
    batch_size: int = 256
    lr: float = 0.01
    weight_decay: float = 0.0

    def __post_init__(self) -> None:
        for name in ("n_models", "n_layers", "width", "epochs", "batch_size"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name}: expected an integer >= 1, got {v!r}")
        if not self.lr > 0:
            raise ValueError(f"lr: expected a positive number, got {self.lr!r}")
        if not self.weight_decay >= 0:
            raise ValueError(f"weight_decay: expected a number >= 0, got {self.weight_decay!r}")


class MLPEnsemble(torch.nn.Module):
    r"""``E`` independent ReLU MLPs evaluated as one batched network.

    Layer weights are `E x d_in x d_out` tensors applied with ``torch.baddbmm``, so the
    whole ensemble trains in one loop; members share nothing but the data order.

    Shapes:
        ``forward``: `n x d` (one input set for all) or `E x n x d` (one per member)
        → `E x n` predictions.
    """

    def __init__(
        self,
        d_in: int,
        config: MLPEnsembleConfig,
        generator: torch.Generator,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        sizes = [d_in] + [config.width] * config.n_layers + [1]
        self.weights = torch.nn.ParameterList()
        self.biases = torch.nn.ParameterList()
        e = config.n_models
        for a, b in itertools.pairwise(sizes):
            # PyTorch's Linear default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), per member.
            bound = 1.0 / math.sqrt(a)
            w = (torch.rand(e, a, b, generator=generator, dtype=dtype) * 2 - 1) * bound
            bias = (torch.rand(e, 1, b, generator=generator, dtype=dtype) * 2 - 1) * bound
            self.weights.append(torch.nn.Parameter(w))
            self.biases.append(torch.nn.Parameter(bias))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.unsqueeze(0).expand(len(self.weights[0]), -1, -1) if x.ndim == 2 else x
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            h = torch.baddbmm(b, h, w)
            if i < last:
                h = torch.relu(h)
        return h.squeeze(-1)


def fit_ensemble(
    X: torch.Tensor, y: torch.Tensor, config: MLPEnsembleConfig, generator: torch.Generator
) -> MLPEnsemble:
    r"""Train an ensemble on standardised targets with the mean absolute error.

    Each member sees the minibatches in its own random order. The loss is BANANAS'
    MAE, :math:`\frac{1}{n}\sum_i |f(x_i) - y_i|`, summed over members (they are
    independent, so the sum trains each one on its own loss).

    Args:
        X: `n x d` inputs (their dtype is the network's).
        y: `n` targets (standardise them first), same dtype.
        config: Network and training settings.
        generator: Source of the initial weights and minibatch orders.
    """
    model = MLPEnsemble(X.shape[-1], config, generator, X.dtype)
    opt = torch.optim.Adam(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay, foreach=True
    )
    n = len(X)
    bs = min(config.batch_size, n)
    e = config.n_models
    with torch.enable_grad():
        for _ in range(config.epochs):
            # One permutation per member: members differ in their data order as well.
            order = torch.argsort(torch.rand(e, n, generator=generator), dim=-1)
            for start in range(0, n, bs):
                idx = order[:, start : start + bs]  # E x b
                xb = X[idx]  # E x b x d
                yb = y[idx]  # E x b
                loss = (model(xb) - yb).abs().mean(-1).sum()
                opt.zero_grad()
                loss.backward()
                opt.step()
    model.eval()
    return model


@dataclass(frozen=True)
class BananasSettings:
    """Settings of `BananasStrategy` (see there)."""

    n_init: int = 10
    ensemble: MLPEnsembleConfig = field(default_factory=MLPEnsembleConfig)
    pool: PoolConfig = field(default_factory=PoolConfig)

    def __post_init__(self) -> None:
        check_int("n_init", self.n_init)
        if not isinstance(self.ensemble, MLPEnsembleConfig):
            raise ValueError(f"ensemble: expected an MLPEnsembleConfig, got {self.ensemble!r}")
        if not isinstance(self.pool, PoolConfig):
            raise ValueError(f"pool: expected a PoolConfig, got {self.pool!r}")


class BananasStrategy(Strategy):
    r"""BANANAS with independent Thompson sampling over a candidate pool.

    After ``n_init`` random architectures, each proposal trains an ensemble of MLPs
    (`MLPEnsembleConfig`) on the path encodings of the complete trials (standardised
    validation accuracies), predicts every candidate of the pool (mutations of the
    incumbents plus random samples, see `PoolConfig`), and draws for candidate ``i``
    independently

    .. math::

        \tilde f_i \sim \mathcal N(\mu_i, \sigma_i^2),

    with :math:`\mu_i, \sigma_i` the mean and standard deviation of the ensemble's
    predictions (independent Thompson sampling, ITS). The ``n`` largest draws are
    proposed. Initial weights, minibatch orders and the draws all come from one
    ``torch.Generator`` seeded from the ``rng`` given to `propose`.

    Args:
        n_init: Random architectures before the first model.
        ensemble: The predictors (a `MLPEnsembleConfig` or its fields as a dict).
        pool: Candidate generation (a `PoolConfig` or its fields as a dict).
    """

    name = "bananas"
    Settings = BananasSettings
    settings: BananasSettings

    def setup(self, space: SearchSpace) -> None:
        super().setup(space)
        self.encoder = path_encoder_for(space)
        self._features: dict[str, np.ndarray] = {}
        self._neighbours = NeighbourCache(space)

    def _encode(self, archs: Sequence[Architecture]) -> torch.Tensor:
        rows = []
        for a in archs:
            f = self._features.get(a.key)
            if f is None:
                f = self._features[a.key] = self.encoder.encode_one(a)
            rows.append(f)
        # float32: the networks are tiny and overhead-bound; float64 buys nothing here.
        return torch.as_tensor(np.stack(rows), dtype=torch.float32)

    def propose(self, history: History, n: int, rng: np.random.Generator) -> list[Architecture]:
        complete = history.complete
        if len(complete) < self.settings.n_init:
            return self.space.sample_many(n, rng, exclude=[t.arch for t in history])
        pool = candidate_pool(self.space, history, rng, self.settings.pool, self._neighbours)
        if not pool:
            return []
        gen = torch_generator(rng)
        X = self._encode([t.arch for t in complete])
        y = torch.tensor([t.value for t in complete], dtype=torch.float32)
        y = (y - y.mean()) / y.std().clamp_min(1e-9)
        model = fit_ensemble(X, y, self.settings.ensemble, gen)
        with torch.no_grad():
            pred = model(self._encode(pool))  # E x m
        logger.debug("BANANAS: %d training cells, %d candidates", len(complete), len(pool))
        mean = pred.mean(0)
        std = pred.std(0) if len(pred) > 1 else torch.zeros_like(mean)
        draws = mean + std * torch.randn(len(pool), generator=gen, dtype=mean.dtype)
        top = torch.argsort(draws, descending=True)[: min(n, len(pool))]
        return [pool[int(i)] for i in top]

