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
        raise ConfigError("methods: expected at least one strategy name")
    for name, value, low in (("budget", args.budget, 1), ("trials", args.trials, 1),
                             ("batch", args.batch, 1), ("seed", args.seed, 0)):
        if value < low:
            raise ConfigError(f"{name}: expected an integer >= {low}, got {value}")
    if args.workers is not None and args.workers < 1:
        raise ConfigError(f"workers: expected an integer >= 1, got {args.workers}")
    total = len(methods) * args.trials
    with progress_bar(total, 0, f"bench {args.dataset}", args.quiet) as bar:
        report = run_benchmark(
            args.space, args.dataset, methods, budget=args.budget, trials=args.trials,
            seed=args.seed, workers=args.workers, data_dir=args.data_dir,
            batch_size=args.batch, on_trial=lambda _: bar.update(1),
        )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{args.space}-{args.dataset}-{args.budget}q-{args.trials}t"
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
