"""One architecture's numbers, taken from its official ``ArchResults`` state dicts.

Both official formats store, per architecture and training schedule (``hp``: ``"12"``
or ``"200"`` epochs), the state of a ``nas_201_api``/``nats_bench`` ``ArchResults``:

``{"arch_index": int, "arch_str": str, "dataset_seed": {dataset: [seed, ...]},
"all_results": {(dataset, seed): ResultsCount state}, ...}``

and each ``ResultsCount`` state holds one training run: ``epochs``,
``train_acc1es``/``train_times`` (``{epoch: value}``), ``eval_acc1es``
(``{"<set>@<epoch>": accuracy}``, sets ``x-valid``, ``x-test``, ``ori-test``) and
``arch_config`` (``channel``, ``num_cells``). `extract` averages every seed the way the
official ``get_more_info(..., hp, is_random=False)`` does: the plain mean, in the order
of ``dataset_seed``, of each run's value after the last epoch (``sum / len``, which is
also what ``np.mean`` gives for so few values).

Each ``ResultsCount`` state also holds the network's ``params`` and ``flop`` (millions)
and ``latency`` (a list of seconds, or None). `extract` reads them from the 200-epoch
runs, which every file has for all four datasets (NAS-Bench-201 v1_0 has 12-epoch runs
on cifar10-valid only), and combines the seeds the way the official
``get_cost_info(index, dataset, hp)`` (``ArchResults.get_compute_costs``) does: the mean
over seeds of params and of FLOPs, and the mean of the runs' latencies that are positive
(each run's latency being the mean of its list; None when no run has one). NATS-Bench's
API (``nats_bench`` >= v1.6) first replaces per-seed params or FLOPs that disagree in
their fifth decimal by seed 888's value (a fix for a weight-migration bug); `extract`
does so for the files that API reads (``nats_cost_fix``).
"""

from __future__ import annotations

import math
import operator
from array import array
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bo_nas.encodings import InvalidArchitectureError, format_nb201, parse_nb201

from ._errors import SourceFileError

#: The datasets of the 200-epoch tables, in the official order.
DATASETS: tuple[str, ...] = ("cifar10-valid", "cifar10", "cifar100", "ImageNet16-120")
#: Per dataset, its validation set (None: it has none) and its test set, as the official
#: ``get_more_info`` names them: cifar10-valid is tested on the CIFAR-10 test set
#: (``ori-test``); cifar10 (trained on train+valid) has no validation set; CIFAR-100 and
#: ImageNet16-120 split their test set into ``x-valid`` and ``x-test``.
SETS: Mapping[str, tuple[str | None, str]] = {
    "cifar10-valid": ("x-valid", "ori-test"),
    "cifar10": (None, "ori-test"),
    "cifar100": ("x-valid", "x-test"),
    "ImageNet16-120": ("x-valid", "x-test"),
}
#: Datasets with per-epoch validation curves (all but cifar10, which has no validation set).
CURVE_DATASETS: tuple[str, ...] = ("cifar10-valid", "cifar100", "ImageNet16-120")
#: Datasets of the 12-epoch columns of ``nb201_test_12ep_200ep.csv``.
SHORT_DATASETS: tuple[str, ...] = ("cifar10", "cifar100")
#: State keys the import never reads: the streaming reader may leave them empty.
UNREAD_KEYS = frozenset({"train_acc5es", "train_losses", "eval_losses", "eval_times",
                         "net_state_dict"})


@dataclass
class Final:
    """Seed-averaged results after the last epoch of one dataset and schedule."""

    train: float
    valid: float | None
    test: float
    seeds: int


@dataclass
class Cost:
    """Compute costs of one dataset's network, as the official ``get_cost_info`` gives.

    Attributes:
        params: Parameters, millions.
        flops: FLOPs per image, millions.
        latency: Seconds per batch (the API: a batch of 256), None when no run has one.
    """

    params: float
    flops: float
    latency: float | None


