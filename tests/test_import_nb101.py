"""Importing NAS-Bench-101's tfrecord without TensorFlow, and campaigns on the result.

The miniature files are written here in the official structure from first principles:
a protobuf *encoder* for ``ModelMetrics`` (field numbers from the official
``model_metrics.proto``), a bit-by-bit CRC32C and the TFRecord framing, none of them
bo_nas code. Cells are written out by hand as pruned matrices, as the official file
stores them, and their numbers follow a formula, so the averages are known.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import os
import pickle
import struct
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from bo_nas.bench._harness import run_trial
from bo_nas.campaign import Campaign, TrialState
from bo_nas.encodings import Architecture, BoNasError
from bo_nas.evaluators import EvaluationError, NB101Benchmark
from bo_nas.evaluators._nb101_table import IMPORTED_COLUMNS, IMPORTED_FILE
from bo_nas.evaluators._tables import BenchmarkTableError, clear_cache
from bo_nas.importers._errors import SourceFileError, TableExistsError
from bo_nas.importers._nb101 import NB101ImportError, decode_metrics, import_nb101
from bo_nas.importers._protobuf import ProtobufError, as_int32, iter_fields, read_varint
from bo_nas.importers._tfrecord import (
    TFRecordError,
    crc32c,
    crc32c_many,
    iter_records,
    masked_crc32c,
    write_record,
)
from bo_nas.spaces import NB101Space, SubsetSpace
from bo_nas.strategies import LocalSearch, RandomSearch, RegularizedEvolution

# --- an independent protobuf encoder (wire format by the protobuf spec) --------------------


def pb_varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # negative int32 values travel as 64-bit two's complement
    out = bytearray()
    while True:
        low = n & 0x7F
        n >>= 7
        out.append(low | (0x80 if n else 0))
        if not n:
            return bytes(out)


def pb_tag(field: int, wire: int) -> bytes:
    return pb_varint(field << 3 | wire)


def pb_double(field: int, x: float) -> bytes:
    return pb_tag(field, 1) + struct.pack("<d", x)


def pb_int(field: int, n: int) -> bytes:
    return pb_tag(field, 0) + pb_varint(n)


def pb_bytes(field: int, data: bytes) -> bytes:
    return pb_tag(field, 2) + pb_varint(len(data)) + data


def evaluation_data(epoch: float, seconds: float, train: float, val: float, test: float,
                    checkpoint: str) -> bytes:
    # EvaluationData: 1 current_epoch, 2 training_time, 3 train_accuracy,
    # 4 validation_accuracy, 5 test_accuracy (doubles), 6 checkpoint_path (string).
    return (pb_double(1, epoch) + pb_double(2, seconds) + pb_double(3, train)
            + pb_double(4, val) + pb_double(5, test) + pb_bytes(6, checkpoint.encode()))


def model_metrics(evaluations: Sequence[bytes], params: int, total_time: float) -> bytes:
    # ModelMetrics: 1 evaluation_data (repeated message), 2 trainable_parameters (int32),
    # 3 total_time (double).
    return (b"".join(pb_bytes(1, e) for e in evaluations) + pb_int(2, params)
            + pb_double(3, total_time))


# --- an independent TFRecord writer ---------------------------------------------------------


def crc32c_bitwise(data: bytes) -> int:
    """CRC32C one bit at a time, straight from the polynomial: the oracle."""
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def masked(crc: int) -> int:
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def frame(payload: bytes) -> bytes:
    head = struct.pack("<Q", len(payload))
    return (head + struct.pack("<I", masked(crc32c_bitwise(head))) + payload
            + struct.pack("<I", masked(crc32c_bitwise(payload))))


# --- the miniature benchmark -----------------------------------------------------------------

C3, C1, MP = "conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3"


def _matrix(n: int, edges: Sequence[tuple[int, int]]) -> list[list[int]]:
    m = [[0] * n for _ in range(n)]
    for i, j in edges:
        m[i][j] = 1
    return m


#: Pruned cells (every node on an input → output path), written by hand.
CELLS: list[tuple[list[list[int]], list[str]]] = [
    (_matrix(2, [(0, 1)]), ["input", "output"]),
    (_matrix(3, [(0, 1), (1, 2)]), ["input", C3, "output"]),
    (_matrix(3, [(0, 1), (1, 2)]), ["input", C1, "output"]),
    (_matrix(3, [(0, 1), (1, 2)]), ["input", MP, "output"]),
    (_matrix(3, [(0, 1), (1, 2), (0, 2)]), ["input", C3, "output"]),
    (_matrix(4, [(0, 1), (1, 2), (2, 3), (0, 3)]), ["input", C3, C1, "output"]),
    (_matrix(4, [(0, 1), (1, 2), (2, 3)]), ["input", C1, MP, "output"]),
    (_matrix(4, [(0, 1), (0, 2), (1, 3), (2, 3)]), ["input", C3, MP, "output"]),
    (_matrix(5, [(0, 1), (0, 2), (1, 3), (2, 4), (3, 4)]), ["input", C3, C1, MP, "output"]),
    (_matrix(6, [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (0, 5)]),
     ["input", MP, C3, C3, C1, "output"]),
    (_matrix(7, [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (5, 6)]),
     ["input", C3, C3, C1, MP, C3, "output"]),
    (_matrix(7, [(0, 1), (0, 2), (0, 3), (1, 4), (2, 4), (3, 5), (4, 6), (5, 6), (1, 6)]),
     ["input", C1, C3, MP, C3, C1, "output"]),
]
#: Cell 8 with its two first op nodes swapped: another matrix, the same network.
RELABELLED_8 = (_matrix(5, [(0, 1), (0, 2), (2, 3), (1, 4), (3, 4)]),
                ["input", C1, C3, MP, "output"])
SEEDS = 3
#: The best cell by mean validation accuracy: the rank formula below, 5 i mod 12, is
#: largest (11) at i = 7.
BEST = 7


def adjacency_digits(m: Sequence[Sequence[int]]) -> str:
    return "".join(str(v) for row in m for v in row)


def module_hash(i: int) -> str:
    # Any 32 hex digits name a cell; the importer does not recompute NB-101's hash.
    return hashlib.md5(f"cell {i}".encode()).hexdigest()


def numbers(i: int, seed: int) -> dict[str, float]:
    """Final metrics of cell ``i``, run ``seed``: fractions and seconds, by formula."""
    rank = (5 * i) % len(CELLS)  # a permutation of the cells: the best is not the last
    return {
        "val": 0.80 + 0.01 * rank + 0.002 * seed,
        "test": 0.79 + 0.01 * rank + 0.003 * seed,
        "train": 0.99 - 0.001 * seed,
        "seconds": 1000.0 + 100.0 * i + 7.0 * seed,
        "params": 100_000 + 1_000 * i,
    }


def payload(i: int, seed: int, *, epochs: int = 108,
            cell: tuple[list[list[int]], list[str]] | None = None,
            metrics: bytes | None = None) -> bytes:
    m, ops = cell if cell is not None else CELLS[i]
    x = numbers(i, seed)
    if metrics is None:
        evals = [
            evaluation_data(0.0, 0.0, 0.1, 0.1, 0.1, ""),
            evaluation_data(epochs / 2, x["seconds"] / 2, x["train"] - 0.2, x["val"] - 0.2,
                            x["test"] - 0.2, f"/ckpt/{i}/{seed}/model.ckpt-half"),
            evaluation_data(float(epochs), x["seconds"], x["train"], x["val"], x["test"],
                            f"/ckpt/{i}/{seed}/model.ckpt-end"),
        ]
        metrics = model_metrics(evals, int(x["params"]), x["seconds"] * 1.1)
    item = [module_hash(i), epochs, adjacency_digits(m), ",".join(ops),
            base64.b64encode(metrics).decode()]
    return json.dumps(item).encode()


def miniature_payloads() -> list[bytes]:
    # Seeds outermost: a cell's three runs are far apart, as grouping must not assume.
    return [payload(i, s) for s in range(SEEDS) for i in range(len(CELLS))]


def write_tfrecord(path: Path, payloads: Sequence[bytes]) -> Path:
    path.write_bytes(b"".join(frame(p) for p in payloads))
    return path


@pytest.fixture
def source(tmp_path: Path) -> Path:
    return write_tfrecord(tmp_path / "nasbench_only108.tfrecord", miniature_payloads())


@pytest.fixture
def root(tmp_path: Path, source: Path) -> Path:
    clear_cache()
    out = tmp_path / "data"
    out.mkdir()
    import_nb101(source, out)
    return out


def record_offsets(path: Path) -> list[int]:
    data, out, pos = path.read_bytes(), [], 0
    while pos < len(data):
        out.append(pos)
        (n,) = struct.unpack_from("<Q", data, pos)
        pos += 16 + n
    return out


# --- CRC32C ----------------------------------------------------------------------------------

# RFC 3720 (iSCSI) appendix B.4 and the common check value.
VECTORS = [
    (b"", 0x00000000),
    (b"123456789", 0xE3069283),
    (bytes(32), 0x8A9136AA),
    (b"\xff" * 32, 0x62A8AB43),
    (bytes(range(32)), 0x46DD794E),
    (bytes(range(31, -1, -1)), 0x113FDB5C),
]


@pytest.mark.parametrize("data,expected", VECTORS)
def test_crc32c_known_vectors(data: bytes, expected: int) -> None:
    assert crc32c_bitwise(data) == expected  # the oracle itself
    assert crc32c(data) == expected
    assert crc32c_many([data]).tolist() == [expected]


def test_crc32c_matches_the_bitwise_oracle_on_every_length() -> None:
    rng = np.random.default_rng(0)
    blobs = [rng.integers(0, 256, size=n, dtype=np.uint8).tobytes() for n in range(0, 70)]
    blobs += [rng.integers(0, 256, size=int(n), dtype=np.uint8).tobytes()
              for n in rng.integers(300, 700, size=20)]
    expected = [crc32c_bitwise(b) for b in blobs]
    assert [crc32c(b) for b in blobs] == expected
    assert crc32c_many(blobs).tolist() == expected  # batched, mixed lengths, order kept
    assert crc32c_many([]).shape == (0,)
    # Continuing a CRC over a split equals the CRC of the whole.
    whole = blobs[-1]
    assert crc32c(whole[200:], crc32c(whole[:200])) == crc32c(whole)


def test_library_framing_is_the_official_one(tmp_path: Path) -> None:
    p = miniature_payloads()[0]
    with open(tmp_path / "x", "wb") as fh:
        write_record(fh, p)
    assert (tmp_path / "x").read_bytes() == frame(p)
    assert masked_crc32c(p) == masked(crc32c_bitwise(p))


# --- the protobuf reader against the independent encoder ----------------------------------------


def test_protobuf_fields_and_model_metrics() -> None:
    for n in (0, 1, 127, 128, 300, 2**31 - 1, 2**63):
        assert read_varint(pb_varint(n), 0) == (n, len(pb_varint(n)))
    assert as_int32(read_varint(pb_varint(-5), 0)[0]) == -5  # a 10-byte varint
    evals = [evaluation_data(float(k), 10.0 * k, 0.5, 0.6, 0.7, f"c{k}") for k in range(3)]
    # An unknown field (number 9) and a fixed32 are skipped, as protobuf readers do.
    blob = model_metrics(evals, 1234567, 99.5) + pb_int(9, 42) + pb_tag(10, 5) + b"abcd"
    params, got = decode_metrics(blob)
    assert params == 1234567 and got == evals
    fields = list(iter_fields(got[2]))
    assert [(f, w) for f, w, _ in fields] == [(1, 1), (2, 1), (3, 1), (4, 1), (5, 1), (6, 2)]
    assert struct.unpack("<d", fields[1][2])[0] == 20.0 and fields[5][2] == b"c2"
    for broken in (blob[:-3], pb_tag(1, 2) + pb_varint(50) + b"short", pb_tag(0, 0) + b"\x00",
                   pb_tag(4, 3), b"\xff" * 11):
        with pytest.raises(ProtobufError):
            decode_metrics(broken)
    with pytest.raises(ProtobufError, match="trainable_parameters"):
        decode_metrics(b"".join(pb_bytes(1, e) for e in evals))


# --- importing -------------------------------------------------------------------------------


def test_import_averages_the_three_runs(tmp_path: Path, source: Path) -> None:
    out = tmp_path / "data"
    written = import_nb101(source, out, progress=False)
    table = out / "nb101" / IMPORTED_FILE
    samples = out / "nb101" / "samples.json"
    assert written == [table, samples]
    # A miniature is a sample, declared as every partial table is.
    assert json.loads(samples.read_text()) == {IMPORTED_FILE: len(CELLS)}
    assert not [p for p in (out / "nb101").iterdir() if p.name.endswith(".tmp")]
    with np.load(table, allow_pickle=False) as z:
        cols = {k: z[k] for k in z.files}
    assert set(cols) == {*IMPORTED_COLUMNS, "format", "source", "epochs", "records"}
    assert int(cols["records"]) == len(CELLS) * SEEDS and int(cols["epochs"]) == 108
    assert str(cols["source"]) == "nasbench_only108.tfrecord"
    space = NB101Space()
    for i, (m, ops) in enumerate(CELLS):
        runs = [numbers(i, s) for s in range(SEEDS)]
        # By hand: the mean of the three runs, as percentages.
        val = (runs[0]["val"] + runs[1]["val"] + runs[2]["val"]) / 3 * 100
        test = (runs[0]["test"] + runs[1]["test"] + runs[2]["test"]) / 3 * 100
        seconds = (runs[0]["seconds"] + runs[1]["seconds"] + runs[2]["seconds"]) / 3
        assert cols["module_hash"][i].decode() == module_hash(i)  # first-record order
        assert cols["key"][i].decode() == space.from_matrix(m, ops).key
        assert cols["val_accuracy"][i] == pytest.approx(val, rel=1e-12)
        assert cols["test_accuracy"][i] == pytest.approx(test, rel=1e-12)
        assert cols["train_accuracy"][i] == pytest.approx((0.99 - 0.001) * 100, rel=1e-12)
        assert cols["train_seconds"][i] == pytest.approx(seconds, rel=1e-12)
        assert cols["params"][i] == pytest.approx(runs[0]["params"] / 1e6, rel=1e-12)
        assert cols["n_seeds"][i] == SEEDS
        n = len(m)
        assert cols["n_nodes"][i] == n
        assert cols["adjacency"][i, :n, :n].tolist() == m and not cols["adjacency"][i, n:].any()
        codes = {"input": 0, "output": 1, MP: 2, C1: 3, C3: 4}
        assert cols["ops"][i].tolist() == [codes[o] for o in ops] + [-1] * (7 - n)


def test_import_keeps_other_declarations_and_never_overwrites(tmp_path: Path,
                                                              source: Path) -> None:
    out = tmp_path / "data"
    (out / "nb101").mkdir(parents=True)
    (out / "nb101" / "samples.json").write_text(json.dumps({"nb101_500_cifar10.json": 500}))
    import_nb101(source, out)
    table = out / "nb101" / IMPORTED_FILE
    assert json.loads((out / "nb101" / "samples.json").read_text()) == {
        "nb101_500_cifar10.json": 500, IMPORTED_FILE: len(CELLS)}
    before = table.read_bytes()
    with pytest.raises(TableExistsError, match="already exists") as info:
        import_nb101(source, out)
    assert isinstance(info.value, BoNasError)
    assert table.read_bytes() == before
    # Forced, from a file with fewer cells: replaced, and the declaration follows.
    fewer = write_tfrecord(tmp_path / "fewer.tfrecord",
                           [payload(i, s) for s in range(SEEDS) for i in range(5)])
    assert import_nb101(fewer, out, force=True)[0] == table
    assert table.read_bytes() != before
    assert json.loads((out / "nb101" / "samples.json").read_text())[IMPORTED_FILE] == 5


def test_records_at_other_budgets_are_skipped(tmp_path: Path) -> None:
    # nasbench_full.tfrecord also holds 4, 12 and 36 epochs.
    payloads = [payload(i, s, epochs=e) for e in (4, 108, 36) for s in range(SEEDS)
                for i in range(4)]
    out = tmp_path / "data"
    import_nb101(write_tfrecord(tmp_path / "full.tfrecord", payloads), out)
    with np.load(out / "nb101" / IMPORTED_FILE) as z:
        assert int(z["records"]) == 4 * SEEDS and z["key"].shape == (4,)
        assert z["val_accuracy"][1] == pytest.approx(
            np.mean([numbers(1, s)["val"] for s in range(SEEDS)]) * 100)
    only_short = write_tfrecord(tmp_path / "short.tfrecord", [payload(0, 0, epochs=4)])
    with pytest.raises(NB101ImportError, match="no records at 108 epochs"):
        import_nb101(only_short, tmp_path / "other")


def test_progress_bar_only_when_asked(tmp_path: Path, source: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    import_nb101(source, tmp_path / "a")  # stderr is not a terminal under pytest
    assert capsys.readouterr().err == ""
    import_nb101(source, tmp_path / "b", progress=True)
    err = capsys.readouterr().err
    assert "nasbench_only108.tfrecord" in err and "100%" in err


# --- corrupt, truncated and malformed files ----------------------------------------------------


def refused(source: Path, out: Path, error: type[Exception], *patterns: str) -> str:
    with pytest.raises(error) as info:
        import_nb101(source, out)
    msg = str(info.value)
    assert isinstance(info.value, SourceFileError) and isinstance(info.value, BenchmarkTableError)
    assert isinstance(info.value, ValueError)
    assert str(source) in msg, msg
    for p in patterns:
        assert p in msg, msg
    assert not (out / "nb101" / IMPORTED_FILE).exists()  # nothing written
    return msg


def test_a_flipped_byte_is_caught_by_the_crc_naming_the_record(tmp_path: Path,
                                                                source: Path) -> None:
    offsets = record_offsets(source)
    data = source.read_bytes()
    out = tmp_path / "data"
    for number, where, what in ((5, 16 + 40, "payload CRC mismatch"),  # inside the JSON
                                (3, 2, "length CRC mismatch"),  # the length field
                                (7, 9, "length CRC mismatch")):  # the length's CRC
        broken = bytearray(data)
        broken[offsets[number - 1] + where] ^= 0x01
        path = tmp_path / f"flip{number}.tfrecord"
        path.write_bytes(bytes(broken))
        refused(path, out, TFRecordError, f"record {number} ", what,
                f"byte offset {offsets[number - 1]}")
    # The payload's stored CRC itself.
    broken = bytearray(data)
    last = offsets[-1]
    broken[-1] ^= 0x80
    (tmp_path / "crc.tfrecord").write_bytes(bytes(broken))
    refused(tmp_path / "crc.tfrecord", out, TFRecordError, f"record {len(offsets)} ",
            "payload CRC mismatch", f"byte offset {last}")
    # Records before the bad one were read and handed out: the error is in order.
    path = tmp_path / "flip5.tfrecord"
    seen = []
    with pytest.raises(TFRecordError):
        for number, _ in iter_records(path, batch=2):
            seen.append(number)
    assert seen == [1, 2, 3, 4]


def test_a_truncated_file_names_the_record(tmp_path: Path, source: Path) -> None:
    data = source.read_bytes()
    offsets = record_offsets(source)
    out = tmp_path / "data"
    n = len(offsets)
    for cut, patterns in (
        (len(data) - 1, (f"record {n} ", "truncated", "needs")),  # inside the footer
        (offsets[-1] + 30, (f"record {n} ", "truncated")),  # inside the payload
        (offsets[-1] + 5, (f"record {n} ", "truncated", "header")),  # inside the header
        (offsets[4] + 12, ("record 5 ", "truncated")),  # just after the header
    ):
        path = tmp_path / f"cut{cut}.tfrecord"
        path.write_bytes(data[:cut])
        refused(path, out, TFRecordError, *patterns)
    empty = tmp_path / "empty.tfrecord"
    empty.write_bytes(b"")
    refused(empty, out, NB101ImportError, "no records")


def test_cut_at_a_record_boundary_imports_as_a_sample(tmp_path: Path, source: Path,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    # Indistinguishable from a small file but for its size: a sample, and said so.
    data = source.read_bytes()
    offsets = record_offsets(source)
    path = tmp_path / "cut.tfrecord"
    path.write_bytes(data[: offsets[len(CELLS) + 3]])  # all of seed 0, 3 cells of seed 1
    out = tmp_path / "data"
    with caplog.at_level("WARNING"):
        import_nb101(path, out)
    assert "is a sample" in caplog.text and "fewer than 3 runs" in caplog.text
    with np.load(out / "nb101" / IMPORTED_FILE) as z:
        assert z["n_seeds"].tolist() == [2, 2, 2] + [1] * (len(CELLS) - 3)
        assert z["val_accuracy"][0] == pytest.approx(
            (numbers(0, 0)["val"] + numbers(0, 1)["val"]) / 2 * 100)


def _bad_file(tmp_path: Path, number: int, bad: bytes) -> Path:
    payloads = miniature_payloads()
    payloads[number - 1] = bad
    return write_tfrecord(tmp_path / f"bad{number}.tfrecord", payloads)


@pytest.mark.parametrize("make,patterns", [
    (lambda: b"not json", ["payload is not JSON"]),
    (lambda: b'{"a": 1}', ["expected the list"]),
    (lambda: json.dumps(["xyz", 108, "0100", "input,output", ""]).encode(),
     ["32 lowercase hex"]),
    (lambda: payload(1, 0, cell=([[0, 1, 0], [0, 0, 1]], ["input", C3, "output"])),
     ["not a square matrix"]),
    (lambda: payload(1, 0, cell=([[0, 1, 0], [0, 0, 1], [1, 0, 0]], ["input", C3, "output"])),
     ["not strictly upper triangular"]),
    (lambda: payload(1, 0, cell=([[0, 1, 0], [0, 0, 2], [0, 0, 0]], ["input", C3, "output"])),
     ["digits other than 0/1"]),
    (lambda: payload(1, 0, cell=(CELLS[1][0], ["input", "output"])),
     ["2 operations", "3x3 matrix"]),
    (lambda: payload(1, 0, cell=(CELLS[1][0], ["input", "conv5x5", "output"])),
     ["unknown operation 'conv5x5'"]),
    (lambda: payload(1, 0, cell=(CELLS[1][0], [C3, "input", "output"])),
     ["must start with 'input'"]),
    (lambda: payload(1, 0, cell=(_matrix(3, [(0, 1)]), ["input", C3, "output"])),
     ["not an NB-101 cell", "no path"]),
    (lambda: payload(1, 0, metrics=b"\x0a\x05ab"), ["not a ModelMetrics message"]),
    (lambda: payload(1, 0, metrics=model_metrics([evaluation_data(0, 0, 0.1, 0.1, 0.1, "")],
                                                 5, 1.0)),
     ["1 evaluation_data entries"]),
    (lambda: payload(1, 0, metrics=model_metrics(
        [evaluation_data(k, 1.0, 0.5, 1.5 if k == 2 else 0.5, 0.5, "") for k in range(3)],
        5, 1.0)),
     ["final validation accuracy 1.5"]),
])
def test_malformed_records_name_the_record(tmp_path: Path, make, patterns: list[str]) -> None:
    # Record 2 is cell 1's first run.
    path = _bad_file(tmp_path, 2, make())
    refused(path, tmp_path / "data", NB101ImportError, "record 2", *patterns)


def test_inconsistent_runs_are_refused(tmp_path: Path) -> None:
    n = len(CELLS)
    payloads = miniature_payloads()
    # Cell 1's second run (record n + 2) with another matrix under the same hash.
    payloads[n + 1] = payload(1, 1, cell=CELLS[2])
    path = write_tfrecord(tmp_path / "other.tfrecord", payloads)
    refused(path, tmp_path / "d", NB101ImportError, f"record {n + 2}", "another cell",
            "record 2")
    # A fourth run of one cell: the file repeats itself.
    path = write_tfrecord(tmp_path / "twice.tfrecord", [*miniature_payloads(), payload(0, 0)])
    refused(path, tmp_path / "d", NB101ImportError, f"record {3 * n + 1}", "a run 4")
    # Two hashes of one network (cell 8 relabelled under a new hash).
    extra = json.loads(payload(8, 0, cell=RELABELLED_8))
    extra[0] = module_hash(99)
    path = write_tfrecord(tmp_path / "iso.tfrecord",
                          [*miniature_payloads(), json.dumps(extra).encode()])
    refused(path, tmp_path / "d", NB101ImportError, f"record {3 * n + 1}", module_hash(8),
            "same network")


# --- the evaluator on the imported table -------------------------------------------------------


def test_evaluator_prefers_the_imported_table(root: Path) -> None:
    bench = NB101Benchmark(root)
    assert bench.imported and bench.sample and len(bench) == len(CELLS)
    space = NB101Space()
    for i, (m, ops) in enumerate(CELLS):
        r = bench.evaluate(space.from_matrix(m, ops))
        runs = [numbers(i, s) for s in range(SEEDS)]
        assert r.val_accuracy == pytest.approx(np.mean([x["val"] for x in runs]) * 100)
        assert r.test_accuracy == pytest.approx(np.mean([x["test"] for x in runs]) * 100)
        assert r.costs == pytest.approx({"params": runs[0]["params"] / 1e6,
                                         "train_seconds": np.mean([x["seconds"] for x in runs])})
        assert r.info["module_hash"] == module_hash(i) and r.info["n_seeds"] == SEEDS
    # Another matrix of one network, and an unpruned copy, answer for it.
    copy_arch = space.from_matrix(*RELABELLED_8)
    copy = bench.evaluate(copy_arch)
    assert copy == bench.evaluate(space.from_matrix(*CELLS[8]))
    dead = _matrix(4, [(0, 1), (1, 3), (0, 2)])  # node 2 is dead: cell 1 with a dangling node
    assert bench.evaluate(space.from_matrix(dead, ["input", C3, MP, "output"])) == \
        bench.evaluate(space.from_matrix(*CELLS[1]))
    missing = space.from_matrix(_matrix(4, [(0, 1), (1, 2), (2, 3)]), ["input", C3, C3, "output"])
    with pytest.raises(EvaluationError, match="not in the NB-101 sample"):
        bench.evaluate(missing)
    opt = bench.optimum
    best = [numbers(BEST, s) for s in range(SEEDS)]
    assert opt.index == BEST and opt.string == space.from_matrix(*CELLS[BEST]).key
    assert opt.test_accuracy == pytest.approx(np.mean([x["test"] for x in best]) * 100)
    res = bench.all_results()
    assert res.test_accuracy is not None and res.architectures is not None
    assert res.keys == tuple(a.key for a in res.architectures)
    assert not res.test_accuracy.flags.writeable
    assert bench.zero_cost() is None
    # Pickled as its settings; the worker reads the table from its own cache.
    blob = pickle.dumps(bench)
    assert len(blob) < 2000 and pickle.loads(blob).evaluate(copy_arch) == copy
    # The settings do not change: a stored campaign finds the table again.
    assert bench.to_config() == {"kind": "nb101_table", "data_dir": str(root)}
    # NASLib's sample beside it is not read.
    (root / "nb101" / "nb101_500_cifar10.json").write_text("not json")
    assert NB101Benchmark(root).imported


def test_a_miniature_is_searched_as_a_sample(root: Path) -> None:
    bench = NB101Benchmark(root)
    space = bench.search_space()
    assert isinstance(space, SubsetSpace) and isinstance(space.base, NB101Space)
    assert {a.key for a in space.enumerate()} == {
        NB101Space().from_matrix(m, o).key for m, o in CELLS}
    for strategy in (RandomSearch(), RegularizedEvolution(), LocalSearch()):
        with Campaign(space, bench, strategy, seed=0) as c:
            c.run(len(CELLS))
            assert all(t.state is TrialState.COMPLETE for t in c.history)
            best = max(c.history, key=lambda t: t.result.val_accuracy)  # type: ignore[union-attr]
            assert bench.is_optimum(best.arch)
    # The harness reports the test error where the table has a test split.
    trial = run_trial("nb101", "cifar10", str(root), "random", 0, 0, len(CELLS))
    assert trial.found_optimum
    assert trial.incumbent_test_error[-1] == pytest.approx(100 - bench.optimum.test_accuracy)
    assert not any(math.isnan(t) for t in trial.test)


def test_an_undeclared_partial_table_is_refused(root: Path) -> None:
    (root / "nb101" / "samples.json").unlink()
    clear_cache()
    with pytest.raises(BenchmarkTableError, match=rf"{IMPORTED_FILE}: 12 rows, expected 423,624"):
        NB101Benchmark(root)


def _rewrite(path: Path, **changes: np.ndarray) -> None:
    with np.load(path, allow_pickle=False) as z:
        cols = {k: z[k] for k in z.files}
    cols.update(changes)
    with open(path, "wb") as fh:
        np.savez_compressed(fh, **cols)
    clear_cache()


def test_a_damaged_table_is_refused(root: Path) -> None:
    path = root / "nb101" / IMPORTED_FILE
    with np.load(path) as z:
        cols = {k: z[k] for k in z.files}
    adj = cols["adjacency"].copy()
    adj[4, 2, 0] = 1
    _rewrite(path, adjacency=adj)
    with pytest.raises(BenchmarkTableError, match=f"row 4 .module hash {module_hash(4)}.: "
                                                  "'adjacency' not strictly upper"):
        NB101Benchmark(root)
    val = cols["val_accuracy"].copy()
    val[2] = float("nan")
    _rewrite(path, adjacency=cols["adjacency"], val_accuracy=val)
    with pytest.raises(BenchmarkTableError, match=r"row 2 .*'val_accuracy' not a percentage"):
        NB101Benchmark(root)
    key = cols["key"].copy()
    key[3] = key[5]
    _rewrite(path, val_accuracy=cols["val_accuracy"], key=key)
    with pytest.raises(BenchmarkTableError, match="more than one row"):
        NB101Benchmark(root)
    key[3] = b"0" * 32
    _rewrite(path, key=key)
    with pytest.raises(BenchmarkTableError, match=r"row 3: stored key 0000.*another canonical"):
        NB101Benchmark(root)
    _rewrite(path, key=cols["key"], format=np.array("something else"))
    with pytest.raises(BenchmarkTableError, match="table format 'something else'"):
        NB101Benchmark(root)
    path.write_bytes(b"PK\x03\x04 not really a zip")
    clear_cache()
    with pytest.raises(BenchmarkTableError, match=f"{IMPORTED_FILE}: not a readable .npz"):
        NB101Benchmark(root)


# --- a complete table: the whole space ---------------------------------------------------------


def write_complete_table(path: Path, n: int = 423_624) -> list[int]:
    """A table of ``n`` rows laid out as a complete import; returns its real rows.

    The rows the loader re-derives (8 evenly spaced) hold real cells; the others hold a
    real cell's matrix under placeholder keys, which nothing looks up. Building 423,624
    real networks takes minutes; the layout is what is under test.
    """
    real = np.unique(np.linspace(0, n - 1, 8).astype(int)).tolist()
    space = NB101Space()
    cols = {name: np.zeros((n, *shape), dtype=dtype)
            for name, (dtype, shape) in IMPORTED_COLUMNS.items()}
    cols["n_nodes"][:] = 2
    cols["adjacency"][:, 0, 1] = 1
    cols["ops"][:] = -1
    cols["ops"][:, :2] = [0, 1]
    # Placeholder keys as random as real ones (hex digests), so the table compresses
    # and loads like a real one.
    cols["key"][:] = [hashlib.md5(b"%d" % i).hexdigest().encode() for i in range(n)]
    cols["module_hash"][:] = [hashlib.md5(b"m%d" % i).hexdigest().encode() for i in range(n)]
    rng = np.random.default_rng(0)
    cols["val_accuracy"][:] = rng.uniform(80, 94, n)
    cols["test_accuracy"][:] = cols["val_accuracy"] - 0.5
    cols["train_accuracy"][:] = 100.0
    cols["train_seconds"][:] = 1500.0
    cols["params"][:] = 2.5
    cols["n_seeds"][:] = 3
    codes = {"input": 0, "output": 1, MP: 2, C1: 3, C3: 4}
    for row, (m, ops) in zip(real, CELLS[1:]):
        k = len(m)
        cols["n_nodes"][row] = k
        cols["adjacency"][row] = 0
        cols["adjacency"][row, :k, :k] = m
        cols["ops"][row] = [codes[o] for o in ops] + [-1] * (7 - k)
        cols["key"][row] = space.from_matrix(m, ops).key.encode()
    cols["val_accuracy"][real[3]] = 95.0  # the optimum is a real cell
    cols["test_accuracy"][real[3]] = 94.5
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        np.savez_compressed(fh, format=np.array("bo-nas nb101 table 1"),
                            source=np.array("synthetic"), epochs=np.array(108),
                            records=np.array(3 * n), **cols)
    return real


def test_a_complete_table_answers_the_whole_space(tmp_path: Path) -> None:
    clear_cache()
    real = write_complete_table(tmp_path / "nb101" / IMPORTED_FILE)
    bench = NB101Benchmark(tmp_path)
    assert not bench.sample and len(bench) == 423_624
    assert type(bench.search_space()) is NB101Space
    res = bench.all_results()
    assert res.architectures is None and res.test_accuracy is not None
    space = NB101Space()
    arch = space.from_matrix(*CELLS[4])
    assert bench.evaluate(arch).test_accuracy == pytest.approx(95.0 - 0.5)
    assert bench.optimum.index == real[3] and bench.is_optimum(arch)
    with pytest.raises(EvaluationError, match="not a cell of NB101Space"):
        bench.evaluate(Architecture.from_edges(["input", "conv5x5", "output"], [(0, 1), (1, 2)]))


def test_the_sample_path_is_unchanged_without_an_import(tmp_path: Path) -> None:
    clear_cache()
    (tmp_path / "nb101").mkdir()
    with pytest.raises(BoNasError, match=r"nb101_500_cifar10\.json.*nb101_cifar10\.npz"):
        NB101Benchmark(tmp_path)
    assert os.listdir(tmp_path / "nb101") == []
