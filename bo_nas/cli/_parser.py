"""The ``bo-nas`` argument parser: one sub-command per job, examples in every --help."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Sequence
from typing import Any

from bo_nas._config import SETTINGS, TABLE_SPACES

from . import EXIT_CODES

_FORMAT = argparse.RawDescriptionHelpFormatter

_MAIN = """\
Bayesian optimisation for neural architecture search with tree-Wasserstein kernels.

examples:
  bo-nas run                                   # demo: NB-201 cells trained on digits (CPU)
  bo-nas run --evaluator table --dataset cifar100 --budget 100
  bo-nas run --dataset cifar10 --data-dir ~/data/cifar-10-batches-py \\
             --device cuda --budget 100 --batch 8
  bo-nas status bo-nas-runs/run-20261126-101500-12345.sqlite
  bo-nas dashboard bo-nas-runs/*.sqlite        # live page at http://127.0.0.1:8050/
  bo-nas bench --dataset cifar10 --budget 150 --trials 20 --methods gp-tw,evolution,random

"""


def _exit_code_lines() -> str:
    import textwrap

    lines = ["exit codes:"]
    for code, meaning in EXIT_CODES:
        lines += textwrap.wrap(meaning, 84, initial_indent=f"  {code:>3}  ",
                               subsequent_indent=" " * 7)
    return "\n".join(lines) + "\n"

_RUN = """\
Run a campaign: propose architectures, evaluate them, keep everything in a store.

With no arguments: NB-201 cells trained on scikit-learn's 8x8 digits on the CPU, one
worker per core, a budget that finishes in a few minutes. At the end it prints the best
architecture and writes its drawing, the search curve and the store under --out.

Settings come from --config (a TOML file whose keys are the long flags: budget = 100,
max-retries = 2, [strategy-options] and [train] tables for the KEY=VALUE flags) and are
overridden by the flags given. A flag that has no effect with the others is refused; a
key of the file that has none is reported and ignored. The store records every setting
under the same names.

examples:
  bo-nas run
  bo-nas run --evaluator table --dataset cifar100 --budget 150 --strategy gp-tw
  bo-nas run --config campaign.toml --seed 3
  bo-nas run --dataset cifar10 --data-dir ~/data/cifar-10-batches-py --device cuda \\
             --budget 100 --batch 8 --epochs 50
"""

_RESUME = """\
Continue a campaign from its store: pending evaluations are run first, nothing is
evaluated twice, and the same seed gives the same sequence as an uninterrupted run.
Works from any directory (the store records absolute paths); if the benchmark tables
or CIFAR batches moved, give their new folder with --data-dir (it is recorded).

examples:
  bo-nas resume bo-nas-runs/run-20261126-101500-12345.sqlite
  bo-nas resume run.sqlite --budget 200
  bo-nas resume run.sqlite --data-dir /new/place/of/the/data
"""

_STATUS = """\
Progress of a campaign (it may be running, or have crashed): evaluations done, pending
and failed, the best architecture so far, and the latest failures. Observers never write
the store and never need its campaign.

examples:
  bo-nas status run.sqlite
"""

_EXPORT = """\
Write every trial of a store as CSV or JSON (to stdout unless --output is given).

examples:
  bo-nas export run.sqlite --format csv > trials.csv
  bo-nas export run.sqlite --format json --output trials.json
"""

_PLOT = """\
Figures of a store: the search curve, and accuracy against a cost (params, flops,
latency...) when the results carry costs.

examples:
  bo-nas plot run.sqlite
  bo-nas plot run.sqlite --cost flops --output-dir figures/
"""

_DASHBOARD = """\
A live web page over one or more campaign stores, served on this machine: progress and
the best architecture so far, the search curve of every store overlaid, the best cells
drawn, accuracy against a cost, failures with their messages, pending trials, and the
Pareto front of a multi-objective campaign. It refreshes while the campaigns run and
never writes a store (a store that is missing, locked or damaged shows why in its
panel). Only this machine can open it unless --host says otherwise. Ctrl-C stops it.
Needs the dashboard extra: pip install 'bo-nas[dashboard]'.

examples:
  bo-nas dashboard run.sqlite
  bo-nas dashboard bo-nas-runs/*.sqlite --refresh 10
  bo-nas dashboard gp.sqlite random.sqlite --port 8060
"""

_BENCH = """\
Benchmark strategies on a tabular benchmark: `--trials` seeded campaigns per method,
run in parallel processes. Prints mean ± std test error of the best-validation
architecture at 25/50/100/150 queries, the share of trials that found the optimum and
the time per trial; writes a CSV of every trial and a PNG of the curves.

examples:
  bo-nas bench --dataset cifar10 --budget 150 --trials 20 --methods gp-tw,evolution,random
  bo-nas bench --dataset cifar100 --trials 5 --methods gp-tw,gp-hamming,bananas,nasbowl
  bo-nas bench --dataset cifar10 --methods gp-tw,gp-tw:acquisition=logei,local-search
"""


_DATA = """\
Benchmark data: make the tables bo-nas reads from the benchmarks' official files.

examples:
  bo-nas data import NAS-Bench-201-v1_1-096897.pth --out ~/bo-nas-data
  bo-nas data import NATS-tss-v1_0-3ffb9-simple --out ~/bo-nas-data
"""

_DATA_IMPORT = """\
Write bo-nas's tables from an official benchmark file into DIR (the folder that
--data-dir names; tables go to DIR/nb201/ or DIR/nb101/). The importer follows the file:

  *.pth                          NAS-Bench-201 v1_0 or v1_1 -> nb201/
  NATS-tss-v1_0-3ffb9-simple/    NATS-Bench topology (folder or .tar) -> nb201/
  *.tfrecord                     NAS-Bench-101 -> nb101/

NB-201 writes the accuracy tables of cifar10-valid, cifar10, cifar100 and
ImageNet16-120 (every seed averaged, 200 epochs), the 12/200-epoch table when the file
has 12-epoch results, per-epoch validation curves (nb201_curves_<dataset>.csv), and
each cell's params and FLOPs per dataset (nb201_costs.csv, as the official
get_cost_info gives them): campaigns run on these tables alone. A file with fewer than
the 15,625 cells gives a sample, declared in nb201/samples.json.

The HW-NAS-Bench device latencies (nb201_hw_*.csv) and the zero-cost proxies
(nb201_zc_proxies_cifar10.csv) are not in the official files, only in the shipped
data: copy them beside the result for device costs and a zero-cost prior. With the
zero-cost table there, params and FLOPs come from it, as on the shipped data.

The files are pickles; they are read by a restricted reader that builds only
containers, strings and numbers. Existing tables are kept unless --force.

examples:
  bo-nas data import NAS-Bench-201-v1_1-096897.pth --out ~/bo-nas-data
  bo-nas data import NATS-tss-v1_0-3ffb9-simple.tar --out ~/bo-nas-data --force
  bo-nas data import nasbench_only108.tfrecord --out ~/bo-nas-data
"""


class _DeferredParser(argparse.ArgumentParser):
    """A sub-command's parser that adds some of its arguments the first time it is used.

    ``run`` and ``bench`` list the strategy names, and listing them imports the strategies
    (and BoTorch); deferring those arguments until the sub-command is parsed or its help
    shown keeps ``bo-nas status`` and the other commands light.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deferred: list[Callable[[argparse.ArgumentParser], None]] = []

    def defer(self, add_arguments: Callable[[argparse.ArgumentParser], None]) -> None:
        """Call ``add_arguments(self)`` before this parser is first used."""
        self._deferred.append(add_arguments)

    def _complete(self) -> None:
        while self._deferred:
            self._deferred.pop(0)(self)

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        self._complete()
        return super().parse_known_args(args, namespace)

    def format_usage(self) -> str:
        self._complete()
        return super().format_usage()

    def format_help(self) -> str:
        self._complete()
        return super().format_help()


def _strategy_names() -> list[str]:
    from bo_nas.strategies import builtin_strategies

    return sorted(builtin_strategies())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bo-nas", description=_MAIN + "\n" + _exit_code_lines(),
                                     formatter_class=_FORMAT)
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    verbosity = argparse.ArgumentParser(add_help=False)
    g = verbosity.add_mutually_exclusive_group()
    g.add_argument("-q", "--quiet", action="store_true", help="only errors; no progress bar")
    g.add_argument("-v", "--verbose", action="store_true", help="log every trial")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND",
                                parser_class=_DeferredParser)

    run = sub.add_parser("run", parents=[verbosity], help="run a campaign",
                         description=_RUN, formatter_class=_FORMAT)
    run.defer(_run_arguments)

    resume = sub.add_parser("resume", parents=[verbosity], help="continue a campaign",
                            description=_RESUME, formatter_class=_FORMAT)
    resume.add_argument("store", help="the campaign's SQLite file")
    resume.add_argument("--budget", type=int, metavar="N",
                        help="new total budget (default: the stored one)")
    resume.add_argument("--batch", type=int, metavar="N",
                        help="evaluations in flight (default: the stored one)")
    resume.add_argument("--data-dir", metavar="DIR",
                        help="the benchmark tables or CIFAR batches, moved since the "
                             "campaign started (recorded in the store)")

    status = sub.add_parser("status", parents=[verbosity], help="progress of a campaign",
                            description=_STATUS, formatter_class=_FORMAT)
    status.add_argument("store", help="the campaign's SQLite file")

    export = sub.add_parser("export", parents=[verbosity], help="trials as CSV or JSON",
                            description=_EXPORT, formatter_class=_FORMAT)
    export.add_argument("store", help="the campaign's SQLite file")
    export.add_argument("--format", choices=("csv", "json"), default="csv")
    export.add_argument("--output", "-o", help="file to write (default stdout)")

    plot = sub.add_parser("plot", parents=[verbosity], help="figures of a campaign",
                          description=_PLOT, formatter_class=_FORMAT)
    plot.add_argument("store", help="the campaign's SQLite file")
    plot.add_argument("--cost", help="cost for the accuracy-vs-cost scatter (default: first)")
    plot.add_argument("--output-dir", help="where to write the PNGs (default: beside the store)")

    dashboard = sub.add_parser("dashboard", parents=[verbosity],
                               help="live web page over campaign stores",
                               description=_DASHBOARD, formatter_class=_FORMAT)
    _dashboard_arguments(dashboard)

    bench = sub.add_parser("bench", parents=[verbosity], help="benchmark strategies",
                           description=_BENCH, formatter_class=_FORMAT)
    bench.defer(_bench_arguments)

    data = sub.add_parser("data", help="benchmark tables from the official files",
                          description=_DATA, formatter_class=_FORMAT)
    data.set_defaults(quiet=False, verbose=False)  # the flags belong to the action
    data_sub = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    imp = data_sub.add_parser("import", parents=[verbosity],
                              help="write tables from an official benchmark file",
                              description=_DATA_IMPORT, formatter_class=_FORMAT)
    imp.add_argument("source", metavar="FILE",
                     help="the official file or folder (.pth, NATS-tss-...-simple, .tfrecord)")
    imp.add_argument("--out", required=True, metavar="DIR",
                     help="the data directory to write into")
    imp.add_argument("--force", action="store_true", help="replace tables that exist")
    return parser


def _seconds(text: str) -> float:
    """A number of seconds > 0 (argparse type)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, got {text!r}")
    return value


def _port(text: str) -> int:
    """A TCP port, 0 to 65535 (argparse type)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port from 0 to 65535, got {text!r}")
    return value


def _dashboard_arguments(dashboard: argparse.ArgumentParser) -> None:
    # The defaults live with the dashboard, in a module that imports nothing heavy.
    from bo_nas.dashboard import DEFAULT_HOST, DEFAULT_PORT, DEFAULT_REFRESH

    dashboard.add_argument("stores", nargs="+", metavar="STORE",
                           help="campaign SQLite files (they need not exist yet)")
    dashboard.add_argument("--host", default=DEFAULT_HOST,
                           help=f"address to listen on (default {DEFAULT_HOST}: this machine "
                                "only; 0.0.0.0 lets other machines read the results)")
    dashboard.add_argument("--port", type=_port, default=DEFAULT_PORT,
                           help=f"TCP port (default {DEFAULT_PORT}; 0 picks a free one)")
    dashboard.add_argument("--refresh", type=_seconds, default=DEFAULT_REFRESH,
                           metavar="SECONDS",
                           help=f"seconds between updates of the page (default "
                                f"{DEFAULT_REFRESH:g})")


def _run_arguments(run: argparse.ArgumentParser) -> None:
    """``bo-nas run``'s flags, generated from `bo_nas._config.SETTINGS`."""
    run.add_argument("--config", metavar="TOML", help="campaign settings file")
    for s in SETTINGS:
        kwargs: dict[str, Any] = {"dest": s.attr, "help": s.help, "default": None}
        if s.key == "strategy":
            kwargs["choices"] = _strategy_names()
        elif s.choices is not None:
            kwargs["choices"] = s.choices
        if s.kind == "int":
            kwargs["type"] = int
        if s.kind == "bool":
            kwargs.update(action="store_const", const=True)
        elif s.kind in ("table", "list"):
            kwargs.update(action="append")
        if s.metavar is not None and s.kind != "bool":
            kwargs["metavar"] = s.metavar
        run.add_argument(s.flag, **kwargs)


def _bench_arguments(bench: argparse.ArgumentParser) -> None:
    strategies = _strategy_names()
    bench.add_argument("--space", choices=TABLE_SPACES, default="nb201")
    bench.add_argument("--dataset", default="cifar10")
    bench.add_argument("--data-dir", help="benchmark tables folder (default $BO_NAS_DATA_DIR)")
    bench.add_argument("--methods", default="gp-tw,evolution,random",
                       help="comma-separated name[:key=value]... (settings as in the "
                       f"strategy's config, e.g. gp-tw:acquisition=logei), names from: "
                       f"{','.join(strategies)}")
    bench.add_argument("--budget", type=int, default=150)
    bench.add_argument("--trials", type=int, default=20)
    bench.add_argument("--batch", type=int, default=1, help="proposals per step")
    bench.add_argument("--seed", type=int, default=0, help="trial i uses seed + i")
    bench.add_argument("--workers", type=int, help="parallel processes (default: cores)")
    bench.add_argument("--out", default="bench-out", help="folder for the CSV and PNG")
