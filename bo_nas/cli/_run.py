"""``bo-nas run`` and ``bo-nas resume``: a campaign from settings, observed in the terminal."""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import time
from collections.abc import Iterator
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

from bo_nas._config import ConfigError, RunConfig, config_from_mapping, load_config
from bo_nas.campaign import Campaign, InlineExecutor, Trial, local_executor

from ._progress import progress_bar
from ._report import write_figures

logger = logging.getLogger("bo_nas.cli")

_RUN_META = "cli_run"

# Flags that map one-to-one onto RunConfig fields.
_DIRECT = (
    "space", "evaluator", "dataset", "data_dir", "device", "budget", "batch", "asynchronous",
    "strategy", "seed", "max_retries", "fidelity", "store", "out",
)


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """Settings from ``--config`` (if any) overridden by the flags given."""
    base = load_config(args.config).to_dict() if args.config else {}
    for name in _DIRECT:
        value = getattr(args, name, None)
        if value is not None:
            base[name] = value
    if args.acquisition is not None:
        base["strategy_options"] = {**base.get("strategy_options", {}),
                                    "acquisition": args.acquisition}
    if args.epochs is not None:
        base["train"] = {**base.get("train", {}), "epochs": args.epochs}
    return config_from_mapping(base, "settings")


def _gpu_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def _workers(cfg: RunConfig) -> int:
    if cfg.batch:
        return cfg.batch
    if cfg.evaluator == "table":
        return 1
    if cfg.device != "cpu" and _gpu_count():
        return _gpu_count()
    from bo_nas.training import suggest_cpu_settings

    return suggest_cpu_settings().workers


def build_campaign(cfg: RunConfig, store: Path) -> Campaign:
    """Space, evaluator and strategy of the settings, in a new store."""
    from bo_nas._registry import strategy_from_config
    from bo_nas.spaces import NB101Space, NB201Space

    space = NB201Space() if cfg.space == "nb201" else NB101Space()
    dataset = cfg.resolved_dataset
    if cfg.evaluator == "table":
        from bo_nas.evaluators import NB101Benchmark, NB201Benchmark

        evaluator: Any = (
            NB201Benchmark(dataset, cfg.data_dir, cfg.fidelity)
            if cfg.space == "nb201"
            else NB101Benchmark(cfg.data_dir)
        )
    else:
        from bo_nas.evaluators import TrainingEvaluator
        from bo_nas.training import suggest_cpu_settings

        options: dict[str, Any] = dict(cfg.train)
        on_gpu = cfg.device == "cuda" or (cfg.device == "auto" and _gpu_count() > 0)
        if not on_gpu:
            cpu = suggest_cpu_settings(_workers(cfg))
            options.setdefault("threads", cpu.threads)
            options.setdefault("batch_size", cpu.batch_size)
        evaluator = TrainingEvaluator(
            cfg.space, dataset, cfg.data_dir, device=cfg.device, seed=cfg.seed, **options
        )
    try:
        strategy = strategy_from_config({"name": cfg.strategy, **cfg.strategy_options})
    except ValueError as exc:
        raise ConfigError(f"strategy_options: {exc}") from None
    return Campaign(space, evaluator, strategy, seed=cfg.seed, store=store,
                    max_retries=cfg.max_retries)


def default_store(out: str) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = Path(out) / f"run-{stamp}.sqlite"
    n = 1
    while path.exists():
        n += 1
        path = Path(out) / f"run-{stamp}-{n}.sqlite"
    return path


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
            bar.update(1)
            if best is not None and best.result is not None:
                bar.set_postfix_str(f"best val {best.result.val_accuracy:.2f}%")

        try:
            with _executor(campaign, workers) as executor:
                campaign.run(budget, batch_size=max(1, workers), executor=executor,
                             asynchronous=asynchronous, callback=on_trial)
        except KeyboardInterrupt:
            print(f"\ninterrupted; continue with: bo-nas resume {store_path}", file=sys.stderr)
            return 130
    _print_outcome(campaign, quiet, out)
    return 0


def _describe(campaign: Campaign, trial: Trial) -> str:
    to_string = getattr(campaign.space, "to_string", None)
    if to_string is not None:
        try:
            return str(to_string(trial.arch))
        except ValueError:
            pass
    return trial.arch.to_json()


def _print_outcome(campaign: Campaign, quiet: bool, out: Path) -> None:
    history = campaign.history
    best = campaign.best
    n_ok, n_failed = len(history.complete), len(history.failed)
    lines = [f"evaluations: {n_ok} complete, {n_failed} failed"]
    figures: list[Path] = []
    if best is not None and best.result is not None:
        r = best.result
        lines.append(f"best architecture (trial {best.number}): {_describe(campaign, best)}")
        acc = f"  validation accuracy {r.val_accuracy:.2f}%"
        if r.test_accuracy is not None:
            acc += f", test accuracy {r.test_accuracy:.2f}%"
        lines.append(acc)
        try:
            figures = write_figures(campaign.store.path, history, out)
        except Exception as exc:  # figures are a convenience; the store has the results
            logger.warning("could not write figures: %s", exc)
    for f in figures:
        lines.append(f"figure: {f}")
    lines.append(f"store: {campaign.store.path}")
    if not quiet:
        print("\n".join(lines))
    else:
        print(campaign.store.path)


def cmd_run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    store = Path(cfg.store) if cfg.store else default_store(cfg.out)
    if store.exists():
        raise ConfigError(f"store {store} already exists: continue it with `bo-nas resume {store}`")
    workers = _workers(cfg)
    campaign = build_campaign(cfg, store)
    with campaign:
        with campaign.store.transaction() as c:
            campaign.store._set_meta(c, _RUN_META, {**cfg.to_dict(), "workers": workers})
        if not args.quiet:
            print(f"campaign store: {store}", file=sys.stderr)
        return execute(campaign, cfg.budget, workers, cfg.asynchronous, args.quiet,
                       Path(cfg.out) if not cfg.store else store.parent)


def cmd_resume(args: argparse.Namespace) -> int:
    path = Path(args.store)
    campaign = Campaign.resume(path)
    with campaign:
        run = campaign.store._get_meta(_RUN_META) or {}
        budget = args.budget if args.budget is not None else run.get("budget")
        if budget is None:
            raise ConfigError(f"store {path} has no stored budget: pass --budget")
        workers = args.batch if args.batch is not None else int(run.get("workers", 1))
        if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
            raise ConfigError(f"budget: expected an integer >= 1, got {budget!r}")
        if workers < 1:
            raise ConfigError(f"batch: expected an integer >= 1, got {workers!r}")
        return execute(campaign, budget, workers, bool(run.get("asynchronous", False)),
                       args.quiet, path.parent)
