"""Campaign settings from a TOML file and command-line flags.

A run is described by one flat table; every key is also a ``bo-nas run`` flag::

    # campaign.toml
    space = "nb201"            # nb201 | nb101
    evaluator = "train"        # train (real training) | table (tabular benchmark)
    dataset = "digits"         # train: digits | cifar10 | cifar100; table: cifar10 | ...
    budget = 24
    batch = 2
    strategy = "gp-tw"
    seed = 0

    [strategy_options]         # passed to the strategy (e.g. acquisition = "logei",
    acquisition = "ts"         # or a whole rule: selector = {rule = "kdpp", alpha = 3.0})

    [train]                    # passed to TrainingEvaluator (epochs, channels, ...)
    epochs = 4
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

SPACES = ("nb201", "nb101")
EVALUATORS = ("train", "table")
TABLE_DATASETS = {
    "nb201": ("cifar10", "cifar10-valid", "cifar100", "ImageNet16-120"),
    "nb101": ("cifar10",),
}
TRAIN_DATASETS = ("digits", "cifar10", "cifar100")
DEVICES = ("auto", "cpu", "cuda")


class ConfigError(ValueError):
    """A run setting is missing, unknown or out of range."""


@dataclass
class RunConfig:
    """Everything a ``bo-nas run`` needs. Defaults are the offline demo campaign.

    Attributes:
        space: Search space, ``nb201`` or ``nb101``.
        evaluator: ``train`` (build and train each network) or ``table`` (look it up).
        dataset: Dataset to train on or benchmark table to read.
        data_dir: Folder of CIFAR batches (train) or benchmark tables (table);
            `$BO_NAS_DATA_DIR` for tables when omitted.
        device: ``auto``, ``cpu`` or ``cuda`` (training only).
        budget: Evaluations in total (resumed campaigns count what they already did).
        batch: Evaluations in flight at once (workers). ``0``: one per GPU, else per core.
        asynchronous: Propose a new architecture whenever a worker frees up.
        strategy: Strategy name (``bo-nas run --help`` lists them).
        strategy_options: Settings passed to the strategy.
        train: Settings passed to the training evaluator (``epochs``, ``channels``...).
        seed: Fixes the whole campaign.
        max_retries: Re-runs of a failed evaluation before it counts as failed.
        fidelity: Training epochs of the tabular numbers (NB-201: 12 or 200).
        store: SQLite file of the campaign; a fresh file under ``out`` when omitted.
        out: Folder for the store and the figures.
    """

    space: str = "nb201"
    evaluator: str = "train"
    dataset: str | None = None
    data_dir: str | None = None
    device: str = "auto"
    budget: int = 24
    batch: int = 0
    asynchronous: bool = False
    strategy: str = "gp-tw"
    strategy_options: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    max_retries: int = 1
    fidelity: int = 200
    store: str | None = None
    out: str = "bo-nas-runs"

    def __post_init__(self) -> None:
        self.validate()

    @property
    def resolved_dataset(self) -> str:
        if self.dataset is not None:
            return self.dataset
        return "digits" if self.evaluator == "train" else "cifar10"

    def validate(self) -> None:
        """Raise `ConfigError` naming the first bad setting."""
        _choice("space", self.space, SPACES)
        _choice("evaluator", self.evaluator, EVALUATORS)
        _choice("device", self.device, DEVICES)
        allowed = TRAIN_DATASETS if self.evaluator == "train" else TABLE_DATASETS[self.space]
        _choice("dataset", self.resolved_dataset, allowed, f"for evaluator {self.evaluator!r}")
        _integer("budget", self.budget, 1)
        _integer("batch", self.batch, 0)
        _integer("seed", self.seed, 0)
        _integer("max_retries", self.max_retries, 0)
        _integer("fidelity", self.fidelity, 1)
        if not isinstance(self.asynchronous, bool):
            raise ConfigError(f"asynchronous: expected true or false, got {self.asynchronous!r}")
        if not isinstance(self.strategy, str) or not self.strategy:
            raise ConfigError(f"strategy: expected a strategy name, got {self.strategy!r}")
        for name in ("strategy_options", "train"):
            value = getattr(self, name)
            if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
                raise ConfigError(f"{name}: expected a table of settings, got {value!r}")
        for name in ("data_dir", "store"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value):
                raise ConfigError(f"{name}: expected a path, got {value!r}")
        if not isinstance(self.out, str) or not self.out:
            raise ConfigError(f"out: expected a folder path, got {self.out!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _choice(name: str, value: Any, options: tuple[str, ...], where: str = "") -> None:
    if not isinstance(value, str) or value not in options:
        suffix = f" {where}" if where else ""
        raise ConfigError(f"{name}: expected one of {list(options)}{suffix}, got {value!r}")


def _integer(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{name}: expected an integer >= {minimum}, got {value!r}")


_FIELDS = {f.name for f in dataclasses.fields(RunConfig)}


def config_from_mapping(data: Mapping[str, Any], source: str = "config") -> RunConfig:
    """Build a `RunConfig`; unknown keys and bad values raise `ConfigError` naming them."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: expected a table of settings, got {type(data).__name__}")
    unknown = sorted(str(k) for k in data if k not in _FIELDS)
    if unknown:
        raise ConfigError(f"{source}: unknown setting(s) {unknown}; known: {sorted(_FIELDS)}")
    for key, value in data.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{source}: {key} must be finite, got {value!r}")
    try:
        return RunConfig(**dict(data))
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def load_config(path: str | os.PathLike[str]) -> RunConfig:
    """Read a TOML run configuration; errors name the file and the problem."""
    p = Path(path)
    try:
        text = p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"config file {str(p)!r}: cannot read ({exc.strerror or exc})") from None
    try:
        data = tomllib.loads(text.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {str(p)!r}: not UTF-8 text ({exc.reason})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {str(p)!r}: invalid TOML ({exc})") from None
    except RecursionError:
        raise ConfigError(f"config file {str(p)!r}: nested too deeply") from None
    return config_from_mapping(data, f"config file {str(p)!r}")
