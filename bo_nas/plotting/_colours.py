"""Colours shared by every bo-nas figure: one fixed colour per operation.

All colours are mid-tones (from the Okabe–Ito colour-blind-safe set and matplotlib's
``tab`` palette), so they keep their contrast on a white and on a dark background.
Text and lines take the theme's own colours (``rcParams``), never a fixed black/white.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from types import MappingProxyType

import matplotlib as mpl

#: Colour of each known op. Ops that mean the same thing in different spaces share a
#: colour (NB-201's ``nor_conv_3x3`` and NB-101's ``conv3x3-bn-relu``), so cells of two
#: spaces read alike side by side: warm hues are convolutions, blues pooling, green skip.
OP_COLOURS: Mapping[str, str] = MappingProxyType(
    {
        # terminals
        "input": "#8E6AC8",
        "output": "#CC79A7",
        # NAS-Bench-201
        "nor_conv_3x3": "#D55E00",
        "nor_conv_1x1": "#E69F00",
        "avg_pool_3x3": "#0072B2",
        "skip_connect": "#009E73",
        "none": "#999999",
        # NAS-Bench-101
        "conv3x3-bn-relu": "#D55E00",
        "conv1x1-bn-relu": "#E69F00",
        "maxpool3x3": "#56B4E9",
        # DARTS
        "sep_conv_3x3": "#D55E00",
        "sep_conv_5x5": "#E69F00",
        "dil_conv_3x3": "#8C564B",
        "dil_conv_5x5": "#BCBD22",
        "max_pool_3x3": "#56B4E9",
    }
)

#: Mid-tone palette for ops without a fixed colour (matplotlib's tab10 minus its grey,
#: which would be confused with ``none``).
FALLBACK_PALETTE: tuple[str, ...] = (
    "#1F77B4",
    "#FF7F0E",
    "#2CA02C",
    "#D62728",
    "#9467BD",
    "#8C564B",
    "#E377C2",
    "#BCBD22",
    "#17BECF",
)

#: Cycle of mid-tone colours for the methods of a comparison plot.
METHOD_PALETTE: tuple[str, ...] = (
    "#0072B2",
    "#D55E00",
    "#009E73",
    "#CC79A7",
    "#E69F00",
    "#56B4E9",
    "#8E6AC8",
    "#999999",
)


def op_colour(op: str) -> str:
    """Hex colour of an operation.

    Known ops get their entry in `OP_COLOURS`; any other op a colour chosen by a
    stable hash (MD5 of its name, not Python's salted ``hash``), so the same op has the
    same colour in every figure, process and session.

    Example:
        >>> op_colour("nor_conv_3x3")
        '#D55E00'
        >>> op_colour("my_op") == op_colour("my_op")
        True
    """
    if not isinstance(op, str):
        raise ValueError(f"op: expected an op name (str), got {type(op).__name__}")
    known = OP_COLOURS.get(op)
    if known is not None:
        return known
    digest = hashlib.md5(op.encode("utf-8"), usedforsecurity=False).digest()
    return FALLBACK_PALETTE[int.from_bytes(digest[:4], "big") % len(FALLBACK_PALETTE)]


def method_colour(index: int) -> str:
    """Colour of the ``index``-th method in a comparison (cycles after 8)."""
    return METHOD_PALETTE[index % len(METHOD_PALETTE)]


def foreground() -> str:
    """The theme's text colour: black-ish on a light style, light on a dark one."""
    return str(mpl.rcParams["text.color"])


def line_colour() -> str:
    """The theme's axis-line colour, used for graph edges and reference lines."""
    return str(mpl.rcParams["axes.edgecolor"])


def background() -> str:
    """The theme's axes face colour."""
    return str(mpl.rcParams["axes.facecolor"])
