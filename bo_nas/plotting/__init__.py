"""Figures for campaigns and cells (matplotlib; every function returns its Axes/Figure).

Functions take ``ax=None`` to create a new figure, never call ``plt.show``, and take
text and line colours from the active style, so they read in light and dark themes.
"""

from ._cells import draw_cell, draw_cells, draw_op_tree
from ._colours import OP_COLOURS, op_colour
from ._curves import plot_accuracy_vs_cost, plot_search_curve, save_figure
from ._darts import draw_darts
from ._pareto import plot_pareto_front

__all__ = [
    "OP_COLOURS",
    "draw_cell",
    "draw_cells",
    "draw_darts",
    "draw_op_tree",
    "op_colour",
    "plot_accuracy_vs_cost",
    "plot_pareto_front",
    "plot_search_curve",
    "save_figure",
]
