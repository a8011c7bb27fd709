"""Campaign settings: one table of them, read from flags, a TOML file and a store.

`SETTINGS` is the single source of truth: ``bo-nas run``'s flags and their help are
generated from it, a ``--config`` TOML file takes the same names as keys (the long flag
without its dashes; ``max_retries`` with an underscore is read as ``max-retries``), and a
store keeps the settings of its run under the same keys (`RunConfig.to_dict`), so flag,
TOML key and stored key are one name::

    # campaign.toml
    space = "nb201"            # nb201 | nb101 | darts
    evaluator = "table"        # train (real training) | table (tabular benchmark)
    dataset = "cifar100"
    budget = 100
    strategy = "gp-tw"
    acquisition = "logei"      # gp-tw and gp-hamming: ts | logei | ucb
    seed = 0

    [strategy-options]         # the strategy's own settings (--strategy-options KEY=VALUE),
    n_init = 10                # or a whole rule: selector = {rule = "kdpp", alpha = 5.0}

    [train]                    # TrainingEvaluator settings (--train KEY=VALUE)
    lr = 0.05

A setting that has no effect with the others (``epochs`` with the table evaluator, a
``fidelity`` for training, ``acquisition`` for a strategy without that choice) is an
error when given as a flag and a warning when it comes from a file (`ineffective`).
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

SPACES = ("nb201", "nb101", "darts")
EVALUATORS = ("train", "table")
#: Spaces with benchmark tables, and their datasets (no DARTS table exists: train).
TABLE_DATASETS = {
    "nb201": ("cifar10", "cifar10-valid", "cifar100", "ImageNet16-120"),
    "nb101": ("cifar10",),
}
TABLE_SPACES = tuple(TABLE_DATASETS)
TRAIN_DATASETS = ("digits", "cifar10", "cifar100")
DEVICES = ("auto", "cpu", "cuda")
ACQUISITIONS = ("ts", "logei", "ucb")
#: Strategies whose selection rule ``acquisition`` chooses.
ACQUISITION_STRATEGIES = ("gp-tw", "gp-hamming")
FIDELITIES = (12, 200)
SCHEDULES = ("asha", "hyperband")
#: The most evaluations a campaign keeps in flight.
MAX_BATCH = 1024


class ConfigError(ValueError):
    """A run setting is missing, unknown, out of range, or has no effect."""


@dataclass(frozen=True)
class Setting:
    """One campaign setting: its flag, TOML key and stored key (`key`), and its help.

    Attributes:
        key: The long flag without dashes; also the TOML and stored key.
        attr: The `RunConfig` attribute.
        help: The flag's help.
        kind: ``str``, ``int``, ``bool``, ``path``, ``table`` (``KEY=VALUE`` pairs) or
            ``list`` (a repeatable flag; a list of strings in TOML).
        choices: Allowed values, if fixed.
        minimum: Smallest allowed integer.
        metavar: The flag's value in the help.
    """

    key: str
    attr: str
    help: str
    kind: str = "str"
    choices: tuple[Any, ...] | None = None
    minimum: int | None = None
    metavar: str | None = None

    @property
    def flag(self) -> str:
        return f"--{self.key}"


SETTINGS: tuple[Setting, ...] = (
    Setting("space", "space", "search space (default nb201)", choices=SPACES),
    Setting("evaluator", "evaluator",
            "train each network, or look it up in a benchmark table (default train)",
            choices=EVALUATORS),
    Setting("dataset", "dataset",
            "train: digits|cifar10|cifar100 (default digits); table: cifar10|cifar10-valid|"
            "cifar100|ImageNet16-120 (nb101: cifar10) (default cifar10)"),
    Setting("data-dir", "data_dir",
            "CIFAR batches folder (train on cifar10/cifar100) or benchmark tables folder "
            "(table; default $BO_NAS_DATA_DIR)", kind="path", metavar="DIR"),
    Setting("device", "device", "training device (train only; default auto)",
            choices=DEVICES),
    Setting("budget", "budget",
            "evaluations in total, clamped to the distinct networks of the space "
            "(default 24)", kind="int", minimum=1, metavar="N"),
    Setting("batch", "batch",
            f"evaluations in flight, 1 to {MAX_BATCH} (default: one per GPU, else one per "
            "core; 1 for tables)", kind="int", minimum=1, metavar="N"),
    Setting("async", "asynchronous",
            "propose whenever a worker frees up instead of in batches", kind="bool"),
    Setting("strategy", "strategy",
            "search strategy (default gp-tw; gp-tw-kdpp for synchronous --batch N > 1 of "
            "one objective)"),
    Setting("acquisition", "acquisition",
            "selection rule of gp-tw and gp-hamming: Thompson sampling (ts, default), "
            "logei or ucb", choices=ACQUISITIONS),
    Setting("epochs", "epochs", "training epochs per evaluation (train only; default 4)",
            kind="int", minimum=1, metavar="N"),
    Setting("fidelity", "fidelity",
            "epochs of the tabular numbers, 12 or 200 (table on nb201 only; default 200)",
            kind="int", choices=FIDELITIES, metavar="EPOCHS"),
    Setting("fidelity-schedule", "fidelity_schedule",
            "stop bad trainings early: each new network trains to the first rung, the "
            "best 1/eta of a rung train on from their checkpoints (asha or hyperband; "
            "--budget then counts networks)", choices=SCHEDULES),
    Setting("min-epochs", "min_epochs",
            "first rung of --fidelity-schedule, in epochs (default 1; a table raises it to "
            "its 12 epochs)", kind="int", minimum=1, metavar="N"),
    Setting("eta", "eta", "reduction factor of --fidelity-schedule (default 3)",
            kind="int", minimum=2, metavar="N"),
    Setting("seed", "seed", "fixes the whole campaign (default 0)", kind="int", minimum=0,
            metavar="N"),
    Setting("max-retries", "max_retries",
            "re-runs of a failed evaluation before it counts as failed (default 1)",
            kind="int", minimum=0, metavar="N"),
    Setting("store", "store", "SQLite file of the campaign (default: a new file in --out)",
            kind="path", metavar="FILE"),
    Setting("out", "out", "folder for a new store and the figures (default bo-nas-runs; "
            "with --store and no --out, figures go beside the store)", kind="path",
            metavar="DIR"),
    Setting("objective", "objectives",
            "an objective, METRIC[:min|max[:THRESHOLD]] (val_accuracy or a cost: params, "
            "flops, edgegpu_latency, ...; repeatable; two or more make a Pareto search), "
            "e.g. --objective val_accuracy --objective edgegpu_latency:min",
            kind="list", metavar="METRIC[:DIR]"),
    Setting("constraint", "constraints",
            "a bound, METRIC<=BOUND or METRIC>=BOUND (repeatable); on a cost known before "
            "evaluating (table costs; params and flops when training) no violating "
            "network is ever proposed, e.g. --constraint params<=1.0",
            kind="list", metavar="METRIC<=BOUND"),
    Setting("strategy-options", "strategy_options",
            "a setting of the strategy, KEY=VALUE (VALUE as in TOML; repeatable), e.g. "
            "n_init=10", kind="table", metavar="KEY=VALUE"),
    Setting("train", "train",
            "a training setting, KEY=VALUE (lr, batch_size, channels, ...; repeatable; "
            "train only)", kind="table", metavar="KEY=VALUE"),
)
BY_KEY: Mapping[str, Setting] = {s.key: s for s in SETTINGS}
BY_ATTR: Mapping[str, Setting] = {s.attr: s for s in SETTINGS}
#: Other names a TOML file or an older store may use for a key.
ALIASES: Mapping[str, str] = {
    **{s.key.replace("-", "_"): s.key for s in SETTINGS if "-" in s.key},
    "asynchronous": "async",
}


def canonical_key(name: str) -> str | None:
    """The setting ``name`` stands for (``max_retries`` -> ``max-retries``), or ``None``."""
    if name in BY_KEY:
        return name
    return ALIASES.get(name)


@dataclass
class RunConfig:
    """Everything a ``bo-nas run`` needs. Defaults are the offline demo campaign.

    Attribute ``x_y`` is setting ``x-y`` of `SETTINGS` (flag ``--x-y``, TOML key
    ``x-y``); ``None`` means "not given" (the default that applies is used).
    """

    space: str = "nb201"
    evaluator: str = "train"
    dataset: str | None = None
    data_dir: str | None = None
    device: str | None = None
    budget: int = 24
    batch: int | None = None
    asynchronous: bool = False
    strategy: str = "gp-tw"
    acquisition: str | None = None
    epochs: int | None = None
    fidelity: int | None = None
    fidelity_schedule: str | None = None
    min_epochs: int | None = None
    eta: int | None = None
    seed: int = 0
    max_retries: int = 1
    store: str | None = None
    out: str = "bo-nas-runs"
    objectives: list[str] = field(default_factory=list)
    constraints: list[str] = field(default_factory=list)
    strategy_options: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.validate()

    @property
    def resolved_dataset(self) -> str:
        if self.dataset is not None:
            return self.dataset
        return "digits" if self.evaluator == "train" else "cifar10"

    @property
    def resolved_device(self) -> str:
        return self.device or "auto"

    @property
    def resolved_fidelity(self) -> int:
        return self.fidelity or 200

    def schedule(self) -> Any:
        """The `bo_nas.fidelity` schedule of ``fidelity-schedule``, or ``None``."""
        if self.fidelity_schedule is None:
            return None
        from bo_nas.fidelity import schedule_from_config

        return schedule_from_config({"name": self.fidelity_schedule,
                                     "min_epochs": self.min_epochs or 1, "eta": self.eta or 3})

    def validate(self, name: Callable[[str], str] = lambda key: key) -> None:
        """Raise `ConfigError` naming the first bad setting (``name(key)`` in messages)."""
        for s in SETTINGS:
            _check(s, getattr(self, s.attr), name(s.key))
        if self.evaluator == "table" and self.space not in TABLE_DATASETS:
            raise ConfigError(
                f"{name('evaluator')}: no benchmark table exists for --space {self.space}; "
                f"use --evaluator train (tables: {', '.join(TABLE_DATASETS)})"
            )
        allowed = TRAIN_DATASETS if self.evaluator == "train" else TABLE_DATASETS[self.space]
        if self.resolved_dataset not in allowed:
            raise ConfigError(
                f"{name('dataset')}: expected one of {list(allowed)} for --evaluator "
                f"{self.evaluator}" + (f" --space {self.space}" if self.evaluator == "table"
                                       else "") + f", got {self.resolved_dataset!r}"
            )
        if self.batch is not None and self.batch > MAX_BATCH:
            raise ConfigError(
                f"{name('batch')}: at most {MAX_BATCH} evaluations in flight, got {self.batch}"
            )
        if "acquisition" in self.strategy_options and self.acquisition is not None:
            raise ConfigError(
                f"{name('acquisition')} and {name('strategy-options')} acquisition are both "
                "given; give one"
            )
        if self.fidelity_schedule is not None and self.fidelity is not None:
            raise ConfigError(
                f"{name('fidelity')} and {name('fidelity-schedule')} are both given: a "
                "multi-fidelity campaign chooses the epochs of each evaluation itself"
            )
        if "epochs" in self.train and self.epochs is not None:
            raise ConfigError(
                f"{name('epochs')} and {name('train')} epochs are both given; give one"
            )

    def to_dict(self) -> dict[str, Any]:
        """The settings under their keys (flag = TOML key = stored key); those not given
        (``None``, an empty table) left out."""
        out: dict[str, Any] = {}
        for s in SETTINGS:
            value = getattr(self, s.attr)
            if value is not None and value != {} and value != []:
                out[s.key] = _copy(value)
        return out


def _check(s: Setting, value: Any, name: str) -> None:
    if value is None:
        if s.attr in _REQUIRED:
            raise ConfigError(f"{name}: a value is required")
        return
    if s.kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{name}: expected an integer, got {value!r}")
        if s.minimum is not None and value < s.minimum:
            raise ConfigError(f"{name}: expected an integer >= {s.minimum}, got {value!r}")
    elif s.kind == "bool":
        if not isinstance(value, bool):
            raise ConfigError(f"{name}: expected true or false, got {value!r}")
    elif s.kind == "path":
        if not isinstance(value, str) or not value or "\x00" in value:
            raise ConfigError(f"{name}: expected a path, got {value!r}")
    elif s.kind == "list":
        if isinstance(value, str):
            raise ConfigError(f"{name}: expected a list of texts, e.g. [{value!r}]")
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{name}: expected a list of texts, got {value!r}")
        from bo_nas.objectives import parse_constraints, parse_objectives

        try:
            (parse_objectives if s.attr == "objectives" else parse_constraints)(value)
        except ValueError as exc:
            raise ConfigError(f"{name}: {exc}") from None
    elif s.kind == "table":
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise ConfigError(f"{name}: expected a table of settings, got {value!r}")
        for k, v in value.items():
            _check_finite(f"{name} {k}", v)
    else:
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{name}: expected a name, got {value!r}")
    if s.choices is not None and value not in s.choices:
        raise ConfigError(f"{name}: expected one of {list(s.choices)}, got {value!r}")


_REQUIRED = {"space", "evaluator", "budget", "asynchronous", "strategy", "seed",
             "max_retries", "out", "objectives", "constraints", "strategy_options", "train"}


def _check_finite(name: str, value: Any) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{name} must be finite, got {value!r}")
    if isinstance(value, dict):
        for k, v in value.items():
            _check_finite(f"{name}.{k}", v)
    elif isinstance(value, list):
        for v in value:
            _check_finite(name, v)


def normalise_keys(data: Mapping[str, Any], where: str = "settings") -> dict[str, Any]:
    """``data`` under canonical keys; unknown and repeated keys raise `ConfigError`."""
    out: dict[str, Any] = {}
    origin: dict[str, str] = {}
    unknown = []
    for raw, value in data.items():
        key = canonical_key(raw) if isinstance(raw, str) else None
        if key is None:
            unknown.append(str(raw))
            continue
        if key in out:
            raise ConfigError(
                f"{where}: {key} is given twice (as {origin[key]!r} and {raw!r}); give it once"
            )
        out[key] = value
        origin[key] = raw
    if unknown:
        raise ConfigError(
            f"{where}: unknown setting(s) {sorted(unknown)}; known: {sorted(BY_KEY)}"
        )
    return out


def config_from_mapping(data: Mapping[str, Any], source: str = "config") -> RunConfig:
    """Build a `RunConfig` from settings under their keys (aliases accepted); unknown keys
    and bad values raise `ConfigError` naming them and ``source``."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: expected a table of settings, got {type(data).__name__}")
    try:
        values = normalise_keys(data, "settings")
        for key, value in values.items():
            if isinstance(value, float) and not math.isfinite(value):
                raise ConfigError(f"{key} must be finite, got {value!r}")
        return RunConfig(**{BY_KEY[k].attr: _copy(v) for k, v in values.items()})
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def _copy(value: Any) -> Any:
    if isinstance(value, list):
        return list(value)
    return dict(value) if isinstance(value, dict) else value


