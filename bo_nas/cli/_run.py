"""``bo-nas run`` and ``bo-nas resume``: a campaign from settings, observed in the terminal."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import inspect
import logging
import os
import sys
import time
from collections.abc import Iterator
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

from bo_nas._config import (
    BY_KEY,
    SETTINGS,
    ConfigError,
    Resolved,
    RunConfig,
    config_from_mapping,
    ineffective,
    parse_pair,
    resolve,
)
from bo_nas.campaign import Campaign, InlineExecutor, Trial, TrialState, local_executor
from bo_nas.campaign._store import (
    StoreExistsError,
    StoreLockedError,
    read_snapshot,
)
from bo_nas.evaluators._tables import DATA_DIR_ENV, BenchmarkFileNotFoundError, absolute_path
from bo_nas.spaces import SearchSpace, distinct_networks

from . import EXIT_NO_RESULT, EXIT_OK, interrupted_status
from ._progress import progress_bar
from ._report import write_figures

logger = logging.getLogger("bo_nas.cli")

#: The store's entry holding the run's settings (`RunConfig.to_dict`) and its workers.
RUN_META = "cli_run"

#: Settings of `TrainingEvaluator` that ``[train]`` may not set: they are flags.
_TRAIN_RESERVED = {"space", "dataset", "data_dir", "device", "seed"}


# --- settings ------------------------------------------------------------------------


def settings_from_args(args: argparse.Namespace) -> Resolved:
    """The run's settings: ``--config`` overridden by the flags given.

    A flag with no effect is refused; a file key with none is reported and dropped.
    """
    flags: dict[str, Any] = {}
    for s in SETTINGS:
        value = getattr(args, s.attr, None)
        if s.kind == "table" and value is not None:
            value = dict(parse_pair(text, s.flag) for text in value)
        flags[s.key] = value
    res = resolve(args.config, flags)
    cfg = res.config
    for key, reason in ineffective(cfg, res.from_flags):
        raise ConfigError(f"{res.name(key)} {reason}")
    defaults = RunConfig()
    for key, reason in ineffective(cfg, res.from_file - res.from_flags):
        logger.warning("%s %s; ignored", res.name(key), reason)
        attr = BY_KEY[key].attr
        setattr(cfg, attr, getattr(defaults, attr))
        res.from_file.discard(key)
    return res


def _gpu_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def _workers(cfg: RunConfig) -> int:
    if cfg.batch:
        return cfg.batch
    if cfg.evaluator == "table":
        return 1
    if cfg.resolved_device != "cpu" and _gpu_count():
        return _gpu_count()
    from bo_nas.training import suggest_cpu_settings

    return suggest_cpu_settings().workers


def _data_dir(cfg: RunConfig, res: Resolved) -> str | None:
    """The data folder as an absolute path, checked; ``None`` when not given."""
    if cfg.data_dir is None:
        return None
    path = absolute_path(cfg.data_dir)
    if not os.path.isdir(path):
        raise BenchmarkFileNotFoundError(
            f"{res.name('data-dir')} {cfg.data_dir}: no such folder"
            + (f" ({path})" if path != cfg.data_dir else "")
        )
    return path


def _table_evaluator(cfg: RunConfig, data_dir: str | None) -> Any:
    from bo_nas.evaluators import NB101Benchmark, NB201Benchmark

    if data_dir is None and not os.environ.get(DATA_DIR_ENV, "").strip():
        raise BenchmarkFileNotFoundError(
            f"--evaluator table needs the benchmark tables: give --data-dir DIR (the folder "
            f"holding nb201/ and nb101/) or set ${DATA_DIR_ENV}"
        )
    if cfg.space == "nb201":
        return NB201Benchmark(cfg.resolved_dataset, data_dir, cfg.resolved_fidelity)
    return NB101Benchmark(data_dir)


def check_training_data(dataset: str, data_dir: str | None, flag: str = "--data-dir") -> None:
    """Fail now, naming the folder, rather than at every evaluation."""
    if dataset == "digits":
        return
    if data_dir is None:
        raise _missing_training_data(
            f"--dataset {dataset} needs {flag} DIR: the folder of the CIFAR python batches"
        )
    from bo_nas.training._data import _cifar_folder

    _cifar_folder(dataset, data_dir)


def _missing_training_data(message: str) -> Exception:
    from bo_nas.training._data import DatasetNotFoundError

    return DatasetNotFoundError(message)


def _train_options(cfg: RunConfig, res: Resolved) -> dict[str, Any]:
    from bo_nas.evaluators import TrainingEvaluator

    params = inspect.signature(TrainingEvaluator.__init__).parameters
    known = sorted(set(params) - {"self"} - _TRAIN_RESERVED)
    options = dict(cfg.train)
    for key in options:
        if key in _TRAIN_RESERVED:
            flag = BY_KEY["data-dir" if key == "data_dir" else key].flag if key in (
                "dataset", "data_dir", "device", "seed") else "--space"
            raise ConfigError(f"{res.name('train')} {key}: give it as {flag}, not here")
        if key not in known:
            raise ConfigError(
                f"{res.name('train')} {key}: not a training setting; known: {', '.join(known)}"
            )
    if cfg.epochs is not None:
        options["epochs"] = cfg.epochs
    return options


def _training_evaluator(cfg: RunConfig, res: Resolved, data_dir: str | None, workers: int) -> Any:
    from bo_nas.evaluators import TrainingEvaluator
    from bo_nas.training import suggest_cpu_settings

    check_training_data(cfg.resolved_dataset, data_dir)
    options = _train_options(cfg, res)
    device = cfg.resolved_device
    on_gpu = device == "cuda" or (device == "auto" and _gpu_count() > 0)
    if not on_gpu:
        cpu = suggest_cpu_settings(workers)
        options.setdefault("threads", cpu.threads)
        options.setdefault("batch_size", cpu.batch_size)
    try:
        return TrainingEvaluator(cfg.space, cfg.resolved_dataset, data_dir, device=device,
                                 seed=cfg.seed, **options)
    except ValueError as exc:
        where = res.name("epochs") if "epochs" in str(exc) and cfg.epochs else res.name("train")
        raise ConfigError(f"{where}: {exc}") from None


def _strategy_reason(name: str, key: str, exc: Exception) -> str:
    from bo_nas._registry import strategy_from_config

    text = str(exc)
    if any(m in text for m in ("takes no", "unknown setting", "bad settings", "unexpected")):
        own = sorted(set(strategy_from_config({"name": name}).to_config()) - {"name"})
        return (f"--strategy {name} has no setting {key!r}"
                + (f" (its settings: {', '.join(own)})" if own else " (it takes none)"))
    return f"refused by --strategy {name}: {text}"


def build_strategy(cfg: RunConfig, res: Resolved) -> Any:
    """The strategy of the settings; errors name the flag or file key at fault."""
    from bo_nas._registry import _STRATEGIES, _load_builtins, strategy_from_config

    _load_builtins()
    if cfg.strategy not in _STRATEGIES:
        raise ConfigError(
            f"{res.name('strategy')}: unknown strategy {cfg.strategy!r}; known: "
            f"{', '.join(sorted(_STRATEGIES))}"
        )
    options = dict(cfg.strategy_options)
    if cfg.acquisition is not None:
        options["acquisition"] = cfg.acquisition
    try:
        return strategy_from_config({"name": cfg.strategy, **options})
    except ValueError as exc:
        for key, value in options.items():
            try:
                strategy_from_config({"name": cfg.strategy, key: value})
            except ValueError as one:
                source = (res.name("acquisition") if key == "acquisition" and cfg.acquisition
                          else f"{res.name('strategy-options')} {key}")
                raise ConfigError(
                    f"{source} = {value!r}: {_strategy_reason(cfg.strategy, key, one)}"
                ) from None
        raise ConfigError(
            f"{res.name('strategy-options')}: --strategy {cfg.strategy} refuses these "
            f"settings together ({exc})"
        ) from None


def clamp_budget(budget: int, space: SearchSpace, flag: str = "--budget") -> int:
    """``budget``, at most the distinct networks of ``space`` (saying so when clamped)."""
    size = distinct_networks(space)
    if size is not None and budget > size:
        label = getattr(space, "label", None) or f"the {space.name} space"
        logger.warning("%s %s is more than the %s distinct networks of %s; clamped to %s",
                       flag, f"{budget:,}", f"{size:,}", label, f"{size:,}")
        return size
    return budget


# --- stores ----------------------------------------------------------------------------


def default_store_names(out: Path) -> Iterator[Path]:
    """Store names under ``out``: the time to the second, this process's id, and a count
    should that name be taken (several campaigns may start in the same second)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    yield out / f"run-{stamp}-{os.getpid()}.sqlite"
    for n in range(2, 1000):
        yield out / f"run-{stamp}-{os.getpid()}-{n}.sqlite"


