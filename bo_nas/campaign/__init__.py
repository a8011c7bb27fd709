"""Campaigns: ask/tell over a search space, persisted in a SQLite store."""

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
    StoreLockedError,
    StoreVersionError,
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
    "StoreLockedError",
    "StoreVersionError",
    "Trial",
    "TrialState",
    "compare_schedules",
    "dask_executor",
    "incumbent_curve",
    "local_executor",
    "local_gpu_cluster",
    "read_store",
    "run_simulated",
    "wait_futures",
]
