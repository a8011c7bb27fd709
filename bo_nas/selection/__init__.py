"""Selection rules: from a fitted GP, a candidate pool and the pending points to picks.

Each rule is one small frozen dataclass with one method, `SelectionRule.select`;
`GPStrategy(selector=...)` composes it with the surrogate and the candidate pool. A rule of
your own is a subclass with a ``rule`` name: defining it registers it, so campaigns that
use it resume.
"""

from ._acquisition import UCB, LogEI, QLogNEI, TopK
from ._base import SelectionRule, known_rules, rule_from_config
from ._believer import BUCB, KrigingBeliever
from ._kdpp import QualityKDPP
from ._pareto import EHVI, ParetoProblem, ParetoRule, ParetoThompson
from ._pool import condition_on_pending
from ._thompson import ThompsonSampling

__all__ = [
    "BUCB",
    "EHVI",
    "UCB",
    "KrigingBeliever",
    "LogEI",
    "ParetoProblem",
    "ParetoRule",
    "ParetoThompson",
    "QLogNEI",
    "QualityKDPP",
    "SelectionRule",
    "ThompsonSampling",
    "TopK",
    "condition_on_pending",
    "known_rules",
    "rule_from_config",
]
