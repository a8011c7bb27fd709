"""Injected faults: failing evaluators, timeouts, a second process, unwritable stores."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from _crash_worker import HashEvaluator

from bo_nas.campaign import Campaign, CampaignStore, TrialState, local_executor, read_store
from bo_nas.encodings import Architecture
from bo_nas.evaluators import EvaluationResult, Evaluator
from bo_nas.spaces import NB201Space
from bo_nas.strategies import RandomSearch

TESTS = Path(__file__).resolve().parent


def _bad(arch: Architecture) -> bool:
    """A fixed third of the space fails (decided by the key, so any process agrees)."""
    return int(arch.key[:8], 16) % 3 == 0


class FaultyEvaluator(Evaluator):
    """Fails on `_bad` architectures in one of several ways; `HashEvaluator` otherwise.

    Modes: ``raise`` (an exception), ``nan`` (a NaN accuracy), ``range`` (150 %),
    ``forged`` (a result object built around the validation, out of range), ``type`` (not
    an `EvaluationResult`), ``sleep`` (takes ``delay`` seconds), ``flaky`` (every
    architecture fails its first attempt in this process, then succeeds).
    """

    kind = "test-faulty"

    def __init__(self, mode: str, delay: float = 0.0) -> None:
        self.mode = mode
        self.delay = delay
        self.seen: set[str] = set()
        self.inner = HashEvaluator()

    def evaluate(self, arch: Architecture) -> Any:
        good = self.inner.evaluate(arch)
        if self.mode == "flaky":
            if arch.key not in self.seen:
                self.seen.add(arch.key)
                raise RuntimeError("transient failure")
            return good
        if not _bad(arch):
            return good
        if self.mode == "raise":
            raise RuntimeError("CUDA out of memory (injected)")
        if self.mode == "nan":
            return EvaluationResult(float("nan"))
        if self.mode == "range":
            return EvaluationResult(150.0)
        if self.mode == "forged":
            forged = object.__new__(EvaluationResult)
            for k, v in {"val_accuracy": 150.0, "test_accuracy": None, "costs": {},
                         "info": {}}.items():
                object.__setattr__(forged, k, v)
            return forged
        if self.mode == "type":
            return 93.0
        if self.mode == "sleep":
            time.sleep(self.delay)
            return good
        raise AssertionError(self.mode)

    def to_config(self) -> dict[str, Any]:
        return {"kind": self.kind, "mode": self.mode}


REASONS = {
    "raise": "RuntimeError: CUDA out of memory (injected)",
    "nan": "InvalidResultError: val_accuracy must be a finite percentage, got nan",
    "range": "InvalidResultError: val_accuracy must be a finite percentage, got 150.0",
    "forged": "invalid result: val_accuracy must be a finite percentage, got 150.0",
    "type": "EvaluationError: evaluator returned float, expected EvaluationResult",
}


@pytest.mark.parametrize("mode", sorted(REASONS))
def test_failures_are_recorded_retried_and_survived(mode: str) -> None:
    campaign = Campaign(NB201Space(), FaultyEvaluator(mode), RandomSearch(), seed=1,
                        max_retries=2)
    history = campaign.run(24)
    assert len(history) == 24 and not history.pending
    for t in history:
        if _bad(t.arch):
            assert t.state is TrialState.FAILED
            assert t.error == REASONS[mode]
            assert t.attempts == 3  # the first try and max_retries=2 retries
        else:
            assert t.state is TrialState.COMPLETE and t.attempts == 1
    assert history.failed and history.complete


def test_transient_failures_are_retried_to_success() -> None:
    campaign = Campaign(NB201Space(), FaultyEvaluator("flaky"), RandomSearch(), seed=1,
                        max_retries=1)
    history = campaign.run(10)
    assert len(history.complete) == 10
    assert all(t.attempts == 2 for t in history)
    no_retry = Campaign(NB201Space(), FaultyEvaluator("flaky"), RandomSearch(), seed=1)
    history = no_retry.run(5)
    assert [t.error for t in history] == ["RuntimeError: transient failure"] * 5


def _warm_up(delay: float) -> None:
    time.sleep(delay)


#: Hang guard of a gated evaluation: only a broken test waits this long.
GATE_WATCHDOG_S = 120.0


class GatedEvaluator(Evaluator):
    """`HashEvaluator`, except that `_bad` architectures wait for the ``gate`` file.

    A gated evaluation cannot finish before the test opens the gate, whatever the load
    on the machine, and it leaves a ``finished-*`` file beside the gate when it does:
    so the test counts finished slow evaluations instead of timing the campaign.
    """

    kind = "test-gated"

    def __init__(self, gate: Path) -> None:
        self.gate = gate
        self.inner = HashEvaluator()

    def evaluate(self, arch: Architecture) -> EvaluationResult:
        good = self.inner.evaluate(arch)
        if not _bad(arch):
            return good
        give_up = time.monotonic() + GATE_WATCHDOG_S
        while not self.gate.exists() and time.monotonic() < give_up:
            time.sleep(0.02)
        (self.gate.parent / f"finished-{os.getpid()}-{time.monotonic_ns()}").touch()
        return good

    def to_config(self) -> dict[str, Any]:
        return {"kind": self.kind, "gate": str(self.gate)}


def test_timeout_in_a_process_pool(tmp_path: Path) -> None:
    # The one bad architecture of seed 1 waits for a gate opened only after the run, so
    # it times out on both attempts; each attempt keeps its worker busy until the gate
    # opens, so a third worker runs the others. The timeout counts from submission,
    # hence the warm-up: the workers are started (and have imported bo-nas) first.
    gate = tmp_path / "gate"
    campaign = Campaign(NB201Space(), GatedEvaluator(gate), RandomSearch(), seed=1,
                        max_retries=1)
    with local_executor(3) as pool:
        for f in [pool.submit(_warm_up, 0.5) for _ in range(3)]:
            f.result()
        try:
            history = campaign.run(6, executor=pool, timeout=1.0)
            finished_before_return = len(list(tmp_path.glob("finished-*")))
        finally:
            gate.touch()
        late = [t for t in history if _bad(t.arch)]
        assert len(late) == 1, "seed 1 should draw exactly one slow architecture"
        assert len(history) == 6 and not history.pending
        for t in history:
            if _bad(t.arch):
                assert t.state is TrialState.FAILED and t.attempts == 2
                assert t.error.startswith("timeout: evaluation exceeded 1 s")
            else:
                assert t.state is TrialState.COMPLETE, t
        assert len(history.failed) == len(late) and len(history.complete) == 6 - len(late)
        # The campaign gave up on both slow attempts rather than waiting them out.
        assert finished_before_return == 0
        pool.shutdown(wait=False, cancel_futures=True)


def test_timeout_inline_fails_after_the_fact() -> None:
    campaign = Campaign(NB201Space(), FaultyEvaluator("sleep", delay=0.3), RandomSearch(),
                        seed=4)
    history = campaign.run(6, timeout=0.1)
    for t in history:
        assert t.state is (TrialState.FAILED if _bad(t.arch) else TrialState.COMPLETE)
        if _bad(t.arch):
            assert "timeout" in t.error
    with pytest.raises(ValueError, match="timeout"):
        campaign.run(7, timeout=0)


def _python(code: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    # Only the helpers' folder: the repository root on the path would shadow the
    # standard library's `encodings` with the project's top-level `encodings/`.
    env = {**os.environ, "PYTHONPATH": str(TESTS)}
    return subprocess.run(
        [*kwargs.pop("prefix", []), sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True, text=True, timeout=120, env=env, **kwargs,
    )


OPEN_AND_REPORT = """
    import sys
    from _crash_worker import HashEvaluator
    from bo_nas.campaign import Campaign
    try:
        c = Campaign.resume(sys.argv[1] if len(sys.argv) > 1 else {path!r},
                            evaluator=HashEvaluator())
        c.run({budget})
    except Exception as exc:
        print(type(exc).__name__, exc)
        sys.exit(3)
    print("ran")
