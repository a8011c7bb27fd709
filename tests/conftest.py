"""Shared fixtures: keep this file small; test modules own their helpers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bo_nas.evaluators._tables import DATA_DIR_ENV


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The benchmark data directory named by ``$BO_NAS_DATA_DIR``; skips when unset."""
    env = os.environ.get(DATA_DIR_ENV, "")
    if not env:
        pytest.skip(f"${DATA_DIR_ENV} is not set")
    return Path(env)
