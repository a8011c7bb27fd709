"""Local search (NASLib / White et al. 2021): hill climbing over one-move neighbours."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from bo_nas._history import History, Trial
from bo_nas._settings import check_int
from bo_nas.encodings import Architecture
from bo_nas.spaces import SearchSpace

from ._base import Strategy
from ._pool import NeighbourCache
from ._prior import check_warmup, prior_design


@dataclass(frozen=True)
class LocalSearchSettings:
    """Settings of `LocalSearch` (see there)."""

    n_init: int = 10
    first_improvement: bool = True
    warmup: str = "random"

    def __post_init__(self) -> None:
        check_int("n_init", self.n_init)
        check_warmup(self.warmup)
        if not isinstance(self.first_improvement, bool):
            raise ValueError(
                f"first_improvement: expected true or false, got {self.first_improvement!r}"
            )


class LocalSearch(Strategy):
    r"""Hill climbing with random restarts.

    A *run* starts with ``n_init`` random architectures (one after a restart); its
    centre is the best complete trial of the run. The centre's neighbours
    (`SearchSpace.neighbours`: one op change or edge flip) are evaluated in a random
    order; a neighbour measured earlier (e.g. in a previous run) is not re-evaluated,
    and when it beats the centre the centre jumps to it. With ``first_improvement``
    (default) the centre moves as soon as a neighbour beats it; otherwise the whole
    neighbourhood is evaluated first and the centre moves to its best member (NASLib's
    variant). When a neighbourhood is exhausted without
    improvement the centre is a local optimum and a new run starts from a random
    architecture.

    The run's first trial number, the centre and the order of the remaining neighbours
    are kept in `get_state` (they depend on random draws); the centre's value and
    everything else are read from the history, so results that arrive after the last
    proposal are taken into account on resume.

    Args:
        n_init: Random architectures of the first run.
        first_improvement: Move on the first improving neighbour instead of the best.
        warmup: ``"random"``, or ``"zero-cost"``: when the campaign has zero-cost
            scores, a run's starting architectures (the first ``n_init``, then one per
            restart) are the best-scored ones not yet near any evaluated
            (`prior_design`) instead of random ones.

    Reference: White, Nolen, Savani. Exploring the loss landscape in neural architecture
    search. UAI 2021. Ottelander et al. Local search is a remarkably strong baseline for
    neural architecture search. EMO 2021.
    """

    name = "local-search"
    Settings = LocalSearchSettings
    settings: LocalSearchSettings

    def __init__(self, settings: LocalSearchSettings | None = None, **kwargs: Any) -> None:
        super().__init__(settings, **kwargs)
        self._run_start = 0
        self._run_init = self.settings.n_init
        self._center: int | None = None
        self._queue: list[int] = []

    # --- state --------------------------------------------------------------------------

    def setup(self, space: SearchSpace) -> None:
        super().setup(space)
        self._neighbours = NeighbourCache(space)
        self._restart(0)
        self._run_init = self.settings.n_init

    def get_state(self) -> dict[str, Any]:
        return {
            "run_start": self._run_start,
            "run_init": self._run_init,
            "center": self._center,
            "queue": list(self._queue),
        }

    def set_state(self, state: dict[str, Any]) -> None:
        if not state:
            return
        self._run_start = int(state["run_start"])
        self._run_init = int(state["run_init"])
        self._center = None if state["center"] is None else int(state["center"])
        self._queue = [int(i) for i in state["queue"]]

    # --- proposals ----------------------------------------------------------------------

    def propose(self, history: History, n: int, rng: np.random.Generator) -> list[Architecture]:
        seen = set(history.keys)
        out: list[Architecture] = []

        def take(archs: list[Architecture]) -> None:
            for a in archs:
                seen.add(a.key)
                out.append(a)

        def randoms(k: int) -> list[Architecture]:
            if self.settings.warmup == "zero-cost" and self.scores is not None:
                return prior_design(self.space, self.scores, history, k, rng, exclude=out)
            return self.space.sample_many(k, rng, exclude=[*(t.arch for t in history), *out])

        n_proposed = len(history)
        measured = {t.arch.key: t for t in history.complete}
        while len(out) < n:
            in_run = n_proposed + len(out) - self._run_start
            if in_run < self._run_init:
                got = randoms(min(n - len(out), self._run_init - in_run))
                if not got:  # the space is exhausted
                    break
                take(got)
                continue
            best = self._run_best(history)
            if best is None:
                # The run's first results are still pending: explore meanwhile.
                got = randoms(1)
                if not got:
                    break
                take(got)
                continue
            if self._center is None or self._should_move(history, best):
                self._move_to(best, rng)
            center = history[self._center]  # type: ignore[index]
            nbrs = self._neighbours(center.arch)
            picked = jump = None
            while self._queue:
                cand = nbrs[self._queue.pop(0)]
                if cand.key not in seen:
                    picked = cand
                    break
                # A neighbour measured earlier (e.g. in a previous run) counts as evaluated.
                known = measured.get(cand.key)
                if known is not None and known.value > center.value:  # type: ignore[operator]
                    jump = known
                    break
            if picked is not None:
                take([picked])
                continue
            if jump is not None:
                self._move_to(jump, rng)
                continue
            # Neighbourhood exhausted. If every neighbour is known the centre is a local
            # optimum (else _should_move would have moved); restart from a random cell.
            if not self.settings.first_improvement and best.number != self._center:
                self._move_to(best, rng)
                continue
            self._restart(n_proposed + len(out))
        return out

    def _run_best(self, history: History) -> Trial | None:
        """Best complete trial of the run, the centre included (it may predate the run)."""
        best: Trial | None = None
        for t in history.complete:
            in_run = t.number >= self._run_start or t.number == self._center
            if in_run and (best is None or t.value > best.value):  # type: ignore[operator]
                best = t
        return best

    def _should_move(self, history: History, best: Trial) -> bool:
        if best.number == self._center:
            return False
        # Best-improvement waits until the neighbourhood has been proposed.
        return self.settings.first_improvement or not self._queue

    def _move_to(self, trial: Trial, rng: np.random.Generator) -> None:
        self._center = trial.number
        self._queue = [int(i) for i in rng.permutation(len(self._neighbours(trial.arch)))]

    def _restart(self, start: int) -> None:
        self._run_start = start
        self._run_init = 1
        self._center = None
        self._queue = []