"""


def _store_with_trials(path: Path, n: int) -> list[tuple[str, str, float | None]]:
    with Campaign(NB201Space(), HashEvaluator(), RandomSearch(), seed=0, store=path) as c:
        c.run(n)
        return [(t.arch.key, t.state.value, t.value) for t in c.history]


def _intact(path: Path, before: list[tuple[str, str, float | None]]) -> None:
    with CampaignStore(path) as store:
        assert store.integrity_check() == "ok"
        now = [(t.arch.key, t.state.value, t.value) for t in store.trials()]
    assert now[: len(before)] == before


def test_second_process_is_locked_out(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    before = _store_with_trials(path, 5)
    with Campaign.resume(path, evaluator=HashEvaluator()) as mine:
        out = _python(OPEN_AND_REPORT.format(path=str(path), budget=50))
        assert out.returncode == 3, out.stderr
        assert out.stdout.startswith("StoreLockedError")
        assert f"in use by pid {os.getpid()}" in out.stdout
        # Its attempt wrote nothing: ours continues alone; observers still read.
        mine.run(8)
        assert len(read_store(path)[1]) == 8
    _intact(path, before)
    # Released when we close: now the other process may go on.
    out = _python(OPEN_AND_REPORT.format(path=str(path), budget=10))
    assert out.returncode == 0 and out.stdout.strip() == "ran", out.stdout + out.stderr
    _intact(path, before)
    assert len(read_store(path)[1]) == 10


def _unprivileged_prefix() -> list[str] | None:
    """How to run a child for which file permissions apply (root bypasses them)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    caps = "-dac_override,-dac_read_search"
    return [setpriv, f"--inh-caps={caps}", f"--bounding-set={caps}"]