def _new_campaign(space: Any, evaluator: Any, strategy: Any, cfg: RunConfig) -> Campaign:
    def make(path: Path) -> Campaign:
        return Campaign(space, evaluator, strategy, seed=cfg.seed, store=path,
                        max_retries=cfg.max_retries, objectives=cfg.objectives or None,
                        constraints=cfg.constraints or None, fidelity=cfg.schedule())

    if cfg.store is not None:
        path = Path(absolute_path(cfg.store))
        try:
            return make(path)
        except StoreExistsError:
            raise StoreExistsError(
                f"store {path} already exists: continue it with `bo-nas resume {path}`, or "
                "give another --store"
            ) from None
    out = Path(absolute_path(cfg.out))
    for path in default_store_names(out):
        try:
            return make(path)
        except (StoreExistsError, StoreLockedError):
            continue  # taken by a campaign that started at the same moment
    raise StoreExistsError(f"no free store name in {out}; give --store")  # pragma: no cover


# --- running ---------------------------------------------------------------------------


@contextlib.contextmanager
def _executor(campaign: Campaign, workers: int) -> Iterator[Executor]:
    # Tabular look-ups take microseconds: worker processes would only add overhead.
    if workers <= 1 or campaign.evaluator.to_config().get("kind") != "training":
        yield InlineExecutor()
        return
    pool = local_executor(workers)
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def execute(
    campaign: Campaign, budget: int, workers: int, asynchronous: bool, quiet: bool, out: Path
) -> int:
    """Run to ``budget`` with a progress bar, then print the outcome and write figures."""
    store_path = campaign.store.path
    history = campaign.history
    done = len(history.complete) + len(history.failed)
    label = f"{campaign.strategy.name} on {campaign.space.name}"
    with progress_bar(budget, done, label, quiet) as bar:

        def on_trial(trial: Trial) -> None:
            best = campaign.best
            # With fidelities the bar counts networks: a promoted trial is not a new one.
            if campaign.fidelity is None or len(trial.rungs) == 1 or (
                trial.state is TrialState.FAILED and not trial.rungs
            ):
                bar.update(1)
            if best is not None and best.result is not None:
                bar.set_postfix_str(f"best val {best.result.val_accuracy:.2f}%")

        try:
            with _executor(campaign, workers) as executor:
                campaign.run(budget, batch_size=max(1, min(workers, budget)),
                             executor=executor, asynchronous=asynchronous, callback=on_trial)
        except KeyboardInterrupt as exc:
            what = f"stopped by {exc}" if str(exc) else "interrupted"
            print(f"\n{what}; continue with: bo-nas resume {store_path}", file=sys.stderr)
            return interrupted_status(exc)
    return _print_outcome(campaign, budget, quiet, out)


