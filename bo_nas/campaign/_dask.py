"""Dask distributed: evaluate on a cluster, one GPU per task.

A Dask ``Client`` becomes a ``concurrent.futures.Executor`` with `dask_executor` (or
``client.get_executor(pure=False)``), which `Campaign.run` takes like any other::

    from dask.distributed import Client
    client = Client("tcp://scheduler:8786")
    campaign.run(budget=200, batch_size=16, executor=dask_executor(client, resources={"GPU": 1}))

Pinning to GPUs. Dask does not assign devices itself; each worker process must see one
GPU (``CUDA_VISIBLE_DEVICES``) and announce it as a *resource*; each task then asks for
``resources={"GPU": 1}`` and the scheduler never runs two tasks on one worker's GPU at
once. On each machine, start one worker per GPU::

    CUDA_VISIBLE_DEVICES=0 dask worker tcp://scheduler:8786 --nthreads 1 --resources GPU=1
    CUDA_VISIBLE_DEVICES=1 dask worker tcp://scheduler:8786 --nthreads 1 --resources GPU=1

(``dask-cuda``'s ``LocalCUDACluster`` does the same for one machine; `local_gpu_cluster`
does it without that package.)

Failures. A task that raises comes back as a failed evaluation. A worker that dies
(segfault, out-of-memory kill) has its tasks rescheduled on other workers by Dask; a
task that has killed ``distributed.scheduler.allowed-failures`` + 1 workers (3 + 1 by
default) fails with ``KilledWorker``, which the campaign records as a failed attempt
and retries while its ``max_retries`` allows, then records as failed. Lower that
setting (``dask.config.set({"distributed.scheduler.allowed-failures": 0})`` before the
scheduler starts) to stop an architecture that crashes its worker from taking several
workers down with it.

Evaluators travel to workers by pickle: tabular benchmarks pickle as their settings
and reload the table once per worker process.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from concurrent.futures import Executor
from typing import Any


def _check_resources(resources: Mapping[str, float] | None) -> dict[str, float] | None:
    if resources is None:
        return None
    if not isinstance(resources, Mapping):
        raise ValueError(f"resources: expected a mapping such as {{'GPU': 1}}, got {resources!r}")
    out: dict[str, float] = {}
    for name, amount in resources.items():
        if (
            not isinstance(name, str)
            or not isinstance(amount, (int, float))
            or isinstance(amount, bool)
            or not math.isfinite(amount)
            or amount <= 0
        ):
            raise ValueError(
                f"resources: expected names mapped to positive amounts, got {name!r}: {amount!r}"
            )
        out[name] = amount
    return out


def dask_executor(
    client: Any,
    *,
    resources: Mapping[str, float] | None = None,
    retries: int = 0,
) -> Executor:
    """A ``concurrent.futures.Executor`` that submits evaluations to a Dask cluster.

    Tasks are submitted with ``pure=False``: a retried evaluation of the same
    architecture is a new task, not the cached (failed) one.

    Args:
        client: A ``distributed.Client``.
        resources: Worker resources each task needs, e.g. ``{"GPU": 1}``; tasks then run
            only on workers started with that resource, one per unit.
        retries: Dask-level retries of a task that *raised* (on top of the campaign's
            ``max_retries``); evaluation errors are already caught inside the task, so
            this matters only for errors outside the evaluator.

    Returns:
        ``client.get_executor(...)``; its futures are standard ``concurrent.futures``
        futures.
    """
    from distributed import Client

    if not isinstance(client, Client):
        raise ValueError(f"client: expected a distributed.Client, got {type(client).__name__}")
    if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
        raise ValueError(f"retries: expected an integer >= 0, got {retries!r}")
    kwargs: dict[str, Any] = {"pure": False}
    checked = _check_resources(resources)
    if checked:
        kwargs["resources"] = checked
    if retries:
        kwargs["retries"] = retries
    return client.get_executor(**kwargs)


def local_gpu_cluster(
    devices: Iterable[str | int] | None = None,
    *,
    threads_per_worker: int = 1,
    host: str = "127.0.0.1",
    **worker_options: Any,
) -> Any:
    """A one-machine Dask cluster with one worker process per GPU, pinned to it.

    Worker ``i`` runs with ``CUDA_VISIBLE_DEVICES=devices[i]`` and the resource
    ``{"GPU": 1}``; pair it with ``dask_executor(client, resources={"GPU": 1})``.

    Args:
        devices: GPU ids; all visible CUDA devices when omitted.
        threads_per_worker: Threads per worker (1: one evaluation per GPU at a time).
        host: Interface the scheduler and workers listen on (loopback by default).
        worker_options: More ``distributed.Nanny`` options (``memory_limit``, ...).

    Returns:
        A ``distributed.SpecCluster``; ``Client(cluster)`` connects to it.
    """
    from distributed import Nanny, Scheduler, SpecCluster

    from ._executors import _cuda_count

    ids = [str(d) for d in (range(_cuda_count()) if devices is None else devices)]
    if not ids:
        raise ValueError("devices: no GPU found; pass device ids or use a LocalCluster")
    if not isinstance(threads_per_worker, int) or threads_per_worker < 1:
        raise ValueError(
            f"threads_per_worker: expected an integer >= 1, got {threads_per_worker!r}"
        )
    workers = {
        f"gpu-{gpu}": {
            "cls": Nanny,
            "options": {
                **worker_options,
                "nthreads": threads_per_worker,
                "host": host,
                "resources": {"GPU": 1},
                "env": {"CUDA_VISIBLE_DEVICES": gpu},
            },
        }
        for gpu in ids
    }
    # No dashboard; the scheduler's small HTTP endpoint (health checks) takes any free
    # port on ``host`` rather than 8787.
    scheduler = {
        "cls": Scheduler,
        "options": {"host": host, "dashboard": False, "dashboard_address": f"{host}:0"},
    }
    return SpecCluster(workers=workers, scheduler=scheduler)
