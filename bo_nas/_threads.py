"""Thread settings for the small dense linear algebra of a GP surrogate."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block with ``n`` intra-op torch threads, then restore the previous count.

    A GP on a few hundred points spends microseconds per kernel; with several OpenMP
    threads the synchronisation dominates, and on a loaded machine idle threads spinning
    for a core made marginal-likelihood fits 20 to 70 times slower than one thread.
    """
    previous = torch.get_num_threads()
    if previous == n:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
