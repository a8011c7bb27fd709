"""Importers: bo-nas's benchmark tables from the official benchmark files.

`import_benchmark` picks the importer from the file:

- a ``.pth`` (``NAS-Bench-201-v1_0-e61699.pth``, ``NAS-Bench-201-v1_1-096897.pth``), a
  NATS-Bench topology folder or ``.tar`` (``NATS-tss-v1_0-3ffb9-simple``):
  `import_nb201`, which writes ``<out_dir>/nb201/`` (tables listed in
  `bo_nas.importers._writers`);
- a ``.tfrecord`` (``nasbench_only108.tfrecord``): `import_nb101`.

The official files are pickles, and unpickling runs whatever a file names: these
importers read them with a restricted reader that builds nothing but containers,
strings and numbers (`bo_nas.importers._pickles`). Errors: `SourceFileError` for a bad
source, `TableExistsError` for a table that exists (``force`` replaces it),
`TableWriteError` when the output cannot be written.

``bo-nas data import FILE --out DIR`` is the command line.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bo_nas.evaluators._tables import BenchmarkFileNotFoundError

from ._errors import SourceFileError, TableExistsError, TableWriteError
from ._nb201 import import_nb201

if TYPE_CHECKING:
    from ._nb101 import import_nb101

__all__ = [
    "FORMATS",
    "SourceFileError",
    "TableExistsError",
    "TableWriteError",
    "detect_format",
    "import_benchmark",
    "import_nb101",
    "import_nb201",
]

#: Formats `detect_format` tells apart, and what each is.
FORMATS: dict[str, str] = {
    "nb201-pth": "NAS-Bench-201 .pth (v1_0, v1_1)",
    "nats-tss": "NATS-Bench topology archive (NATS-tss-v1_0-3ffb9-simple, folder or .tar)",
    "nb101-tfrecord": "NAS-Bench-101 .tfrecord",
}


def __getattr__(name: str) -> Any:
    # import_nb101 lives in its own module, loaded only when used.
    if name == "import_nb101":
        from ._nb101 import import_nb101

        return import_nb101
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def detect_format(source: str | os.PathLike[str]) -> str:
    """The format of ``source``: a key of `FORMATS`.

    Raises:
        BenchmarkFileNotFoundError: when ``source`` does not exist.
        SourceFileError: when it is none of the formats.
    """
    import tarfile

    path = Path(source)
    if not path.exists():
        raise BenchmarkFileNotFoundError(f"{path}: no such file or folder")
    name = path.name.lower()
    if path.is_dir():
        if not (path / "meta.pickle.pbz2").is_file():
            raise SourceFileError(f"{path}: a folder without meta.pickle.pbz2: not a "
                                  "NATS-Bench archive (expected NATS-tss-v1_0-3ffb9-simple/)")
        if "-sss-" in name:
            raise SourceFileError(f"{path}: the NATS-Bench size search space (sss) is not "
                                  "NB-201's cell space; use the topology archive (tss)")
        return "nats-tss"
    if name.endswith(".pth"):
        return "nb201-pth"
    if ".tfrecord" in name:
        return "nb101-tfrecord"
    if path.is_file() and tarfile.is_tarfile(path):
        if "-sss-" in name:
            raise SourceFileError(f"{path}: the NATS-Bench size search space (sss) is not "
                                  "NB-201's cell space; use the topology archive (tss)")
        return "nats-tss"
    raise SourceFileError(
        f"{path}: cannot tell what this is: expected one of "
        f"{'; '.join(FORMATS.values())}"
    )


def import_benchmark(
    source: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    force: bool = False,
    progress: bool | None = None,
) -> list[Path]:
    """Write the tables of the official benchmark file ``source`` into the data
    directory ``out_dir``, with the importer its format calls for (`detect_format`).

    Args:
        source: The official file or folder.
        out_dir: The data directory (``nb201/`` or ``nb101/`` is written inside).
        force: Replace tables that exist.
        progress: Show a progress bar (None: when stderr is a terminal).

    Returns:
        The files written.

    Raises:
        BenchmarkFileNotFoundError, SourceFileError, TableExistsError, TableWriteError:
            see `import_nb201`.
    """
    kind = detect_format(source)
    if kind == "nb101-tfrecord":
        from ._nb101 import import_nb101 as nb101

        return nb101(Path(source), Path(out_dir), progress=progress, force=force)
    return import_nb201(source, out_dir, force=force, progress=progress)
