"""``bo-nas bench``: the benchmark harness from the command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bo_nas._config import ConfigError

from ._progress import progress_bar
from ._report import _pyplot


def cmd_bench(args: argparse.Namespace) -> int:
    from bo_nas.bench import run_benchmark
    from bo_nas.plotting import plot_search_curve, save_figure

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if not methods:
        raise ConfigError("--methods: expected at least one strategy name")
    for name, value, low in (("budget", args.budget, 1), ("trials", args.trials, 1),
                             ("batch", args.batch, 1), ("seed", args.seed, 0)):
        if value < low:
            raise ConfigError(f"--{name}: expected an integer >= {low}, got {value}")
    if args.workers is not None and args.workers < 1:
        raise ConfigError(f"--workers: expected an integer >= 1, got {args.workers}")
    if args.workers is not None and args.workers > 1024:
        raise ConfigError(f"--workers: at most 1024 processes, got {args.workers}")
    from bo_nas._registry import strategy_from_config
    from bo_nas.bench import parse_method

    for m in methods:  # a bad method is a usage error, whether or not the data is there
        try:
            config = parse_method(m)
        except ValueError as exc:
            raise ConfigError(f"--methods {m}: {exc}") from None
        try:
            strategy_from_config(config)
        except ValueError as exc:
            raise ConfigError(f"--methods {m}: {_method_reason(config, exc)}") from None
    budget = _bounded_budget(args)
    total = len(methods) * args.trials
    with progress_bar(total, 0, f"bench {args.dataset}", args.quiet) as bar:
        report = run_benchmark(
            args.space, args.dataset, methods, budget=budget, trials=args.trials,
            seed=args.seed, workers=args.workers, data_dir=args.data_dir,
            batch_size=args.batch, on_trial=lambda _: bar.update(1),
        )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{args.space}-{args.dataset}-{budget}q-{args.trials}t"
    report.write_csv(out / f"{stem}.csv")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    plot_search_curve({m: report.errors(m) for m in report.methods}, ax=ax,
                      ylabel="test error of best-validation architecture (%)",
                      optimum=report.optimum_test_error, title=f"{args.space} {args.dataset}")
    ax.set_yscale("log")
    save_figure(fig, out / f"{stem}.png", close=True)
    print(report.format_table())
    print(f"\ntrials: {out / (stem + '.csv')}\ncurves: {out / (stem + '.png')}", file=sys.stderr)
    return 0


def _bounded_budget(args: argparse.Namespace) -> int:
    """``--budget``, at most the distinct networks the benchmark can answer."""
    from bo_nas.evaluators import NB101Benchmark, NB201Benchmark

    from ._run import clamp_budget

    if args.space == "nb201":
        evaluator: NB201Benchmark | NB101Benchmark = NB201Benchmark(args.dataset, args.data_dir)
    else:
        if args.dataset != "cifar10":
            raise ConfigError(f"--dataset: NB-101 has cifar10 only, got {args.dataset!r}")
        evaluator = NB101Benchmark(args.data_dir)
    return clamp_budget(args.budget, evaluator.search_space())


def _method_reason(config: dict, exc: ValueError) -> str:
    """Why the strategy refused ``config``, naming the setting at fault."""
    from bo_nas._registry import _STRATEGIES, strategy_from_config

    from ._run import _strategy_reason

    name = str(config.get("name"))
    if name not in _STRATEGIES:
        return f"unknown strategy {name!r}; known: {', '.join(sorted(_STRATEGIES))}"
    for key, value in config.items():
        if key == "name":
            continue
        try:
            strategy_from_config({"name": name, key: value})
        except ValueError as one:
            return _strategy_reason(name, key, one).replace(f"--strategy {name}", name)
    return str(exc)
