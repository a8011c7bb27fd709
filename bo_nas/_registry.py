"""One registry of strategies and evaluators by name: built-ins and users' own alike.

A campaign's store keeps the ``to_config()`` of its strategy and of its evaluator;
`Campaign.resume` hands them to `strategy_from_config` and `evaluator_from_config`,
which look the ``name`` (or ``kind``) up here and call the registered factory with the
remaining settings. bo-nas's own entries load once, the first time the registry is
used, whatever users have registered before; a user's entry never hides them, and
replacing one takes ``replace=True``.

Example:
    >>> from bo_nas import register_strategy
    >>> register_strategy("my-walk", lambda settings: MyWalk(**settings))  # doctest: +SKIP
    >>> Campaign.resume("run.sqlite")  # a store made with MyWalk()        # doctest: +SKIP
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bo_nas.evaluators import Evaluator
    from bo_nas.strategies import Strategy

#: Builds a strategy from its stored settings (its ``to_config()`` less ``"name"``).
StrategyFactory = Callable[[dict[str, Any]], "Strategy"]
#: Builds an evaluator from its stored settings (its ``to_config()`` less ``"kind"``).
EvaluatorFactory = Callable[[dict[str, Any]], "Evaluator"]

_STRATEGIES: dict[str, StrategyFactory] = {}
_EVALUATORS: dict[str, EvaluatorFactory] = {}
_BUILTIN_STRATEGIES: set[str] = set()
_BUILTIN_EVALUATORS: set[str] = set()
# Its own flag, not "is the table empty": a user may register before anything loads.
_builtins_loaded = False
# Re-entrant: loading the built-ins imports modules that may register on import.
_lock = threading.RLock()


def _load_builtins() -> None:
    """Add bo-nas's own strategies and evaluators, once per process."""
    global _builtins_loaded
    with _lock:
        if _builtins_loaded:
            return
        from bo_nas.evaluators import builtin_evaluators
        from bo_nas.strategies import builtin_strategies

        strategies = builtin_strategies()
        evaluators = builtin_evaluators()
        # A user's entry under a built-in name can only exist if it was registered
        # with replace=True, which loads the built-ins first; so nothing is hidden here.
        for name, factory in strategies.items():
            _STRATEGIES.setdefault(name, factory)
        for kind, factory in evaluators.items():
            _EVALUATORS.setdefault(kind, factory)
        _BUILTIN_STRATEGIES.update(strategies)
        _BUILTIN_EVALUATORS.update(evaluators)
        _builtins_loaded = True


def _register(
    what: str,
    key: str,
    factory: Callable[[dict[str, Any]], Any],
    table: dict[str, Callable[[dict[str, Any]], Any]],
    builtins: set[str],
    replace: bool,
) -> None:
    label = "name" if what == "strategy" else "kind"
    if not isinstance(key, str) or not key.strip():
        raise ValueError(f"{what} {label}: expected a non-empty string, got {key!r}")
    if key != key.strip():
        raise ValueError(f"{what} {label}: no leading or trailing spaces, got {key!r}")
    if not callable(factory):
        raise ValueError(
            f"{what} {key!r}: factory must be callable (settings dict -> {what}), "
            f"got {type(factory).__name__}"
        )
    if not isinstance(replace, bool):
        raise ValueError(f"replace: expected True or False, got {replace!r}")
    with _lock:
        _load_builtins()
        current = table.get(key)
        if current is not None and current is not factory and not replace:
            owner = "a built-in" if key in builtins else "an already registered"
            raise ValueError(
                f"{what} {label} {key!r} is {owner} {what}; choose another {label}, "
                "or pass replace=True to replace it"
            )
        table[key] = factory


def register_strategy(
    name: str, factory: StrategyFactory, *, replace: bool = False
) -> None:
    """Make stores whose strategy is called ``name`` resumable.

    Args:
        name: The ``"name"`` of the strategy's ``to_config()``.
        factory: Takes the stored settings (``to_config()`` without ``"name"``) and
            returns the `Strategy`; for a class whose ``to_config()`` is
            ``{"name": name, **settings}``, ``lambda settings: MyStrategy(**settings)``.
        replace: Replace a strategy already registered under ``name``, a built-in one
            included. Registering the same factory again is always allowed.

    Raises:
        ValueError: ``name`` is not a non-empty string, ``factory`` is not callable, or
            ``name`` is taken and ``replace`` is false.
    """
    _register("strategy", name, factory, _STRATEGIES, _BUILTIN_STRATEGIES, replace)


def register_evaluator(
    kind: str, factory: EvaluatorFactory, *, replace: bool = False
) -> None:
    """Make stores whose evaluator is of ``kind`` resumable without passing ``evaluator=``.

    Args:
        kind: The ``"kind"`` of the evaluator's ``to_config()``.
        factory: Takes the stored settings (``to_config()`` without ``"kind"``) and
            returns the `Evaluator`.
        replace: Replace an evaluator already registered under ``kind``, a built-in one
            included. Registering the same factory again is always allowed.

    Raises:
        ValueError: ``kind`` is not a non-empty string, ``factory`` is not callable, or
            ``kind`` is taken and ``replace`` is false.
    """
    _register("evaluator", kind, factory, _EVALUATORS, _BUILTIN_EVALUATORS, replace)


def strategy_from_config(config: Mapping[str, Any]) -> Strategy:
    """Inverse of ``Strategy.to_config``; ``ValueError`` names an unknown strategy."""
    from bo_nas.strategies import Strategy

    _load_builtins()
    name = config.get("name") if isinstance(config, Mapping) else None
    if not isinstance(name, str) or name not in _STRATEGIES:
        raise ValueError(
            f"strategy config: unknown strategy {name!r} (known: {sorted(_STRATEGIES)}); "
            "register your own with bo_nas.register_strategy"
        )
    settings = {k: v for k, v in config.items() if k != "name"}
    try:
        strategy = _STRATEGIES[name](settings)
    except (TypeError, OverflowError) as exc:
        # A stored setting the factory does not take (renamed, misspelt, wrong type), or
        # an integer too large for the float it stands for.
        raise ValueError(f"strategy config {name!r}: bad settings {settings!r} ({exc})") from exc
    if not isinstance(strategy, Strategy):
        raise TypeError(
            f"the factory registered for strategy {name!r} returned "
            f"{type(strategy).__name__}, not a Strategy"
        )
    return strategy


def evaluator_from_config(config: Mapping[str, Any]) -> Evaluator:
    """Inverse of ``Evaluator.to_config`` (keyed by its ``kind``)."""
    from bo_nas.evaluators import Evaluator

    _load_builtins()
    kind = config.get("kind") if isinstance(config, Mapping) else None
    if not isinstance(kind, str) or kind not in _EVALUATORS:
        raise ValueError(
            f"evaluator config: unknown evaluator kind {kind!r} (known: {sorted(_EVALUATORS)}); "
            "register your own with bo_nas.register_evaluator, or pass evaluator= to "
            "Campaign.resume"
        )
    settings = {k: v for k, v in config.items() if k != "kind"}
    try:
        evaluator = _EVALUATORS[kind](settings)
    except (TypeError, OverflowError) as exc:
        raise ValueError(f"evaluator config {kind!r}: bad settings {settings!r} ({exc})") from exc
    if not isinstance(evaluator, Evaluator):
        raise TypeError(
            f"the factory registered for evaluator kind {kind!r} returned "
            f"{type(evaluator).__name__}, not an Evaluator"
        )
    return evaluator
