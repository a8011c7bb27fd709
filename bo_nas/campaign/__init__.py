"""Campaigns: ask/tell over a search space, persisted in a SQLite store."""

from ._history import History, Trial, TrialState

__all__ = ["History", "Trial", "TrialState"]
