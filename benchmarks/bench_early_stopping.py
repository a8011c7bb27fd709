"""The main job with and without early stopping: real training on digits, side by side.

Runs ``bo-nas run`` (the default campaign: NB-201 cells trained on scikit-learn's digits,
GP-TW, ``--budget`` networks) once as it is and once with ``--fidelity-schedule asha``
(each network trains 1 epoch first; the best third of a rung trains on from its
checkpoint), for each seed, alternating so both see the same machine load. Prints wall
time, the best validation accuracy (of networks trained to the final epoch) and the
test accuracy of that network, per seed and on average, and the wall-time ratio.

    python -m benchmarks.bench_early_stopping --seeds 1000 1001 1002 1003 1004 --epochs 12
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path


def _run(seed: int, budget: int, extra: list[str], folder: Path) -> tuple[float, float, float]:
    from bo_nas.campaign import read_store

    store = folder / f"seed{seed}{'-asha' if '--fidelity-schedule' in extra else ''}.sqlite"
    command = [sys.executable, "-m", "bo_nas.cli", "run", "--budget", str(budget), "--seed",
               str(seed), "--store", str(store), "--out", str(folder), "--quiet", *extra]
    t0 = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - t0
    _, history = read_store(store)
    best = max(history.complete, key=lambda t: (t.value, -t.number))
    return seconds, float(best.value), float(best.result.test_accuracy)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1000, 1001, 1002, 1003, 1004])
    parser.add_argument("--budget", type=int, default=24, help="networks per campaign")
    parser.add_argument("--early-budget", type=int, default=None,
                        help="networks of the early-stopping campaign (default: --budget); "
                        "most stop after a few epochs, so it can afford more")
    parser.add_argument("--eta", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=None,
                        help="epochs of a full training (the run's default when omitted)")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bo-nas-es-") as tmp:
        for seed in args.seeds:
            epochs = [] if args.epochs is None else ["--epochs", str(args.epochs)]
            full = _run(seed, args.budget, epochs, Path(tmp))
            early = _run(seed, args.early_budget or args.budget,
                         [*epochs, "--fidelity-schedule", "asha", "--eta", str(args.eta)],
                         Path(tmp))
            rows.append((seed, full, early))
            print(f"  seed {seed}: full {full[0]:.0f} s {full[1]:.2f}%, early stopping "
                  f"{early[0]:.0f} s {early[1]:.2f}%", file=sys.stderr, flush=True)
    epochs = "" if args.epochs is None else f" --epochs {args.epochs}"
    early_budget = args.early_budget or args.budget
    print(f"bo-nas run (digits, --budget {args.budget}{epochs}) against --fidelity-schedule "
          f"asha (eta {args.eta}, --budget {early_budget}): wall time, best validation "
          "accuracy (its test accuracy)")
    print(f"{'seed':>6}{'full s':>9}{'full val (test)':>18}{'ASHA s':>9}"
          f"{'ASHA val (test)':>18}{'time ratio':>12}")
    for seed, full, early in rows:
        print(f"{seed:>6}{full[0]:>9.0f}{f'{full[1]:.2f} ({full[2]:.2f})':>18}{early[0]:>9.0f}"
              f"{f'{early[1]:.2f} ({early[2]:.2f})':>18}{early[0] / full[0]:>12.2f}")
    mean = [statistics.mean(r[i][j] for r in rows) for i in (1, 2) for j in range(3)]
    print(f"{'mean':>6}{mean[0]:>9.0f}{f'{mean[1]:.2f} ({mean[2]:.2f})':>18}{mean[3]:>9.0f}"
          f"{f'{mean[4]:.2f} ({mean[5]:.2f})':>18}{mean[3] / mean[0]:>12.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
