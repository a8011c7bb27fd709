"""Error types shared by every part of bo-nas.

`BoNasError` is the root; the subclasses also derive from the builtin a caller would
expect (`ValueError` for bad input), so ``except ValueError`` keeps working.
"""

from __future__ import annotations


class BoNasError(Exception):
    """Root of every error raised on purpose by bo-nas."""


class InvalidArchitectureError(BoNasError, ValueError):
    """An architecture (graph, string, matrix or JSON) is malformed or outside its space."""
