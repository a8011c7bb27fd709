"""Campaigns: ask/tell over a search space, persisted in a SQLite store."""

from ._campaign import Campaign, incumbent_curve
from ._executors import InlineExecutor, local_executor
from bo_nas._history import History, Trial, TrialState
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
    "History",
    "InlineExecutor",
    "StoreError",
    "StoreLockedError",
    "StoreVersionError",
    "Trial",
    "TrialState",
    "incumbent_curve",
    "local_executor",
    "read_store",
]