def read_toml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The table of a TOML file; errors name the file and the problem."""
    p = Path(path)
    try:
        text = p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"config file {str(p)!r}: cannot read ({exc.strerror or exc})") from None
    try:
        return tomllib.loads(text.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {str(p)!r}: not UTF-8 text ({exc.reason})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {str(p)!r}: invalid TOML ({exc})") from None
    except RecursionError:
        raise ConfigError(f"config file {str(p)!r}: nested too deeply") from None


def load_config(path: str | os.PathLike[str]) -> RunConfig:
    """Read a TOML run configuration; errors name the file and the problem."""
    data = read_toml(path)
    return config_from_mapping(data, f"config file {str(Path(path))!r}")


def parse_pair(text: str, flag: str) -> tuple[str, Any]:
    """``KEY=VALUE`` of a table flag; VALUE is read as a TOML value, else as text."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"{flag}: expected KEY=VALUE, got {text!r}")
    raw = raw.strip()
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key, value


# --- resolution: file + flags -> config, with the name of each setting's source --------


@dataclass
class Resolved:
    """The settings of a run and where each came from.

    Attributes:
        config: The settings.
        from_flags: Keys given as flags.
        from_file: Keys given in the ``--config`` file.
        file: That file, if any.
    """

    config: RunConfig
    from_flags: set[str] = field(default_factory=set)
    from_file: set[str] = field(default_factory=set)
    file: str | None = None

    def name(self, key: str) -> str:
        """How the user gave setting ``key``: ``--budget``, or ``budget in FILE``."""
        if key in self.from_flags or self.file is None or key not in self.from_file:
            return BY_KEY[key].flag if key in BY_KEY else key
        return f"{key} in {self.file}"


