"""Campaigns on a real local Ray instance (loopback only), including workers that die."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, wait
from pathlib import Path
from typing import Any

import pytest

# Ray binds to the machine's outward address unless it takes itself for a one-machine
# instance, which it decides when first imported; and it reports usage unless told not.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

ray = pytest.importorskip("ray")

import _toys  # noqa: E402
from _toys import (  # noqa: E402
    ConvCount,
    Crashing,
    check_async_gp_campaign,
    first_proposals,
    run_campaign,
    within,
)

from bo_nas.campaign import TrialState, ray_executor  # noqa: E402
from bo_nas.strategies import RandomSearch  # noqa: E402

WATCHDOG_S = 120.0


@pytest.fixture(scope="module")
def ray_instance() -> Iterator[Any]:
    """One local instance for the module (10-20 s to start on a busy 2-core machine):
    two CPUs, two *logical* GPUs (Ray only hands out their ids; no test touches CUDA)
    and two units of a custom resource ``slot``."""
    env = dict(os.environ)
    ray.init(
        num_cpus=2,
        num_gpus=2,
        resources={"slot": 2},
        object_store_memory=128 * 2**20,
        include_dashboard=False,
        log_to_driver=False,
    )
    # Ray workers import what they unpickle by reference, and do not get this process's
    # sys.path (pytest's tests/ entry): the test doubles, in no installed package, travel
    # by value instead.
    by_value = [_toys, sys.modules[__name__]]
    for module in by_value:
        ray.cloudpickle.register_pickle_by_value(module)
    try:
        addresses = {node["NodeManagerAddress"] for node in ray.nodes()}
        if addresses != {"127.0.0.1"}:
            pytest.fail(f"Ray listens on {addresses}, not loopback (ray imported earlier?)")
        yield ray
    finally:
        for module in by_value:
            ray.cloudpickle.unregister_pickle_by_value(module)
        ray.shutdown()
        # ray.init sets variables of its own (RAY_AUTH_MODE) in this process.
        for name in set(os.environ) - set(env):
            del os.environ[name]
        os.environ.update(env)


def _meet(folder: str, name: str, n: int) -> dict[str, Any]:
    """Wait until ``n`` tasks have arrived in ``folder`` (so they hold their resources at
    the same time), then report what this one was given."""
    Path(folder, name).touch()
    deadline = time.monotonic() + 60
    while len(os.listdir(folder)) < n:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {len(os.listdir(folder))} of {n} tasks arrived")
        time.sleep(0.02)
    return {
        "pid": os.getpid(),
        "devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "resources": ray.get_runtime_context().get_assigned_resources(),
    }


def _spin(started: str) -> None:
    """Run Python (interruptible, as a training loop is) until cancelled."""
    Path(started).touch()
    while True:
        time.sleep(0.02)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait_for(path: Path, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert time.monotonic() < deadline, f"{path.name} did not appear within {seconds} s"
        time.sleep(0.02)


def test_async_gp_campaign_on_ray(ray_instance: Any, data_dir: Path) -> None:
    check_async_gp_campaign(ray_executor())


def test_dead_worker_is_recorded_as_failure(ray_instance: Any) -> None:
    archs = first_proposals(6, seed=21)
    history = run_campaign(
        Crashing(archs[1].key), ray_executor(),
        RandomSearch(), seed=21, budget=6
    )
    assert [t.arch.key for t in history] == [a.key for a in archs]
    assert not history.pending
    culprit = history[1]
    assert culprit.state is TrialState.FAILED and culprit.attempts == 1
    assert "WorkerCrashedError" in (culprit.error or "")
    # Each task has a worker process of its own: the death takes no bystander with it.
    assert [t.number for t in history.complete] == [0, 2, 3, 4, 5]


def test_worker_death_is_retried_as_a_new_task(ray_instance: Any, tmp_path: Path) -> None:
    archs = first_proposals(4, seed=22)
    evaluator = Crashing(archs[0].key, marker=str(tmp_path / "died"))
    history = run_campaign(
        evaluator, ray_executor(), RandomSearch(),
        seed=22, budget=4, max_retries=1
    )
    assert (tmp_path / "died").exists()
    assert all(t.state is TrialState.COMPLETE for t in history)
    assert history[0].attempts == 2
    assert history[0].result == ConvCount().evaluate(archs[0])


def test_futures_are_standard_and_carry_exceptions(ray_instance: Any) -> None:
    def go() -> None:
        ex = ray_executor()
        good = ex.submit(pow, 2, 5)
        bad = ex.submit(int, "not a number")
        named = ex.submit(dict, fn=1)  # a keyword named like the task's own parameter
        done, _ = wait([good, bad, named], timeout=60, return_when=FIRST_COMPLETED)
        assert done
        done, not_done = wait([good, bad, named], timeout=60)
        assert not not_done
        assert good.result() == 32
        assert named.result() == {"fn": 1}
        assert isinstance(bad.exception(), ValueError)

    within(WATCHDOG_S, go)


def test_tasks_hold_their_gpus_and_resources(ray_instance: Any, tmp_path: Path) -> None:
    def go() -> list[dict[str, Any]]:
        ex = ray_executor(num_gpus=1, resources={"slot": 1})
        futs = [ex.submit(_meet, str(tmp_path), str(i), 2) for i in range(2)]
        views = [f.result(timeout=90) for f in futs]
        # A GPU task's worker process ends with it, so no CUDA context outlives the task.
        for pid in (v["pid"] for v in views):
            deadline = time.monotonic() + 60
            while _alive(pid):
                assert time.monotonic() < deadline, f"GPU worker {pid} still alive"
                time.sleep(0.05)
        return views

    views = within(WATCHDOG_S, go)
    # Held at once, the two logical GPUs went one to each task, pinned by Ray.
    assert sorted(v["devices"] for v in views) == ["0", "1"]
    for v in views:
        assert v["resources"] == {"CPU": 1.0, "GPU": 1.0, "slot": 1.0}


def test_cancel_and_shutdown_stop_the_ray_tasks(ray_instance: Any, tmp_path: Path) -> None:
    def go() -> None:
        by_cancel, by_shutdown = ray_executor(), ray_executor()
        first = by_cancel.submit(_spin, str(tmp_path / "first"))
        second = by_shutdown.submit(_spin, str(tmp_path / "second"))
        _wait_for(tmp_path / "first")
        _wait_for(tmp_path / "second")
        assert first.cancel() and first.cancelled()
        assert first.cancel()  # again: still cancelled, nothing more happens
        by_shutdown.shutdown(wait=True, cancel_futures=True)
        assert second.cancelled()
        # Cancelled futures count as done for the campaign's wait, as a pool's do.
        assert wait([first, second], timeout=10).not_done == set()
        with pytest.raises(RuntimeError, match="shutdown"):
            by_shutdown.submit(pow, 2, 5)
        # The spinning tasks held both CPUs: this runs only once they have stopped (and
        # Ray has started a worker in place of an interrupted one: slow on a busy host).
        assert ray_executor().submit(pow, 2, 5).result(timeout=180) == 32

    within(2 * WATCHDOG_S, go)


def test_ray_executor_validates(ray_instance: Any) -> None:
    bad: list[tuple[dict[str, Any], str]] = [
        ({"num_gpus": -1}, "num_gpus"),
        ({"num_gpus": float("nan")}, "num_gpus"),
        ({"num_gpus": True}, "num_gpus"),
        ({"num_cpus": "1"}, "num_cpus"),
        ({"resources": {"slot": 0}}, "resources"),
        ({"resources": ["slot"]}, "resources"),
        ({"resources": {"GPU": 1}}, "num_gpus"),
        ({"max_retries": -1}, "max_retries"),
        ({"max_retries": 1.0}, "max_retries"),
        ({"num_gpus": 1e-5}, "precision"),  # Ray's own rule, passed on as a ValueError
    ]
    for kwargs, match in bad:
        with pytest.raises(ValueError, match=match):
            ray_executor(**kwargs)


def test_unplaceable_tasks_are_warned_about(
    ray_instance: Any, caplog: pytest.LogCaptureFixture
) -> None:
    def ours() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name == "bo_nas.campaign._ray"]

    with caplog.at_level("WARNING", logger="bo_nas.campaign._ray"):
        ray_executor(num_gpus=2, resources={"slot": 2})  # the whole node, but it exists
        assert not ours()
        ray_executor(num_gpus=4)
    assert len(ours()) == 1 and "no node" in ours()[0]


def test_ray_executor_needs_an_initialised_ray(tmp_path: Path) -> None:
    # A fresh interpreter: this module's instance is running in this one.
    code = (
        "from bo_nas.campaign import ray_executor\n"
        "try:\n"
        "    ray_executor()\n"
        "except RuntimeError as exc:\n"
        "    print(exc)\n"
        "import ray\n"
        "print('initialised' if ray.is_initialized() else 'not started')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "ray.init(address=" in out.stdout
    assert out.stdout.rstrip().endswith("not started")