@pytest.mark.parametrize("what", ["file", "folder"])
def test_read_only_store(what: str) -> None:
    prefix = _unprivileged_prefix()
    if prefix is None:
        pytest.skip("running as root without setpriv: permissions cannot be enforced")
    folder = Path(tempfile.mkdtemp())
    try:
        path = folder / "s.sqlite"
        before = _store_with_trials(path, 6)
        (path.parent / "s.sqlite.lock").chmod(0o666)
        target = path if what == "file" else folder
        target.chmod(0o444 if what == "file" else 0o555)
        try:
            out = _python(OPEN_AND_REPORT.format(path=str(path), budget=12), prefix=prefix)
        finally:
            target.chmod(0o644 if what == "file" else 0o755)
        assert out.returncode == 3, out.stdout + out.stderr
        assert out.stdout.startswith("StoreError")
        assert "read-only" in out.stdout
        _intact(path, before)
        assert len(read_store(path)[1]) == 6
    finally:
        shutil.rmtree(folder)


def test_full_disk_is_a_clear_error_and_harmless(tmp_path: Path) -> None:
    # The child may not grow any file past its current size (RLIMIT_FSIZE; Python
    # ignores SIGXFSZ, so the write fails with EFBIG as on a full disk).
    path = tmp_path / "s.sqlite"
    before = _store_with_trials(path, 6)
    code = OPEN_AND_REPORT.replace(
        "    try:\n",
        "    import os, resource\n"
        "    size = os.path.getsize({path!r})\n"
        "    resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))\n"
        "    try:\n",
        1,
    )
    out = _python(code.format(path=str(path), budget=500))
    assert out.returncode == 3, out.stdout + out.stderr
    assert out.stdout.startswith("StoreError")
    assert "nothing was changed" in out.stdout and "resume" in out.stdout
    # Undamaged: integrity holds, earlier trials unchanged, and the campaign resumes.
    _intact(path, before)
    with Campaign.resume(path, evaluator=HashEvaluator()) as c:
        assert c.run(40) and len(c.history.complete) == 40
        assert c.store.integrity_check() == "ok"
