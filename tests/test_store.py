"""The SQLite campaign store: its stated contract, on real files."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from bo_nas.campaign import (
    CampaignStore,
    StoreError,
    StoreLockedError,
    StoreVersionError,
    TrialState,
    read_store,
)
from bo_nas.evaluators import EvaluationResult
from bo_nas.spaces import NB201Space

CONFIG = {"seed": 3, "note": "test"}


@pytest.fixture()
def archs() -> list:
    return NB201Space().sample_many(6, np.random.default_rng(0))


def test_proposals_results_and_states_are_committed(tmp_path: Path, archs: list) -> None:
    path = tmp_path / "s.sqlite"
    rng = np.random.default_rng(1)
    rng.random(3)
    with CampaignStore(path, CONFIG) as store:
        assert store.rng_state is None and store.strategy_state == {}
        numbers = store.add_proposals(archs[:3], rng.bit_generator.state, {"hypers": [1.5]})
        assert numbers == [0, 1, 2]
        assert store.add_proposals(archs[3:4], rng.bit_generator.state, {}) == [3]
        assert store.mark_started(0) == 1 and store.mark_started(0) == 2
        assert store.record_result(0, EvaluationResult(71.5, 70.0, {"params": 1.0}))
        assert store.record_failure(1, "ValueError: boom")
        # A trial leaves `pending` once and never comes back.
        assert not store.record_result(0, EvaluationResult(10.0))
        assert not store.record_failure(0, "late")
        assert not store.record_result(1, EvaluationResult(10.0))
    # Everything is on disk for the next process.
    with CampaignStore(path) as store:
        assert store.config == CONFIG
        restored = np.random.default_rng(0)
        restored.bit_generator.state = store.rng_state
        assert restored.random() == rng.random()
        assert store.strategy_state == {}
        trials = store.trials()
        assert [t.state for t in trials] == [
            TrialState.COMPLETE, TrialState.FAILED, TrialState.PENDING, TrialState.PENDING
        ]
        assert [t.arch for t in trials] == archs[:4]
        assert trials[0].result == EvaluationResult(71.5, 70.0, {"params": 1.0})
        assert trials[0].attempts == 2
        assert trials[1].error == "ValueError: boom"
        assert store.integrity_check() == "ok"
    # Observers read without the lock; the content is JSON, not pickle.
    config, history = read_store(path)
    assert config == CONFIG and len(history) == 4
    conn = sqlite3.connect(path)
    for arch, result in conn.execute("SELECT arch, result FROM trials"):
        json.loads(arch)
        if result is not None:
            json.loads(result)
    conn.close()


def test_a_rejected_proposal_batch_changes_nothing(tmp_path: Path, archs: list) -> None:
    with CampaignStore(tmp_path / "s.sqlite", CONFIG) as store:
        store.add_proposals(archs[:2], {"a": 1}, {"b": 1})
        with pytest.raises(StoreError, match="repeats an architecture"):
            store.add_proposals([archs[2], archs[0]], {"a": 2}, {"b": 2})
        assert [t.arch for t in store.trials()] == archs[:2]
        assert store.rng_state == {"a": 1} and store.strategy_state == {"b": 1}


def test_open_errors_are_clear(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    with pytest.raises(StoreError, match="no such file"):
        CampaignStore(path)
    CampaignStore(path, CONFIG).close()
    with pytest.raises(StoreError, match="already exists"):
        CampaignStore(path, CONFIG)
    # A second opener, even in this process, is refused while the first holds it.
    with CampaignStore(path), pytest.raises(StoreLockedError, match="in use by pid"):
        CampaignStore(path)
    conn = sqlite3.connect(path)
    conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    with pytest.raises(StoreVersionError, match="schema version 99"):
        CampaignStore(path)
    with pytest.raises(StoreVersionError):
        read_store(path)
    other = tmp_path / "other.sqlite"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="not a bo-nas campaign store"):
        CampaignStore(other)
    with pytest.raises(StoreError, match="not a bo-nas campaign store"):
        read_store(other)


def test_creation_is_atomic(tmp_path: Path) -> None:
    # A creator killed mid-way leaves only its side file, which blocks nothing.
    path = tmp_path / "s.sqlite"
    (tmp_path / "s.sqlite.creating").write_bytes(b"half a database")
    with CampaignStore(path, CONFIG) as store:
        assert store.integrity_check() == "ok"
    assert not (tmp_path / "s.sqlite.creating").exists()
    with CampaignStore(path) as store:
        assert store.config == CONFIG


def test_memory_store(archs: list) -> None:
    with CampaignStore(":memory:", CONFIG) as store:
        store.add_proposals(archs[:1], {}, {})
        assert store.trials()[0].arch == archs[0]
        assert store.integrity_check() == "ok"
    with pytest.raises(StoreError):
        CampaignStore(":memory:")


def test_files_that_are_not_stores_are_format_errors(tmp_path: Path, archs: list) -> None:
    from bo_nas.campaign._store import StoreFormatError, StoreNotFoundError

    good = tmp_path / "good.sqlite"
    with CampaignStore(good, CONFIG) as store:
        store.add_proposals(archs, {}, {})
    data = good.read_bytes()
    cases = {"empty": b"", "text": b"number,state\n", "cut": data[: len(data) // 2]}
    for name, content in cases.items():
        path = tmp_path / f"{name}.sqlite"
        path.write_bytes(content)
        for opener in (CampaignStore, read_store):
            with pytest.raises(StoreFormatError) as info:
                opener(path)
            assert isinstance(info.value, ValueError) and str(path) in str(info.value)
    with pytest.raises(StoreNotFoundError, match="no such file"):
        read_store(tmp_path / "absent.sqlite")
    (tmp_path / "half.sqlite.creating").write_bytes(data[:100])
    with pytest.raises(StoreNotFoundError, match="being created"):
        read_store(tmp_path / "half.sqlite")


def test_values_strict_json_cannot_hold_are_refused_before_writing(
    tmp_path: Path, archs: list
) -> None:
    from bo_nas.evaluators import InvalidResultError

    with CampaignStore(tmp_path / "s.sqlite", CONFIG) as store:
        store.add_proposals(archs[:1], {}, {})
        for bad in ({"costs": {"x": float("nan")}}, {"info": {"x": float("inf")}},
                    {"info": {"x": {1: 2}}}, {"info": {"x": object()}}):
            with pytest.raises(InvalidResultError):
                store.record_result(0, EvaluationResult(50.0, **bad))  # type: ignore[arg-type]
        with pytest.raises(InvalidResultError):
            store.add_proposals(archs[1:2], {"state": float("nan")}, {})
        assert [t.state for t in store.trials()] == [TrialState.PENDING]
        assert store.rng_state == {}


def test_a_writer_waits_for_observers_holding_the_shared_lock(tmp_path: Path) -> None:
    import fcntl
    import threading
    import time

    path = tmp_path / "s.sqlite"
    CampaignStore(path, CONFIG).close()
    lock = open(path.with_name(path.name + ".lock"))  # noqa: SIM115
    fcntl.flock(lock.fileno(), fcntl.LOCK_SH)  # an observer reading a rolled-back copy
    timer = threading.Timer(0.3, lambda: fcntl.flock(lock.fileno(), fcntl.LOCK_UN))
    timer.start()
    started = time.monotonic()
    with CampaignStore(path) as store:  # not refused: observers hold it for a moment
        assert store.integrity_check() == "ok"
    assert time.monotonic() - started >= 0.25
    timer.join()
    lock.close()
