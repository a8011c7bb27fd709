"""The importers' progress bar: tqdm on stderr, shown only on a terminal unless asked."""

from __future__ import annotations

import sys
from typing import Any

from tqdm.auto import tqdm


def bar(total: int | None, desc: str, progress: bool | None) -> Any:
    """A bar of ``total`` architectures.

    Args:
        total: Architectures to read, when known (`tqdm.total` may be set later).
        desc: Its label.
        progress: True shows it, False hides it, None shows it when stderr is a terminal
            (not in logs and CI), like the command line's other bars.
    """
    show = sys.stderr.isatty() if progress is None else bool(progress)
    return tqdm(total=total, desc=desc, unit="arch", disable=not show, file=sys.stderr,
                dynamic_ncols=True, leave=True)