#: The strategy of synchronous batches when none is named: the quality k-DPP, which an
#: NB-201 study (B = 5 and 10, both datasets, fresh seeds) found at least as good as
#: joint Thompson sampling at every checkpoint of B = 10.
BATCH_STRATEGY = "gp-tw-kdpp"


def _batches_of_one_objective(cfg: RunConfig) -> bool:
    """Whether ``cfg`` asks for synchronous batches (an explicit ``batch`` above one) of
    one objective at full fidelity, without choosing ``gp-tw``'s rule (``acquisition``)."""
    return (cfg.batch is not None and cfg.batch > 1 and not cfg.asynchronous
            and cfg.acquisition is None and "acquisition" not in cfg.strategy_options
            and len(cfg.objectives) <= 1
            and cfg.fidelity_schedule is None)


def resolve(file: str | None, flags: Mapping[str, Any]) -> Resolved:
    """Settings from the TOML ``file`` (if any) overridden by ``flags`` (canonical keys;
    ``None`` values are flags not given). Table flags add to the file's table.

    Raises:
        ConfigError: naming the flag or the file key that is wrong.
    """
    given = {k: v for k, v in flags.items() if v is not None}
    file_data: dict[str, Any] = {}
    if file is not None:
        file_data = normalise_keys(read_toml(file), f"config file {file!r}")
    merged = dict(file_data)
    for key, value in given.items():
        base = file_data.get(key)
        if BY_KEY[key].kind == "table" and isinstance(base, dict):
            merged[key] = {**base, **value}
        elif BY_KEY[key].kind == "list" and isinstance(base, list):
            # Flags add to the file's list, as table flags add to its table.
            merged[key] = [*base, *(v for v in value if v not in base)]
        else:
            merged[key] = value
    cfg = RunConfig.__new__(RunConfig)  # validated below, naming each setting's source
    for f in fields(RunConfig):
        setattr(cfg, f.name, f.default_factory() if f.default_factory is not MISSING  # type: ignore[misc]
                else f.default)
    for key, value in merged.items():
        setattr(cfg, BY_KEY[key].attr, _copy(value))
    if "strategy" not in merged and _batches_of_one_objective(cfg):
        cfg.strategy = BATCH_STRATEGY
    res = Resolved(cfg, set(given), set(file_data), file)
    cfg.validate(res.name)
    return res


