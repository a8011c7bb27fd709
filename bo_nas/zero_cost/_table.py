"""Zero-cost scores read from tables: NB-201's proxy file and NB-101's sample file.

Both files carry scores computed by others on CIFAR-10 images (``nwot``, ``jacov``,
``synflow``, ``snip``, ...). They are keyed here by the network an architecture is
(its canonical form), so the 15,625 NB-201 cells all find their row among the 8,765
distinct networks the file covers. Failed computations are stored in these files as a
sentinel (-1e8); they stay in as the lowest scores, which is what a rank transform of
them means anyway.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from bo_nas.encodings import Architecture, InvalidArchitectureError, decode_nb101_key
from bo_nas.encodings._nb201 import nb201_canonical_ops, nb201_ops_of
from bo_nas.evaluators._nb101_table import parse_nb101_key
from bo_nas.evaluators._nb201_readers import zc_rows
from bo_nas.evaluators._tables import (
    BenchmarkTableError,
    cached,
    data_file,
    parse_number,
    read_json,
    resolve_data_dir,
)

from ._source import ScoreSource

NB201_FILE = "nb201_zc_proxies_cifar10.csv"
NB101_FILE = "nb101_500_cifar10.json"
#: Scores the search combines by default: the three the zero-cost literature relies on
#: (NASWOT, the Jacobian covariance and SynFlow), each computable by bo-nas itself.
DEFAULT_SCORES: tuple[str, ...] = ("nwot", "jacov", "synflow")
#: Proxy columns of the NB-201 file (its other columns are keys, params and FLOPs).
NB201_SCORES: tuple[str, ...] = (
    "epe_nas", "fisher", "grad_norm", "grasp", "jacov", "l2_norm", "nwot", "plain", "snip",
    "synflow", "zen", "params", "flops",
)
#: Proxy columns of the NB-101 sample (it has no ``nwot``).
NB101_SCORES: tuple[str, ...] = (
    "epe_nas", "fisher", "grad_norm", "grasp", "jacov", "l2_norm", "plain", "snip",
    "synflow", "params", "flops",
)
# Distinct NB-201 networks (canonical cells) among the 15,625 cells.
_NB201_DISTINCT = 8765


class TableScores(ScoreSource):
    """Scores looked up by architecture in a table of precomputed proxies.

    Args:
        table: Canonical key -> one row of scores (in the order of ``names``).
        names: The score columns.
        key_of: The canonical key of an architecture (what ``table`` is keyed by).
        fingerprint: Identifies the file the table came from.
        sample: ``True`` when the table holds only part of its space; architectures it
            lacks score NaN instead of raising.
    """

    free = True

    def __init__(
        self,
        table: Mapping[str, np.ndarray],
        names: Sequence[str],
        key_of: Callable[[Architecture], str],
        fingerprint: str,
        *,
        sample: bool = False,
    ) -> None:
        self.names = tuple(names)
        self._table = table
        self._key_of = key_of
        self._fingerprint = fingerprint
        self.sample = sample

    @property
    def fingerprint(self) -> str:
        return self._fingerprint

    def scores(self, archs: Sequence[Architecture]) -> np.ndarray:
        out = np.full((len(archs), len(self.names)), np.nan)
        for i, arch in enumerate(archs):
            row = self._table.get(self._key_of(arch))
            if row is None:
                if not self.sample:
                    raise KeyError(f"{arch!r}: no zero-cost scores in the table")
                continue
            out[i] = row
        return out

    def __repr__(self) -> str:
        return f"TableScores(names={self.names!r}, rows={len(self._table)})"


def _check_names(names: Sequence[str], available: Sequence[str], path: Path) -> tuple[str, ...]:
    names = tuple(names)
    unknown = [n for n in names if n not in available]
    if not names or unknown:
        raise ValueError(
            f"scores: {path.name} has the scores {list(available)}, got {list(names)}"
        )
    return names


def _fingerprint(path: Path, names: Sequence[str]) -> str:
    st = path.stat()
    text = f"{path.name}:{st.st_size}:{','.join(names)}"
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def _nb201_key(arch: Architecture) -> str:
    return "|".join(nb201_canonical_ops(nb201_ops_of(arch)))


def _read_nb201(path: Path, complete: bool) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for line, ops, row in zc_rows(path):
        key = "|".join(nb201_canonical_ops(ops))
        values = np.array([parse_number(path, f"line {line}", c, row[c]) for c in NB201_SCORES])
        out.setdefault(key, values)
    if complete and len(out) != _NB201_DISTINCT:
        raise BenchmarkTableError(
            f"{path}: covers {len(out)} distinct NB-201 networks, expected all "
            f"{_NB201_DISTINCT} (a cut or partial file?)"
        )
    return out


def nb201_table_scores(
    data_dir: str | os.PathLike[str] | None = None,
    names: Sequence[str] = DEFAULT_SCORES,
    *,
    sample: bool = False,
) -> TableScores:
    """NB-201 zero-cost scores from ``nb201/nb201_zc_proxies_cifar10.csv``.

    Args:
        data_dir: Benchmark data folder (`$BO_NAS_DATA_DIR` when omitted).
        names: Which columns (`NB201_SCORES`).
        sample: Accept a file that covers only some networks (for a sample benchmark);
            the others score NaN.

    Raises:
        BenchmarkFileNotFoundError: no such file. BenchmarkTableError: a bad row, or
            (unless ``sample``) a file that does not cover all 8,765 distinct networks.
    """
    path = data_file(resolve_data_dir(data_dir), "nb201", NB201_FILE, "NB-201 zero-cost table")
    names = _check_names(names, NB201_SCORES, path)
    full = cached("nb201-zc", [path], lambda: _read_nb201(path, not sample), sample)
    cols = [NB201_SCORES.index(n) for n in names]
    table = {k: v[cols] for k, v in full.items()}
    return TableScores(table, names, _nb201_key, _fingerprint(path, names), sample=sample)


def _read_nb101(path: Path) -> dict[str, np.ndarray]:
    from bo_nas.spaces import NB101Space

    data = read_json(path)
    try:
        table = data["nasbench101"]["cifar10"]  # type: ignore[index]
        if not isinstance(table, dict) or not table:
            raise TypeError
    except (KeyError, TypeError):
        raise BenchmarkTableError(
            f"{path}: expected {{'nasbench101': {{'cifar10': {{KEY: {{...}}}}}}}}"
        ) from None
    space = NB101Space()
    out: dict[str, np.ndarray] = {}
    for key, entry in table.items():
        where = f"entry {key!r}"
        try:
            arch = space.from_matrix(*decode_nb101_key(parse_nb101_key(path, key)))
        except InvalidArchitectureError as exc:
            raise BenchmarkTableError(f"{path}, {where}: not an NB-101 cell ({exc})") from None
        if not isinstance(entry, dict):
            raise BenchmarkTableError(f"{path}, {where}: expected an object, got {entry!r}")
        missing = [c for c in NB101_SCORES if c not in entry]
        if missing:
            raise BenchmarkTableError(f"{path}, {where}: missing scores {missing}")
        out.setdefault(
            arch.key, np.array([parse_number(path, where, c, entry[c]) for c in NB101_SCORES])
        )
    return out


def nb101_table_scores(
    data_dir: str | os.PathLike[str] | None = None,
    names: Sequence[str] = ("jacov", "synflow"),
) -> TableScores:
    """NB-101 zero-cost scores of the 500-cell sample ``nb101/nb101_500_cifar10.json``
    (a sample: cells outside it score NaN). It has no ``nwot`` column."""
    path = data_file(resolve_data_dir(data_dir), "nb101", NB101_FILE, "NB-101 table")
    names = _check_names(names, NB101_SCORES, path)
    full = cached("nb101-zc", [path], lambda: _read_nb101(path))
    cols = [NB101_SCORES.index(n) for n in names]
    table = {k: v[cols] for k, v in full.items()}
    return TableScores(table, names, lambda a: a.key, _fingerprint(path, names), sample=True)
