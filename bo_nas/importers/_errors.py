"""Errors of the importers: a bad source file, an output that exists, one that cannot be
written. All derive from the project's benchmark-data errors; the first two are
`ValueError`s (bad input: exit status 2 on the command line)."""

from __future__ import annotations

from bo_nas.evaluators._tables import BenchmarkDataError, BenchmarkTableError


class SourceFileError(BenchmarkTableError):
    """An official benchmark file is cut short, corrupt, or not of the expected structure
    (the message names the file and what is wrong)."""


class TableExistsError(BenchmarkDataError, ValueError):
    """A table the import would write exists already (pass ``force=True`` / ``--force``)."""


class TableWriteError(BenchmarkDataError, OSError):
    """A table could not be written (read-only folder, disk full)."""