@dataclass
class ArchRecord:
    """What the tables need of one architecture.

    Attributes:
        index: Official index.
        string: Official string, normalised (`bo_nas.encodings.format_nb201`).
        config: Per dataset, the network's (C, N): channels and cells per stage.
        full: Per dataset, results after 200 epochs.
        short: Per dataset present, results after 12 epochs (12-epoch schedule).
        costs: Per dataset, params, FLOPs and latency (from the 200-epoch runs).
        curves: Per dataset of `CURVE_DATASETS`, per epoch of the 200-epoch schedule: the
            validation accuracy and the training seconds of that epoch (NaN where the
            file has no times), each averaged over seeds.
        curve_gaps: Per dataset whose curve is incomplete in the file (some epoch not
            evaluated), why: that curve is left out, not the architecture.
    """

    index: int
    string: str
    config: dict[str, tuple[int, int]] = field(default_factory=dict)
    full: dict[str, Final] = field(default_factory=dict)
    short: dict[str, Final] = field(default_factory=dict)
    costs: dict[str, Cost] = field(default_factory=dict)
    curves: dict[str, tuple[array, array]] = field(default_factory=dict)
    curve_gaps: dict[str, str] = field(default_factory=dict)


class _Where:
    """Builds messages that name the file, the architecture and the path to a value."""

    def __init__(self, source: str, index: int) -> None:
        self.source, self.index = source, index

    def error(self, path: str, what: str) -> SourceFileError:
        return SourceFileError(f"{self.source}: architecture {self.index}: {path}: {what}")


