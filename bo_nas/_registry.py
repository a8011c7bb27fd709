"""Rebuild strategies and evaluators from their stored configuration."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from bo_nas.evaluators import Evaluator
from bo_nas.strategies import Strategy

_STRATEGIES: dict[str, Callable[[dict[str, Any]], Strategy]] = {}
_EVALUATORS: dict[str, Callable[[dict[str, Any]], Evaluator]] = {}


def register_strategy(name: str, factory: Callable[[dict[str, Any]], Strategy]) -> None:
    """Make ``strategy_from_config`` able to rebuild strategies named ``name``."""
    _STRATEGIES[name] = factory


def register_evaluator(kind: str, factory: Callable[[dict[str, Any]], Evaluator]) -> None:
    """Make ``evaluator_from_config`` able to rebuild evaluators of ``kind``."""
    _EVALUATORS[kind] = factory


def _load_builtins() -> None:
    if _STRATEGIES:
        return
    from bo_nas.strategies import builtin_strategies

    for name, factory in builtin_strategies().items():
        _STRATEGIES.setdefault(name, factory)
    from bo_nas.evaluators import builtin_evaluators

    for kind, factory in builtin_evaluators().items():
        _EVALUATORS.setdefault(kind, factory)


def strategy_from_config(config: Mapping[str, Any]) -> Strategy:
    """Inverse of ``Strategy.to_config``; ``ValueError`` names an unknown strategy."""
    _load_builtins()
    name = config.get("name") if isinstance(config, Mapping) else None
    if not isinstance(name, str) or name not in _STRATEGIES:
        raise ValueError(
            f"strategy config: unknown strategy {name!r} (known: {sorted(_STRATEGIES)})"
        )
    settings = {k: v for k, v in config.items() if k != "name"}
    try:
        return _STRATEGIES[name](settings)
    except (TypeError, OverflowError) as exc:
        # A stored setting the factory does not take (renamed, misspelt, wrong type), or
        # an integer too large for the float it stands for.
        raise ValueError(f"strategy config {name!r}: bad settings {settings!r} ({exc})") from exc


def evaluator_from_config(config: Mapping[str, Any]) -> Evaluator:
    """Inverse of ``Evaluator.to_config`` (keyed by its ``kind``)."""
    _load_builtins()
    kind = config.get("kind") if isinstance(config, Mapping) else None
    if not isinstance(kind, str) or kind not in _EVALUATORS:
        raise ValueError(
            f"evaluator config: unknown evaluator kind {kind!r} (known: {sorted(_EVALUATORS)}); "
            "pass evaluator= to Campaign.resume for your own evaluator"
        )
    settings = {k: v for k, v in config.items() if k != "kind"}
    try:
        return _EVALUATORS[kind](settings)
    except (TypeError, OverflowError) as exc:
        raise ValueError(f"evaluator config {kind!r}: bad settings {settings!r} ({exc})") from exc
