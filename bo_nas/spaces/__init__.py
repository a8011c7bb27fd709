"""Search spaces: NAS-Bench-201, NAS-Bench-101, DARTS and a user's own cell space."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import networkx as nx

from bo_nas.encodings import OpTree

from ._base import SearchSpace
from ._cell import CellSpace, NB101Space, default_nb101_tree, flat_tree
from ._constrained import ConstrainedSpace, InfeasibleConstraintError
from ._darts import DARTSSpace, default_darts_tree
from ._nb201 import NB201Space, default_nb201_tree
from ._subset import SubsetSpace, distinct_networks


def space_from_config(config: Mapping[str, Any]) -> SearchSpace:
    """Rebuild a space from `SearchSpace.to_config` output.

    Raises:
        ValueError: for an unknown space name or malformed fields.
    """
    if not isinstance(config, Mapping) or "name" not in config:
        raise ValueError(f"space config: expected an object with a 'name', got {config!r}")
    name = config["name"]
    if name == "nb201":
        return NB201Space()
    if name == "nb101":
        return NB101Space()
    if name == "darts":
        return DARTSSpace()
    if name == "cell":
        tree = None
        if config.get("op_tree"):
            t = nx.DiGraph()
            try:
                for u, v, w in config["op_tree"]:
                    t.add_edge(u, v, weight=float(w))
            except (TypeError, ValueError, OverflowError) as exc:
                raise ValueError(f"space config: malformed 'op_tree' ({exc})") from None
            tree = OpTree(t)
        try:
            return CellSpace(
                config["ops"], config["n_nodes"], config["max_edges"], tree,
                name=config.get("label"),
            )
        except KeyError as exc:
            raise ValueError(f"space config: missing field {exc.args[0]!r}") from None
    if name == "subset":
        base = config.get("base")
        if not isinstance(base, Mapping) or base.get("name") == "subset":
            raise ValueError(f"space config: a subset needs a 'base' space, got {base!r}")
        return SubsetSpace.from_config(config, space_from_config(base))
    raise ValueError(
        f"space config: unknown space {name!r} (expected nb201, nb101, darts, cell or subset)"
    )


__all__ = [
    "CellSpace",
    "ConstrainedSpace",
    "DARTSSpace",
    "InfeasibleConstraintError",
    "NB101Space",
    "NB201Space",
    "SearchSpace",
    "SubsetSpace",
    "default_darts_tree",
    "default_nb101_tree",
    "default_nb201_tree",
    "distinct_networks",
    "flat_tree",
    "space_from_config",
]
