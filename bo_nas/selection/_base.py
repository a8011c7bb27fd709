r"""The selection-rule protocol: from a fitted model and a candidate pool to picks.

A rule is a frozen dataclass (its fields are its settings) with one method,
`SelectionRule.select`. Defining a subclass registers it under its ``rule`` name, so a
campaign that stored a rule's `to_config` rebuilds it on resume with `rule_from_config`.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from botorch.models.model import Model

from bo_nas._settings import settings_from_config, settings_to_config

_RULES: dict[str, type[SelectionRule]] = {}


class SelectionRule(ABC):
    """Picks ``q`` candidates of a pool given a fitted GP and the pending points.

    Subclasses are frozen dataclasses: settings are fields, validated in
    ``__post_init__``, and `to_config` / `from_config` derive from them. Set the class
    attribute ``rule`` (the stored name); ``preset`` names the strategy a campaign shows
    for a GP strategy with this rule.

    Contract of `select`: ``q`` distinct indices into ``X_pool`` (fewer only when the
    pool is smaller), deterministic given ``generator``: every random draw comes from it.
    """

    rule: ClassVar[str] = ""
    preset: ClassVar[str] = "gp"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.rule:
            _RULES[cls.rule] = cls

    @abstractmethod
    def select(
        self,
        model: Model,
        X_pool: torch.Tensor,
        X_pending: torch.Tensor | None,
        q: int,
        generator: torch.Generator,
    ) -> list[int]:
        """Indices of the ``q`` picks.

        Args:
            model: Fitted GP in eval mode (BoTorch `Model`, outcomes standardised).
            X_pool: `N x d` candidate features.
            X_pending: `p x d` features of the architectures being evaluated, or ``None``.
            q: Number of picks, ``1 <= q <= N``.
            generator: The campaign's torch generator.
        """

    def to_config(self) -> dict[str, Any]:
        """``{"rule": ..., **settings}``, JSON-compatible."""
        return {"rule": self.rule, **settings_to_config(self)}

    @classmethod
    def stored_defaults(cls, settings: dict[str, Any]) -> dict[str, Any]:
        """``settings`` read back from a store, with the defaults of the release that
        wrote them where a later release changed a default (a campaign resumes with the
        rule it started with). The identity unless a rule changed a default."""
        return settings

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SelectionRule:
        """Rebuild a rule from `to_config`'s output (dispatching on ``"rule"``)."""
        return rule_from_config(config)


def rule_from_config(config: Mapping[str, Any]) -> SelectionRule:
    """The selection rule stored as ``config``; ``ValueError`` names an unknown one."""
    if not isinstance(config, Mapping):
        raise ValueError(f"selector: expected a mapping with a 'rule', got {config!r}")
    name = config.get("rule")
    if not isinstance(name, str) or name not in _RULES:
        raise ValueError(f"selector: unknown rule {name!r}; expected one of {sorted(_RULES)}")
    cls = _RULES[name]
    if not dataclasses.is_dataclass(cls):
        raise ValueError(f"selector {name!r}: expected a dataclass rule class")
    settings = cls.stored_defaults({k: v for k, v in config.items() if k != "rule"})
    return settings_from_config(cls, settings, f"selector {name!r}")


def known_rules() -> list[str]:
    """Names of every defined rule, built-in or a user's."""
    return sorted(_RULES)
