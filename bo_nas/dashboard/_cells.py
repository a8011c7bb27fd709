"""Cells drawn for the page: `bo_nas.plotting.draw_cell` rendered to SVG on the server.

The page shows the same drawing as ``bo-nas run``, ``bo-nas plot`` and the notebooks
(the layered layout, one colour per op, DARTS genotypes as their two cells) rather than
a second drawing written in JavaScript that would drift from it. SVG stays sharp at any
size and is a few tens of kilobytes; an architecture never changes, so each drawing is
made once and kept (up to `CACHE_SIZE` of them).
"""

from __future__ import annotations

import io
import threading
from collections import OrderedDict

from bo_nas.encodings import Architecture

#: Drawings kept in memory.
CACHE_SIZE = 256

_lock = threading.Lock()
_cache: OrderedDict[str, bytes] = OrderedDict()


def _render(arch: Architecture) -> bytes:
    import matplotlib

    # A server draws into files only: never a window, whatever the user's backend.
    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    from bo_nas.plotting import draw_cell

    # A bare Figure rather than pyplot: no global figure list to grow in a long-lived
    # server.
    fig = Figure(figsize=(4.6, 2.9))
    ax = fig.add_subplot()
    draw_cell(arch, ax=ax, title="", legend=True)
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", transparent=True,
                metadata={"Date": None})
    return buf.getvalue()


def cell_svg(arch: Architecture) -> bytes:
    """The SVG drawing of ``arch`` (made once per architecture, then kept)."""
    key = arch.key
    with _lock:
        # matplotlib's state (rcParams, font cache) is shared: one drawing at a time.
        svg = _cache.get(key)
        if svg is None:
            svg = _render(arch)
            _cache[key] = svg
            while len(_cache) > CACHE_SIZE:
                _cache.popitem(last=False)
        else:
            _cache.move_to_end(key)
        return svg
