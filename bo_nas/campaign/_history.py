"""Compatibility alias: the history types live in ``bo_nas._history``."""

from bo_nas._history import History, Trial, TrialState

__all__ = ["History", "Trial", "TrialState"]
