"""Campaigns: ask/tell over a search space, persisted in a SQLite store.

Names are imported when first read (PEP 562), so that observers of a store
(``read_store``, ``bo-nas status``) do not load BoTorch and the strategies.
"""

from typing import TYPE_CHECKING

from bo_nas._lazy import attach

# Public name -> the module it is imported from. Keep in step with the imports below.
_WHERE = {
    "History": "bo_nas._history",
    "Trial": "bo_nas._history",
    "TrialState": "bo_nas._history",
    "Campaign": "._campaign",
    "incumbent_curve": "._campaign",
    "pareto_front": "bo_nas._front",
    "dask_executor": "._dask",
    "local_gpu_cluster": "._dask",
    "ClockedExecutor": "._executors",
    "InlineExecutor": "._executors",
    "RestartingProcessPool": "._executors",
    "local_executor": "._executors",
    "wait_futures": "._executors",
    "ray_executor": "._ray",
    "FlopsCostModel": "._simulated",
    "SimTask": "._simulated",
    "SimulatedExecutor": "._simulated",
    "SimulatedRun": "._simulated",
    "compare_schedules": "._simulated",
    "run_simulated": "._simulated",
    "CampaignStore": "._store",
    "StoreError": "._store",
    "StoreExistsError": "._store",
    "StoreFormatError": "._store",
    "StoreLockedError": "._store",
    "StoreNotFoundError": "._store",
    "StoreSnapshot": "._store",
    "StoreVersionError": "._store",
    "read_snapshot": "._store",
    "read_store": "._store",
}

__getattr__, __dir__ = attach(__name__, _WHERE)

if TYPE_CHECKING:
    from bo_nas._front import pareto_front
    from bo_nas._history import History, Trial, TrialState

    from ._campaign import Campaign, incumbent_curve
    from ._dask import dask_executor, local_gpu_cluster
    from ._executors import (
        ClockedExecutor,
        InlineExecutor,
        RestartingProcessPool,
        local_executor,
        wait_futures,
    )
    from ._ray import ray_executor
    from ._simulated import (
        FlopsCostModel,
        SimTask,
        SimulatedExecutor,
        SimulatedRun,
        compare_schedules,
        run_simulated,
    )
    from ._store import (
        CampaignStore,
        StoreError,
        StoreExistsError,
        StoreFormatError,
        StoreLockedError,
        StoreNotFoundError,
        StoreSnapshot,
        StoreVersionError,
        read_snapshot,
        read_store,
    )

__all__ = [
    "Campaign",
    "CampaignStore",
    "ClockedExecutor",
    "FlopsCostModel",
    "History",
    "InlineExecutor",
    "RestartingProcessPool",
    "SimTask",
    "SimulatedExecutor",
    "SimulatedRun",
    "StoreError",
    "StoreExistsError",
    "StoreFormatError",
    "StoreLockedError",
    "StoreNotFoundError",
    "StoreSnapshot",
    "StoreVersionError",
    "Trial",
    "TrialState",
    "compare_schedules",
    "dask_executor",
    "incumbent_curve",
    "local_executor",
    "local_gpu_cluster",
    "pareto_front",
    "ray_executor",
    "read_snapshot",
    "read_store",
    "run_simulated",
    "wait_futures",
]
