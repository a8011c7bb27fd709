"""The GP strategy names users type, as presets of `GPStrategy` and a selection rule.

A preset's stored configuration holds the whole rule (``"selector": {"rule": ...}``).
Each preset also takes a few flat shorthand settings (``gp-tw:acquisition=logei``,
``gp-tw-kdpp:alpha=3``), the form in which these strategies were configured before the
rules were separate parts; stores written then still resume.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from bo_nas.selection import (
    BUCB,
    EHVI,
    UCB,
    KrigingBeliever,
    LogEI,
    ParetoThompson,
    QLogNEI,
    QualityKDPP,
    SelectionRule,
    ThompsonSampling,
    TopK,
)

from ._gp import GPStrategy, without_legacy_prior

Shorthand = dict[str, Any]

# Keys that older configurations carry but that no longer change the rule they name
# (the batch rules screen by log-EI and need no ranking acquisition).
_IGNORED = {
    "gp-tw-kdpp": ("acquisition",),
    "gp-topk": ("top_m",),
    "gp-kb": ("acquisition", "ucb_beta", "top_m"),
    "gp-bucb": ("acquisition", "top_m"),
    "gp-ts-batch": ("acquisition", "ucb_beta"),
    "gp-qlognei": ("acquisition", "ucb_beta"),
}


def _sequential(s: Shorthand) -> SelectionRule:
    acquisition = s.get("acquisition", "ts")
    if acquisition == "ts":
        return ThompsonSampling()
    if acquisition == "logei":
        return LogEI()
    if acquisition == "ucb":
        return UCB(beta=s.get("ucb_beta", 2.0))
    raise ValueError(f"acquisition: expected 'ts', 'logei' or 'ucb', got {acquisition!r}")


def _kdpp(s: Shorthand) -> SelectionRule:
    if "ucb_beta" in s:
        s["beta"] = s.pop("ucb_beta")
    return QualityKDPP(**QualityKDPP.stored_defaults(s))


def _topk(s: Shorthand) -> SelectionRule:
    by = "ucb" if s.get("acquisition") == "ucb" else "logei"
    return TopK(by=by, beta=s.get("ucb_beta", 2.0))


#: Preset name -> (its rule from the shorthand settings given, the shorthand keys).
_PRESETS: dict[str, tuple[Callable[[Shorthand], SelectionRule], tuple[str, ...]]] = {
    "gp-tw": (_sequential, ("acquisition", "ucb_beta")),
    "gp-hamming": (_sequential, ("acquisition", "ucb_beta")),
    "gp": (_sequential, ("acquisition", "ucb_beta")),
    "gp-tw-kdpp": (_kdpp, ("quality", "alpha", "map", "jitter", "top_m", "ucb_beta", "rank",
                           "kernel", "pending", "alpha_start", "alpha_ramp")),
    "gp-topk": (_topk, ("acquisition", "ucb_beta")),
    "gp-kb": (lambda s: KrigingBeliever(), ()),
    "gp-bucb": (lambda s: BUCB(beta=s.get("ucb_beta", 2.0)), ("ucb_beta",)),
    "gp-ts-batch": (
        lambda s: ThompsonSampling(max_candidates=s.get("top_m", 300), screen="logei"),
        ("top_m",),
    ),
    "gp-qlognei": (lambda s: QLogNEI(**s), ("top_m", "mc_samples")),
    "gp-tw-ehvi": (lambda s: EHVI(**s), ("samples", "ends")),
    "gp-tw-pareto-ts": (lambda s: ParetoThompson(**s), ("max_candidates", "rho")),
}

#: Default settings of presets beyond their rule.
_DEFAULTS: dict[str, dict[str, Any]] = {"gp-hamming": {"features": "categorical"}}


def gp_preset(name: str, config: Mapping[str, Any] | None = None) -> GPStrategy:
    """The GP strategy preset ``name`` with ``config``'s settings.

    ``config`` holds `GPSettings` fields (``selector`` as a rule or its stored dict) or,
    instead of ``selector``, the preset's shorthand keys.

    Example:
        >>> rule = gp_preset("gp-tw-kdpp", {"alpha": 3.0, "map": True}).selector
        >>> rule.alpha, rule.map, rule.top_m
        (3.0, True, 100)
    """
    if name not in _PRESETS:
        raise ValueError(f"unknown GP strategy preset {name!r}; expected one of {sorted(_PRESETS)}")
    make_rule, keys = _PRESETS[name]
    settings = {**_DEFAULTS.get(name, {}), **(config or {})}
    for key in _IGNORED.get(name, ()):
        value = settings.pop(key, None)
        if key == "acquisition" and value not in (None, "ts", "logei"):
            # Once a UCB ranking before the batch step; the rules now screen by log-EI.
            raise ValueError(
                f"{name}: acquisition={value!r} is not supported (expected 'ts' or 'logei'); "
                "give the rule as selector= instead"
            )
    shorthand = {k: settings.pop(k) for k in keys if k in settings}
    if "selector" not in settings:
        settings["selector"] = make_rule(shorthand)
    elif shorthand:
        raise ValueError(
            f"{name}: give either 'selector' or the shorthand settings {sorted(shorthand)}, "
            "not both"
        )
    return GPStrategy(name=name, **without_legacy_prior(settings))


def gp_presets() -> list[str]:
    """Names of the GP presets."""
    return sorted(_PRESETS)