def _describe(campaign: Campaign, trial: Trial) -> str:
    to_string = getattr(campaign.space, "to_string", None)
    if to_string is not None:
        try:
            return str(to_string(trial.arch))
        except ValueError:
            pass
    return trial.arch.to_json()


def _print_outcome(campaign: Campaign, budget: int, quiet: bool, out: Path) -> int:
    history = campaign.history
    best = campaign.best
    n_ok, n_failed = len(history.complete), len(history.failed)
    lines = [f"evaluations: {n_ok} complete, {n_failed} failed"]
    if campaign.fidelity is not None:
        final = campaign.fidelity.max_epochs
        trained = sum(max(t.rungs, default=0) for t in history)
        lines = [f"networks: {len(history)}; {n_ok} trained to {final} epochs, "
                 f"{len(history.paused)} stopped early, {n_failed} failed; "
                 f"{trained:,} epochs trained ({trained / max(1, len(history) * final):.0%} "
                 "of training every network fully)"]
        n_ok = len(history) - n_failed
    if n_ok + n_failed < budget:
        logger.warning("the strategy had nothing new to propose after %d of %d evaluations",
                       n_ok + n_failed, budget)
    figures: list[Path] = []
    if len(campaign.objectives) > 1:
        front = campaign.pareto_front
        names = ", ".join(str(o) for o in campaign.objectives)
        lines.append(f"Pareto front: {len(front)} architectures ({names}); "
                     "`bo-nas status STORE` lists them")
    if campaign.constraints and best is None and history.complete:
        lines.append("no evaluated architecture meets the constraints "
                     f"({', '.join(map(str, campaign.constraints))})")
    if best is not None and best.result is not None:
        r = best.result
        lines.append(f"best architecture (trial {best.number}): {_describe(campaign, best)}")
        acc = f"  validation accuracy {r.val_accuracy:.2f}%"
        if r.test_accuracy is not None:
            acc += f", test accuracy {r.test_accuracy:.2f}%"
        lines.append(acc)
        try:
            figures = write_figures(campaign.store.path, history, out,
                                    objectives=campaign.objectives,
                                    constraints=campaign.constraints)
        except Exception as exc:  # figures are a convenience; the store has the results
            logger.warning("could not write figures: %s", exc)
    for f in figures:
        lines.append(f"figure: {f}")
    lines.append(f"store: {campaign.store.path}")
    if not quiet:
        print("\n".join(lines))
    else:
        print(campaign.store.path)
    if n_ok == 0 and n_failed > 0:
        last = history.failed[-1]
        print(f"bo-nas: error: no evaluation succeeded ({n_failed} failed); the last: "
              f"trial {last.number}: {last.error}", file=sys.stderr)
        return EXIT_NO_RESULT
    if n_failed:
        logger.warning("%d of %d evaluations failed (`bo-nas status %s` lists the latest)",
                       n_failed, n_ok + n_failed, campaign.store.path)
    return EXIT_OK


