"""Lazy attributes for packages (PEP 562), in the manner of scipy's submodule loading.

A package whose public names live in heavy modules (torch, GPyTorch, BoTorch) lists
where each name is defined and lets `attach` build its module ``__getattr__`` and
``__dir__``: ``import bo_nas`` then costs nothing, and ``bo_nas.Campaign`` imports the
campaign the first time it is read. Type checkers do not run ``__getattr__``, so the
package also imports the same names under ``typing.TYPE_CHECKING``.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any


def attach(
    package: str,
    names: Mapping[str, str],
    submodules: Iterable[str] = (),
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Module ``__getattr__`` and ``__dir__`` for ``package`` that import on first use.

    Args:
        package: The package's ``__name__``.
        names: Public name -> module that defines it, absolute (``"bo_nas.spaces"``) or
            relative to ``package`` (``"._surrogate"``).
        submodules: Subpackages reachable as attributes (``bo_nas.strategies``) before
            anything has imported them.

    Returns:
        ``(__getattr__, __dir__)``, to assign at the package's top level.

    Example:
        >>> __getattr__, __dir__ = attach(__name__, {"Campaign": ".campaign"})  # doctest: +SKIP
    """
    where = dict(names)
    subs = frozenset(submodules)

    def __getattr__(name: str) -> Any:
        if name in where:
            value = getattr(importlib.import_module(where[name], package), name)
        elif name in subs:
            value = importlib.import_module(f"{package}.{name}")
        else:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        # Cache it in the package: later reads are plain attribute look-ups.
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | where.keys() | subs)

    return __getattr__, __dir__