def ineffective(cfg: RunConfig, keys: set[str]) -> list[tuple[str, str]]:
    """The settings among ``keys`` that have no effect with the others, and why."""
    out: list[tuple[str, str]] = []
    train = cfg.evaluator == "train"
    for key in sorted(keys):
        reason = None
        if key in ("device", "epochs", "train") and not train:
            reason = "applies to --evaluator train only"
        elif key == "fidelity" and not (cfg.evaluator == "table" and cfg.space == "nb201"):
            reason = "applies to --evaluator table --space nb201 only"
        elif key in ("min-epochs", "eta") and cfg.fidelity_schedule is None:
            reason = "applies with --fidelity-schedule only"
        elif key == "data-dir" and train and cfg.resolved_dataset == "digits":
            reason = ("the digits are bundled with scikit-learn; --data-dir applies to "
                      "cifar10/cifar100 training and to tables")
        elif key == "acquisition" and cfg.strategy not in ACQUISITION_STRATEGIES:
            reason = (f"chooses the rule of --strategy {' or '.join(ACQUISITION_STRATEGIES)} "
                      f"only, not of {cfg.strategy} (give its settings with "
                      "--strategy-options)")
        elif key == "async" and cfg.asynchronous and cfg.batch == 1:
            reason = "has no effect with one evaluation in flight (--batch 1)"
        elif key == "max-retries" and not train and cfg.max_retries > 0:
            reason = ("has no effect with --evaluator table: a table answers the same every "
                      "time")
        if reason is not None:
            out.append((key, reason))
    return out