def _run_record(cfg: RunConfig, workers: int, budget: int, store: Path, out: Path) -> dict:
    record = cfg.to_dict()
    record.update(budget=budget, store=str(store), out=str(out), workers=workers)
    if cfg.data_dir is not None:
        record["data-dir"] = absolute_path(cfg.data_dir)
    return record


def cmd_run(args: argparse.Namespace) -> int:
    res = settings_from_args(args)
    cfg = res.config
    if cfg.store is not None and Path(cfg.store).exists():
        path = absolute_path(cfg.store)
        raise StoreExistsError(
            f"store {path} already exists: continue it with `bo-nas resume {path}`, or give "
            "another --store"
        )
    strategy = build_strategy(cfg, res)  # before any data is read: fail fast
    data_dir = _data_dir(cfg, res)
    workers = _workers(cfg)
    if cfg.evaluator == "table":
        evaluator = _table_evaluator(cfg, data_dir)
        space = evaluator.search_space()
        if evaluator.sample:
            logger.warning("the %s table is a sample: the campaign searches only its %s "
                           "networks", cfg.space, f"{len(space):,}")
    else:
        from bo_nas.spaces import space_from_config

        space = space_from_config({"name": cfg.space})
        evaluator = _training_evaluator(cfg, res, data_dir, workers)
    budget = clamp_budget(cfg.budget, space, res.name("budget"))
    if workers > budget:
        workers = budget
    campaign = _new_campaign(space, evaluator, strategy, cfg)
    with campaign:
        store = campaign.store.path
        # Figures: into --out when given, else beside a --store, else into the default.
        given_out = "out" in res.from_flags or "out" in res.from_file
        out = store.parent if cfg.store is not None and not given_out else Path(
            absolute_path(cfg.out))
        campaign.store.set_meta(RUN_META, _run_record(cfg, workers, budget, store, out))
        if not args.quiet:
            print(f"campaign store: {store}", file=sys.stderr)
        return execute(campaign, budget, workers, cfg.asynchronous, args.quiet, out)


