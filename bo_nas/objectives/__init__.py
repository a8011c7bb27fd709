"""Objectives, constraints and the costs known before evaluating.

A campaign maximises ``val_accuracy`` unless given other `Objective`\\ s; `Constraint`\\ s
bound costs. Hard constraints on costs an evaluator knows beforehand (`CostSource`) cut
the search space; others are modelled by the GP strategy.
"""

from ._costs import CostSource, GraphCosts, TableCosts
from ._objective import (
    Constraint,
    Objective,
    feasible,
    metric_value,
    outcome_matrix,
    parse_constraints,
    parse_objectives,
)
from ._pareto import hypervolume, pareto_mask

__all__ = [
    "Constraint",
    "CostSource",
    "GraphCosts",
    "Objective",
    "TableCosts",
    "feasible",
    "hypervolume",
    "metric_value",
    "outcome_matrix",
    "pareto_mask",
    "parse_constraints",
    "parse_objectives",
]
