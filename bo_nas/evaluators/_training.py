"""`TrainingEvaluator`: an evaluation is a real training run of the architecture."""

from __future__ import annotations

import dataclasses
import gc
import hashlib
import logging
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import torch

from bo_nas.encodings import Architecture, InvalidArchitectureError
from bo_nas.spaces import SearchSpace, space_from_config

from ._base import Budget, EvaluationError, EvaluationResult, Evaluator

if TYPE_CHECKING:
    from bo_nas.objectives import CostSource
    from bo_nas.training import TrainConfig
    from bo_nas.zero_cost import ScoreSource

logger = logging.getLogger(__name__)

#: Defaults sized for a CPU campaign on digits (one NB-201 evaluation ≈ 3–8 s on one core).
DEFAULT_EPOCHS = 4
DEFAULT_CHANNELS = 8
DEFAULT_CELLS_PER_STAGE = 1


def evaluation_seed(seed: int, key: str) -> int:
    """Seed of one evaluation: a hash of the evaluator's seed and the architecture key.

    Stable across processes and Python versions (unlike ``hash``), so the same
    architecture trains identically in any worker.
    """
    digest = hashlib.blake2b(f"{seed}:{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


class TrainingEvaluator(Evaluator):
    r"""Evaluate an architecture by building its network and training it.

    Each evaluation builds the space's skeleton around the cell
    (`bo_nas.training.build_network`), initialises it and trains it
    (`bo_nas.training.train`) with a seed derived from ``seed`` and the architecture's
    key (`evaluation_seed`), so the result depends only on the settings and the
    architecture, not on the worker or the order of evaluations.

    The result holds validation and test accuracy (%), costs ``params`` and ``flops``
    (millions) and ``train_seconds``, and info ``curve`` (per-epoch statistics),
    ``device``, ``seed`` and ``images_per_second``.

    It is multi-fidelity: `fidelities` are the epochs 1 to ``epochs``, and
    `evaluate_at` trains to a `Budget`'s epoch, continuing from its checkpoint file.

    The defaults are sized for a quick CPU campaign on digits; use the benchmark's
    sizes (``channels=16, cells_per_stage=5``, ``epochs=200``) on CIFAR with a GPU.

    Args:
        space: ``"nb201"``, ``"nb101"``, ``"darts"``, ``"cell"``, or a space object (a
            `CellSpace` brings its op names; they are mapped to modules by name). DARTS
            networks have ``3 * cells_per_stage + 2`` cells (two reduction cells).
        dataset: ``"digits"`` (offline), ``"cifar10"`` or ``"cifar100"``.
        data_dir: Folder of the CIFAR python batches.
        epochs, batch_size, lr, weight_decay, label_smoothing: Training settings.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``…
        seed: Base seed.
        channels: ``C`` of the skeleton (NB-101: stem channels).
        cells_per_stage: ``N`` cells per stage (stack).
        threads: Torch CPU threads per evaluation (``None``: process setting).
        train_options: Further `TrainConfig` fields (``amp``, ``compile``,
            ``deterministic``, ``data_on_device``, ``workers``…).

    Raises:
        ValueError: for a bad setting (checked on construction).

    Example:
        >>> ev = TrainingEvaluator("nb201", dataset="digits", epochs=2, device="cpu")
        >>> result = ev.evaluate(NB201Space().sample(0))  # doctest: +SKIP
    """

    kind = "training"

    def __init__(
        self,
        space: str | SearchSpace = "nb201",
        dataset: str = "digits",
        data_dir: str | os.PathLike[str] | None = None,
        *,
        epochs: int = DEFAULT_EPOCHS,
        batch_size: int = 64,
        lr: float = 0.1,
        weight_decay: float = 5e-4,
        label_smoothing: float = 0.0,
        device: str = "auto",
        seed: int = 0,
        channels: int | None = DEFAULT_CHANNELS,
        cells_per_stage: int | None = DEFAULT_CELLS_PER_STAGE,
        threads: int | None = None,
        train_options: Mapping[str, Any] | None = None,
    ) -> None:
        from bo_nas.training import DATASETS, TrainConfig, skeleton_of

        self.skeleton, space_obj = skeleton_of(space)
        self.space = space_obj if space_obj is not None else self.skeleton
        if dataset not in DATASETS:
            raise ValueError(f"dataset: expected one of {DATASETS}, got {dataset!r}")
        self.dataset = dataset
        # Absolute, so a store records a place that does not depend on where one stands.
        self.data_dir = None if data_dir is None else os.path.abspath(os.fspath(data_dir))
        options = dict(train_options or {})
        reserved = {"epochs", "batch_size", "lr", "weight_decay", "label_smoothing", "device",
                    "seed", "threads"} & set(options)
        if reserved:
            raise ValueError(f"train_options: {sorted(reserved)} are arguments of their own")
        known = {f.name for f in dataclasses.fields(TrainConfig)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ValueError(f"train_options: unknown TrainConfig fields {unknown}")
        self.train_options = options
        # Built now to validate every setting once, at the boundary.
        self.config = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr,
                                  weight_decay=weight_decay, label_smoothing=label_smoothing,
                                  device=device, seed=seed, threads=threads, **options)
        for name, value in (("channels", channels), ("cells_per_stage", cells_per_stage)):
            if value is not None and (not isinstance(value, int) or isinstance(value, bool)
                                      or value < (1 if name == "channels" else 0)):
                raise ValueError(f"{name}: expected a positive integer or None, got {value!r}")
        self.channels = channels
        self.cells_per_stage = cells_per_stage

    @property
    def seed(self) -> int:
        return self.config.seed

    def evaluate(self, arch: Architecture) -> EvaluationResult:
        """Train ``arch`` and report its accuracies and costs.

        Raises:
            EvaluationError: when the architecture does not fit the space, the dataset
                cannot be read, the loss diverges or the device runs out of memory; the
                message gives the reason.
        """
        seed = evaluation_seed(self.seed, arch.key)
        return self._train(arch, dataclasses.replace(self.config, seed=seed))

    def fidelities(self) -> tuple[int, ...]:
        """Every epoch count from 1 to this evaluator's ``epochs``, the final budget."""
        return tuple(range(1, self.config.epochs + 1))

    def evaluate_at(self, arch: Architecture, budget: Budget) -> EvaluationResult:
        """Train ``arch`` to ``budget.epochs`` and report its accuracies and costs there.

        The cosine learning-rate schedule is planned for ``budget.max_epochs`` (which
        may differ from this evaluator's ``epochs``), so a trial promoted to a later
        rung continues the schedule it started. When ``budget.checkpoint`` names an
        existing file, the training state (weights, optimizer, schedule, data order,
        curve) is loaded from it and training continues from its epoch; the file is
        rewritten atomically after every epoch (its folder is created when missing), so
        a killed evaluation loses at most the epoch in progress. Without a checkpoint a
        trial starts afresh, with the network and seed `evaluate` uses:
        ``evaluate_at(arch, Budget(E, E))`` equals ``evaluate(arch)`` for ``E =
        epochs``, and continuing from a checkpoint gives what training straight
        through gives.

        Besides what `evaluate` reports, ``info`` holds ``epochs`` (=
        ``budget.epochs``), ``epochs_trained`` (epochs this call trained),
        ``max_epochs`` and ``resumed_from`` (the checkpoint's epoch, 0 for a fresh
        start); ``curve`` covers every epoch from the first and ``train_seconds`` this
        call only.

        Raises:
            EvaluationError: as `evaluate`, and when the checkpoint cannot be read or
                written, was written for another network or other settings, or is past
                ``budget.epochs`` (nothing is retrained in its place).
        """
        if budget.checkpoint is not None:
            folder = os.path.dirname(os.path.abspath(budget.checkpoint))
            try:
                os.makedirs(folder, exist_ok=True)
            except OSError as exc:
                raise EvaluationError(
                    f"checkpoint {budget.checkpoint}: cannot create its folder: {exc}"
                ) from None
        seed = evaluation_seed(self.seed, arch.key)
        config = dataclasses.replace(self.config, epochs=budget.max_epochs, seed=seed)
        return self._train(arch, config, budget)

    def _train(
        self, arch: Architecture, config: TrainConfig, budget: Budget | None = None
    ) -> EvaluationResult:
        """Build ``arch``'s network with ``config.seed`` and train it under ``config``
        (to ``budget.epochs`` with ``budget.checkpoint`` when a budget is given)."""
        from bo_nas.training import (
            DatasetError,
            TrainingError,
            build_network,
            load_dataset,
            train,
        )
        from bo_nas.training._loop import CheckpointError

        try:
            data = load_dataset(self.dataset, self.data_dir)
        except DatasetError as exc:
            raise EvaluationError(f"dataset {self.dataset!r}: {exc}") from None
        try:
            model = build_network(
                arch, self.space, data.num_classes, channels=self.channels,
                cells_per_stage=self.cells_per_stage, in_channels=data.image_shape[0],
                generator=torch.Generator().manual_seed(config.seed),
            )
        except (InvalidArchitectureError, ValueError) as exc:
            raise EvaluationError(f"{arch!r} cannot be built in {self.space!r}: {exc}") from None
        reason = ""
        try:
            if budget is None:
                result = train(model, data, config)
            else:
                result = train(model, data, config, until=budget.epochs,
                               checkpoint=budget.checkpoint)
        except CheckpointError as exc:
            # Its message names the file and the fault; the architecture adds nothing.
            reason = str(exc)
        except TrainingError as exc:
            reason = f"training {arch!r} failed: {exc}"
        if reason:
            # Outside the except blocks, whose tracebacks would pin the network's memory.
            del model
            gc.collect()
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            raise EvaluationError(reason)
        info: dict[str, Any] = {"curve": [dataclasses.asdict(e) for e in result.curve],
                                "device": result.device, "seed": config.seed,
                                "images_per_second": result.images_per_second}
        if budget is not None:
            info.update(epochs=budget.epochs, epochs_trained=result.epochs - result.start_epoch,
                        max_epochs=budget.max_epochs, resumed_from=result.start_epoch)
        return EvaluationResult(
            val_accuracy=result.val_accuracy,
            test_accuracy=result.test_accuracy,
            costs={"params": result.params / 1e6, "flops": result.flops / 1e6,
                   "train_seconds": result.train_seconds},
            info=info,
        )

    def known_costs(self) -> CostSource:
        """``params`` and ``flops`` (millions) of the network each cell becomes, counted
        before training (`bo_nas.objectives.GraphCosts`)."""
        from bo_nas.objectives import GraphCosts

        return GraphCosts(self)

    def zero_cost(self) -> ScoreSource:
        """NASWOT, Jacobian covariance and SynFlow of this evaluator's own untrained
        networks (its space, size and device) on one minibatch of 64 training images
        drawn with its seed (`bo_nas.zero_cost.NetworkScores`): computed before the first
        training, for the strategy's prior."""
        from bo_nas.training import load_dataset, resolve_device
        from bo_nas.zero_cost import NetworkScores

        data = load_dataset(self.dataset, self.data_dir)
        return NetworkScores.from_dataset(
            self.space,
            data,
            batch_size=min(64, len(data.train_x)),
            generator=torch.Generator().manual_seed(self.seed),
            names=("nwot", "jacov", "synflow"),
            channels=self.channels,
            cells_per_stage=self.cells_per_stage,
            seed=self.seed,
            device=resolve_device(self.config.device),
        )

    def to_config(self) -> dict[str, Any]:
        """JSON-compatible settings; `from_config` inverts it."""
        c = self.config
        return {
            "kind": self.kind,
            "space": self.space if isinstance(self.space, str) else self.space.to_config(),
            "dataset": self.dataset,
            "data_dir": self.data_dir,
            "epochs": c.epochs,
            "batch_size": c.batch_size,
            "lr": c.lr,
            "weight_decay": c.weight_decay,
            "label_smoothing": c.label_smoothing,
            "device": c.device,
            "seed": c.seed,
            "channels": self.channels,
            "cells_per_stage": self.cells_per_stage,
            "threads": c.threads,
            "train_options": dict(self.train_options),
        }

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> TrainingEvaluator:
        """Rebuild from `to_config` output (``kind`` optional)."""
        if not isinstance(config, Mapping) or config.get("kind", cls.kind) != cls.kind:
            raise ValueError(f"evaluator config: expected kind {cls.kind!r}, got {config!r}")
        cfg = {k: v for k, v in config.items() if k != "kind"}
        space = cfg.pop("space", "nb201")
        if isinstance(space, Mapping):
            space = space_from_config(space)
        known = {"dataset", "data_dir", "epochs", "batch_size", "lr", "weight_decay",
                 "label_smoothing", "device", "seed", "channels", "cells_per_stage", "threads",
                 "train_options"}
        unknown = sorted(set(cfg) - known)
        if unknown:
            raise ValueError(f"evaluator config: unknown fields {unknown} for {cls.kind!r}")
        return cls(space, cfg.pop("dataset", "digits"), cfg.pop("data_dir", None), **cfg)

    def __repr__(self) -> str:
        return (f"TrainingEvaluator({self.space!r}, dataset={self.dataset!r}, "
                f"epochs={self.config.epochs}, channels={self.channels}, "
                f"cells_per_stage={self.cells_per_stage}, device={self.config.device!r})")