def stored_run(meta: dict[str, Any]) -> tuple[RunConfig | None, dict[str, Any]]:
    """The settings a store's run was started with (older stores: their own names)."""
    record = dict(meta.get(RUN_META) or {})
    extra = {k: record.pop(k) for k in ("workers",) if k in record}
    if record.get("batch") == 0:  # "auto" in stores of earlier releases
        record.pop("batch")
    try:
        return config_from_mapping(record, "stored settings"), extra
    except ConfigError:
        return None, {**extra, **{k: v for k, v in record.items() if k in ("budget",)}}


def _relocated_evaluator(config: dict[str, Any], data_dir: str) -> Any:
    from bo_nas._registry import evaluator_from_config

    path = absolute_path(data_dir)
    if not os.path.isdir(path):
        raise BenchmarkFileNotFoundError(f"--data-dir {data_dir}: no such folder")
    ev = dict(config.get("evaluator") or {})
    if "data_dir" not in ev and ev.get("kind") not in ("nb201_table", "nb101_table",
                                                          "training"):
        raise ConfigError(
            f"--data-dir: the store's evaluator ({ev.get('kind')!r}) reads no data folder"
        )
    ev["data_dir"] = path
    if ev.get("kind") == "training":
        check_training_data(ev.get("dataset", "digits"), path)
    return evaluator_from_config(ev)


def cmd_resume(args: argparse.Namespace) -> int:
    path = Path(absolute_path(args.store))
    snap = read_snapshot(path)  # a missing or damaged store fails here, with its reason
    run, extra = stored_run(snap.meta)
    for flag, value in (("--budget", args.budget), ("--batch", args.batch)):
        if value is not None and value < 1:
            raise ConfigError(f"{flag}: expected an integer >= 1, got {value}")
    if args.batch is not None and args.batch > 1024:
        raise ConfigError(f"--batch: at most 1024 evaluations in flight, got {args.batch}")
    evaluator = None
    if args.data_dir is not None:
        evaluator = _relocated_evaluator(snap.config, args.data_dir)
    elif snap.config.get("evaluator", {}).get("kind") == "training":
        ev = snap.config["evaluator"]
        check_training_data(ev.get("dataset", "digits"), ev.get("data_dir"),
                            "resume --data-dir")
    try:
        campaign = Campaign.resume(path, evaluator=evaluator)
    except BenchmarkFileNotFoundError as exc:
        raise BenchmarkFileNotFoundError(
            f"{exc}; if the data moved, give its new folder: bo-nas resume {path} --data-dir DIR"
        ) from None
    with campaign:
        if evaluator is not None:  # the data's new place, for the next resume
            campaign.store.set_meta("config", {**snap.config, "evaluator": evaluator.to_config()})
        budget = args.budget if args.budget is not None else (
            run.budget if run is not None else extra.get("budget"))
        if budget is None:
            raise ConfigError(f"store {path} has no stored budget: pass --budget")
        workers = args.batch if args.batch is not None else int(extra.get("workers", 1))
        budget = clamp_budget(budget, campaign.space)
        workers = max(1, min(workers, budget))
        if run is not None:
            out_dir = Path(run.out) if os.path.isabs(run.out) else path.parent
            record = _run_record(dataclasses.replace(run, data_dir=args.data_dir or run.data_dir,
                                                     store=str(path)),
                                 workers, budget, path, out_dir)
            campaign.store.set_meta(RUN_META, record)
        # Figures where the run wrote them (stores of earlier releases: beside the store).
        out = Path(run.out) if run is not None and os.path.isabs(run.out) else path.parent
        asynchronous = bool(run.asynchronous) if run is not None else False
        return execute(campaign, budget, workers, asynchronous, args.quiet, out)
