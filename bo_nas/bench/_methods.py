"""Method specifications of the harness: a strategy name with optional settings."""

from __future__ import annotations

import json
from typing import Any


def parse_method(spec: str) -> dict[str, Any]:
    """The strategy configuration written as ``name[:key=value]...``.

    Values are read as JSON where they parse (``3``, ``0.5``, ``true``, ``"x"``) and as
    plain strings otherwise; a dotted key sets a nested setting. The configuration is
    what `strategy_from_config` takes.

    Example:
        >>> parse_method("gp-tw:acquisition=logei:pool.top_k=20")
        {'name': 'gp-tw', 'acquisition': 'logei', 'pool': {'top_k': 20}}

    Raises:
        ValueError: for an empty name, a setting without ``=``, or a key set twice.
    """
    name, *settings = spec.strip().split(":")
    if not name:
        raise ValueError(f"method {spec!r}: expected name[:key=value]...")
    config: dict[str, Any] = {"name": name}
    for item in settings:
        key, sep, raw = item.partition("=")
        if not sep or not key or any(not part for part in key.split(".")):
            raise ValueError(f"method {spec!r}: expected key=value, got {item!r}")
        try:
            value: Any = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        *parents, leaf = key.split(".")
        node = config
        for part in parents:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ValueError(f"method {spec!r}: {key!r} conflicts with an earlier setting")
            node = child
        if leaf in node:  # "name" included
            raise ValueError(f"method {spec!r}: {key!r} set twice")
        node[leaf] = value
    return config
