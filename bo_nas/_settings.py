"""Settings as frozen dataclasses: their stored (JSON) form and the rebuild from it.

A part of a search (a strategy, a selection rule, a candidate pool) keeps its settings in
one frozen dataclass. What goes into a campaign's store is derived from that dataclass, and
a resumed campaign rebuilds it from what was stored, so neither is written by hand per
class (the idea of scikit-learn's ``get_params`` / ``clone``).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from functools import cache
from typing import Any, TypeVar

T = TypeVar("T")


def settings_to_config(settings: Any) -> dict[str, Any]:
    """The JSON-compatible form of a settings dataclass.

    Nested dataclasses become dicts, tuples become lists, and a value with its own
    ``to_config`` (a selection rule) is stored as that.
    """
    if not dataclasses.is_dataclass(settings) or isinstance(settings, type):
        raise TypeError(f"expected a settings dataclass instance, got {settings!r}")
    return {f.name: _to_json(getattr(settings, f.name)) for f in dataclasses.fields(settings)}


def _to_json(value: Any) -> Any:
    if hasattr(value, "to_config") and not isinstance(value, type):
        return value.to_config()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return settings_to_config(value)
    if isinstance(value, (tuple, list)):
        return [_to_json(v) for v in value]
    return value


def settings_from_config(cls: type[T], config: Mapping[str, Any], what: str = "") -> T:
    """Build the settings dataclass ``cls`` from its stored form (inverse of
    `settings_to_config`); values that are already objects pass through.

    Raises:
        ValueError: naming the unknown keys, or whatever the dataclass's own validation
            raises for a bad value.
    """
    if not isinstance(config, Mapping):
        raise ValueError(f"{what or cls.__name__}: expected a mapping of settings, got {config!r}")
    names = {f.name for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    unknown = sorted(set(config) - names)
    if unknown:
        raise ValueError(
            f"{what or cls.__name__}: unknown setting(s) {unknown}; expected some of "
            f"{sorted(names)}"
        )
    hints = _hints(cls)
    kwargs = {k: _from_json(hints.get(k), v, f"{what or cls.__name__}.{k}")
              for k, v in config.items()}
    return cls(**kwargs)


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _from_json(hint: Any, value: Any, what: str) -> Any:
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and value is not None:
        # ``X | None``: a stored value is an X.
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1:
            hint = args[0]
    if isinstance(hint, type) and isinstance(value, Mapping):
        from_config = getattr(hint, "from_config", None)
        if callable(from_config):
            return from_config(value)
        if dataclasses.is_dataclass(hint):
            return settings_from_config(hint, value, what)
    if typing.get_origin(hint) is tuple and isinstance(value, list):
        return tuple(value)
    return value


def check_int(name: str, value: Any, low: int = 1) -> None:
    """``ValueError`` naming ``name`` unless ``value`` is an integer >= ``low``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name}: expected an integer >= {low}, got {value!r}")


def check_number(name: str, value: Any, low: float = 0.0) -> None:
    """``ValueError`` naming ``name`` unless ``value`` is a finite number >= ``low``."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or not (low <= float(value) < float("inf")):
        raise ValueError(f"{name}: expected a finite number >= {low}, got {value!r}")
