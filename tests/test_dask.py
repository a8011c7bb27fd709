"""Campaigns on a real Dask cluster (loopback only), including workers that die."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

distributed = pytest.importorskip("distributed")
dask = pytest.importorskip("dask")

from _toys import (  # noqa: E402
    ConvCount,
    Crashing,
    check_async_gp_campaign,
    first_proposals,
    run_campaign,
    within,
)

from bo_nas.campaign import (  # noqa: E402 - after the optional-dependency skip
    TrialState,
    dask_executor,
    local_gpu_cluster,
)
from bo_nas.strategies import RandomSearch  # noqa: E402

WATCHDOG_S = 120.0


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    """Two single-threaded worker processes on loopback. ``allowed-failures`` 0 makes a
    task whose worker dies fail at once with ``KilledWorker`` instead of being tried on
    up to three more workers (the scheduler reads it when it starts)."""
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        cluster = distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        )
    with cluster, distributed.Client(cluster) as c:
        yield c


def test_async_gp_campaign_on_dask(client: Any, data_dir: Path) -> None:
    check_async_gp_campaign(dask_executor(client))


def test_killed_worker_is_recorded_as_failure(client: Any) -> None:
    client.wait_for_workers(2, timeout=60)
    archs = first_proposals(6, seed=21)
    history = run_campaign(
        Crashing(archs[1].key), dask_executor(client),
        RandomSearch(), seed=21, budget=6
    )
    assert [t.arch.key for t in history] == [a.key for a in archs]
    assert not history.pending
    culprit = history[1]
    assert culprit.state is TrialState.FAILED and culprit.attempts == 1
    assert "KilledWorker" in (culprit.error or "")
    for t in history:  # a bystander on the dead worker fails the same way, if at all
        if t.state is TrialState.FAILED:
            assert "KilledWorker" in (t.error or "")
    assert len(history.complete) >= 4


def test_worker_death_is_retried_as_a_new_task(client: Any, tmp_path: Path) -> None:
    client.wait_for_workers(2, timeout=60)
    archs = first_proposals(4, seed=22)
    evaluator = Crashing(archs[0].key, marker=str(tmp_path / "died"))
    history = run_campaign(
        evaluator, dask_executor(client), RandomSearch(), seed=22, budget=4, max_retries=1
    )
    assert (tmp_path / "died").exists()
    assert all(t.state is TrialState.COMPLETE for t in history)
    # The retry ran although the task's first attempt erred: pure=False gave it a new key.
    assert history[0].attempts == 2
    assert history[0].result == ConvCount().evaluate(archs[0])


def test_dask_executor_validates(client: Any) -> None:
    with pytest.raises(ValueError, match="client"):
        dask_executor(object())
    with pytest.raises(ValueError, match="resources"):
        dask_executor(client, resources={"GPU": 0})
    with pytest.raises(ValueError, match="retries"):
        dask_executor(client, retries=-1)


def test_local_gpu_cluster_pins_one_device_per_worker() -> None:
    def go() -> tuple[dict[str, Any], int]:
        with local_gpu_cluster(["0", "1"]) as cluster, distributed.Client(cluster) as c:
            c.wait_for_workers(2, timeout=60)
            env = c.run(os.getenv, "CUDA_VISIBLE_DEVICES")
            resources = {w["resources"].get("GPU") for w in c.scheduler_info()["workers"].values()}
            assert resources == {1}
            ex = dask_executor(c, resources={"GPU": 1})
            return env, ex.submit(pow, 2, 5).result(timeout=60)

    env, value = within(WATCHDOG_S, go)
    assert sorted(env.values()) == ["0", "1"]
    assert value == 32
