"""A progress bar that only appears on a terminal."""

from __future__ import annotations

import sys
from typing import Any

from tqdm.auto import tqdm


def progress_bar(total: int, initial: int, desc: str, quiet: bool) -> Any:
    """`tqdm` on stderr; disabled when quiet or when stderr is not a terminal (logs, CI)."""
    disable = quiet or not sys.stderr.isatty()
    return tqdm(total=total, initial=min(initial, total), desc=desc, unit="eval",
                disable=disable, file=sys.stderr, dynamic_ncols=True, leave=True)