def _get(where: _Where, path: str, container: Any, key: Any, kind: type | tuple[type, ...]
         ) -> Any:
    if not isinstance(container, Mapping):
        raise where.error(path, f"expected a dict, got {type(container).__name__}")
    if key not in container:
        keys = sorted(map(repr, container))[:12]
        raise where.error(path, f"no {key!r} (has {', '.join(keys)})")
    value = container[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise where.error(f"{path}[{key!r}]",
                          f"expected {getattr(kind, '__name__', kind)}, got "
                          f"{type(value).__name__}")
    return value


def _number(where: _Where, path: str, value: Any, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise where.error(path, f"expected a number, got {value!r:.60}")
    x = float(value)
    if not (math.isfinite(x) and low <= x <= high):
        raise where.error(path, f"{x!r} is outside [{low}, {high}]")
    return x


def _mean(values: list[float]) -> float:
    # The official APIs: sum(values) / len(values) (NATS) or np.mean (NB-201), which are
    # the same number for fewer than 8 values (numpy then sums in order).
    return sum(values) / len(values)


def _runs(where: _Where, hp: str, state: Any, dataset: str) -> tuple[list[Any], str]:
    """The runs (ResultsCount states) of ``dataset``, in the order of ``dataset_seed``."""
    base = f"'{hp}' epochs"
    seeds_of = _get(where, base, state, "dataset_seed", Mapping)
    if dataset not in seeds_of:
        raise where.error(base, f"no results for dataset {dataset!r} (has "
                          f"{sorted(map(str, seeds_of))})")
    seeds = seeds_of[dataset]
    if not isinstance(seeds, (list, tuple)) or not seeds:
        raise where.error(f"{base}, dataset_seed[{dataset!r}]",
                          f"expected a non-empty list of seeds, got {seeds!r:.60}")
    results = _get(where, base, state, "all_results", Mapping)
    runs = []
    for seed in seeds:
        key = (dataset, seed)
        run = results.get(key) if isinstance(results, Mapping) else None
        if not isinstance(run, Mapping):
            raise where.error(f"{base}, all_results",
                              f"no results for {key!r}, a seed listed in dataset_seed")
        runs.append(run)
    return runs, base


def _final(where: _Where, hp: str, state: Any, dataset: str, epochs: int) -> Final:
    runs, base = _runs(where, hp, state, dataset)
    valid_set, test_set = SETS[dataset]
    train, valid, test = [], [], []
    for run in runs:
        path = f"{base}, {dataset} seed {run.get('seed', '?')}"
        n = _get(where, path, run, "epochs", int)
        if n != epochs:
            raise where.error(path, f"trained {n} epochs, expected {epochs}")
        last = epochs - 1
        accs = _get(where, path, run, "train_acc1es", Mapping)
        train.append(_number(where, f"{path}, train_acc1es[{last}]",
                             _get(where, f"{path}, train_acc1es", accs, last, (int, float)),
                             0.0, 100.0))
        evals = _get(where, path, run, "eval_acc1es", Mapping)
        for name, out in ((valid_set, valid), (test_set, test)):
            if name is not None:
                key = f"{name}@{last}"
                out.append(_number(where, f"{path}, eval_acc1es[{key!r}]",
                                   _get(where, f"{path}, eval_acc1es", evals, key,
                                        (int, float)), 0.0, 100.0))
    return Final(_mean(train), _mean(valid) if valid else None, _mean(test), len(runs))


#: The seed whose params/FLOPs ``nats_bench`` trusts when the seeds disagree.
_NATS_TRUSTED_SEED = 888


def _nats_fixed(where: _Where, path: str, what: str, values: list[float],
                seeds: list[Any]) -> list[float]:
    """``values`` (one per seed, in ``seeds`` order) as ``nats_bench``'s
    ``get_compute_costs`` uses them: seed 888's alone when they differ in the fifth
    decimal (its ``fix_legacy_issue``), else all of them."""
    if len(values) > 1 and len({f"{x:.5f}" for x in values}) > 1:
        if _NATS_TRUSTED_SEED not in seeds:
            # The official API fails here too (list.index): no number to mirror.
            raise where.error(path, f"{what} differ between seeds {seeds} "
                              f"({', '.join(map(repr, values))}) and there is no seed "
                              f"{_NATS_TRUSTED_SEED}, whose value NATS-Bench takes then")
        return [values[seeds.index(_NATS_TRUSTED_SEED)]]
    return values


def _run_latency(where: _Where, path: str, run: Mapping[str, Any]) -> float:
    """A run's latency as ``ResultsCount.get_latency`` gives it: the mean of its list,
    or -1.0 (not available) when it has none."""
    latency = run.get("latency")
    if latency is None:
        return -1.0
    if not isinstance(latency, (list, tuple)):
        raise where.error(f"{path}, latency",
                          f"expected a list of seconds or None, got {latency!r:.60}")
    if not latency:
        # The official API would divide by zero; an empty list measures nothing.
        return -1.0
    values = [_number(where, f"{path}, latency[{k}]", x, -math.inf, math.inf)
              for k, x in enumerate(latency)]
    return sum(values) / len(values)


def _cost(where: _Where, state: Any, dataset: str, nats_cost_fix: bool) -> Cost:
    runs, base = _runs(where, "200", state, dataset)
    seeds = list(state["dataset_seed"][dataset])  # checked by _runs; the runs' order
    path = f"{base}, {dataset}"
    params, flops, latencies = [], [], []
    for run in runs:
        at = f"{path} seed {run.get('seed', '?')}"
        params.append(_number(where, f"{at}, params",
                              _get(where, at, run, "params", (int, float)), 0.0, math.inf))
        flops.append(_number(where, f"{at}, flop",
                             _get(where, at, run, "flop", (int, float)), 0.0, math.inf))
        latencies.append(_run_latency(where, at, run))
    if nats_cost_fix:
        # The official order: FLOPs, then params, each on its own.
        flops = _nats_fixed(where, path, "FLOPs", flops, seeds)
        params = _nats_fixed(where, path, "params", params, seeds)
    measured = [x for x in latencies if x > 0]
    return Cost(_mean(params), _mean(flops), _mean(measured) if measured else None)


class _CurveGap(SourceFileError):
    """A curve lacks an epoch: the curve is dropped, the architecture's tables are not."""


def _values(where: _Where, path: str, container: Mapping[Any, Any], keys: tuple[Any, ...],
            high: float) -> array:
    """``container[k]`` for every ``k`` of ``keys`` (in bulk: 200 per curve), checked to be
    numbers in [0, high].

    Raises:
        _CurveGap: for a missing key.
        SourceFileError: for a value that is not such a number.
    """
    try:
        values = array("d", operator.itemgetter(*keys)(container))
    except KeyError:
        missing = next(k for k in keys if k not in container)
        raise _CurveGap(f"{where.source}: architecture {where.index}: {path}: no "
                        f"{missing!r} (a curve needs every epoch {keys[0]!r}..{keys[-1]!r})"
                        ) from None
    except TypeError:
        bad = next(v for v in (container[k] for k in keys)
                   if isinstance(v, bool) or not isinstance(v, (int, float)))
        raise where.error(path, f"expected numbers, got {bad!r:.60}") from None
    if not all(0.0 <= x <= high for x in values):  # False for NaN too
        bad_x = next(x for x in values if not 0.0 <= x <= high)
        raise where.error(path, f"{bad_x!r} is outside [0, {high}]")
    return values


_EPOCHS = tuple(range(200))
_VALID_KEYS = tuple(f"x-valid@{e}" for e in _EPOCHS)


def _curve(where: _Where, state: Any, dataset: str) -> tuple[array, array]:
    runs, base = _runs(where, "200", state, dataset)
    valid = [0.0] * 200
    times: list[float] | None = [0.0] * 200
    for run in runs:
        path = f"{base}, {dataset} seed {run.get('seed', '?')}"
        v = _values(where, f"{path}, eval_acc1es", run["eval_acc1es"], _VALID_KEYS, 100.0)
        # Summed in seed order from 0.0, as sum() does: the same number as _mean.
        valid = [a + b for a, b in zip(valid, v)]
        ts = run.get("train_times")
        if ts is None or times is None:
            times = None  # a run without times: the curve has none
            continue
        if not isinstance(ts, Mapping):
            raise where.error(f"{path}, train_times",
                              f"expected a dict, got {type(ts).__name__}")
        try:
            t = _values(where, f"{path}, train_times", ts, _EPOCHS, math.inf)
        except _CurveGap:
            times = None  # some epochs untimed: no times rather than wrong ones
            continue
        times = [a + b for a, b in zip(times, t)]
    n = len(runs)
    return (array("d", [x / n for x in valid]),
            array("d", [x / n for x in times] if times is not None else [math.nan] * 200))


def extract(source: str | Path, index: object, hp_states: Mapping[str, Any], *,
            nats_cost_fix: bool = False) -> ArchRecord:
    """The numbers of one architecture.

    Args:
        source: The file (or archive member), for messages.
        index: Its official index, as the file keys it.
        hp_states: ``{"200": ArchResults state, "12": ArchResults state}`` ("12" may be
            missing; every other key is ignored).
        nats_cost_fix: Combine per-seed params and FLOPs as ``nats_bench`` does (for the
            NATS-Bench archive) rather than as ``nas_201_api`` does (for the ``.pth``).

    Raises:
        SourceFileError: naming the file, the architecture and the missing or bad value.
    """
    src = str(source)
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < 5**6:
        raise SourceFileError(f"{src}: architecture index {index!r:.60} is not an integer "
                              f"in [0, {5**6})")
    where = _Where(src, index)
    if "200" not in hp_states:
        raise where.error("results", f"no 200-epoch results (has {sorted(hp_states)})")
    full = hp_states["200"]
    arch = _get(where, "'200' epochs", full, "arch_str", str)
    try:
        string = format_official(arch)
    except InvalidArchitectureError as exc:
        raise where.error("'200' epochs, arch_str", str(exc)) from None
    stored = full.get("arch_index") if isinstance(full, Mapping) else None
    if stored is not None and stored != index:
        raise where.error("'200' epochs, arch_index", f"{stored!r}, but the file lists "
                          f"these results under index {index}")
    record = ArchRecord(index=index, string=string)
    for dataset in DATASETS:
        record.full[dataset] = _final(where, "200", full, dataset, 200)
        runs, base = _runs(where, "200", full, dataset)
        cfg = _get(where, f"{base}, {dataset}", runs[0], "arch_config", Mapping)
        record.config[dataset] = (
            int(_get(where, f"{base}, {dataset}, arch_config", cfg, "channel", int)),
            int(_get(where, f"{base}, {dataset}, arch_config", cfg, "num_cells", int)),
        )
        record.costs[dataset] = _cost(where, full, dataset, nats_cost_fix)
    for dataset in CURVE_DATASETS:
        try:
            record.curves[dataset] = _curve(where, full, dataset)
        except _CurveGap as gap:
            record.curve_gaps[dataset] = str(gap)
    short = hp_states.get("12")
    if short is not None:
        seeds = _get(where, "'12' epochs", short, "dataset_seed", Mapping)
        for dataset in SHORT_DATASETS:
            if dataset in seeds:
                record.short[dataset] = _final(where, "12", short, dataset, 12)
    return record


def format_official(arch: str) -> str:
    """The normalised official string of an NB-201 string (refusing a malformed one)."""
    return format_nb201(parse_nb201(arch))
