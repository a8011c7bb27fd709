"""Zero-cost scores: what is known of an architecture before it is trained.

A `ScoreSource` gives named scores per architecture (larger = predicted better):
`NetworkScores` computes NASWOT, SynFlow, the Jacobian covariance and a gradient-kernel
score on bo-nas's own untrained networks from one minibatch; `TableScores` reads
published ones for the tabular benchmarks (`nb201_table_scores`,
`nb101_table_scores`). `rank_score` turns several into one prior score. The GP strategy
uses them through `bo_nas.strategies.ZeroCostPrior`.

Names are imported when first read (PEP 562): a strategy that only names the protocol
does not load torch or the table readers.
"""

from typing import TYPE_CHECKING

from bo_nas._lazy import attach

_WHERE = {
    "ScoreSource": "._source",
    "rank_score": "._combine",
    "DEFAULT_SCORES": "._table",
    "NB101_SCORES": "._table",
    "NB201_SCORES": "._table",
    "TableScores": "._table",
    "NetworkScores": "._network_scores",
    "draw_minibatch": "._network_scores",
    "nb101_table_scores": "._table",
    "nb201_table_scores": "._table",
}

__getattr__, __dir__ = attach(__name__, _WHERE)

if TYPE_CHECKING:
    from ._combine import rank_score
    from ._network_scores import NetworkScores, draw_minibatch
    from ._source import ScoreSource
    from ._table import (
        DEFAULT_SCORES,
        NB101_SCORES,
        NB201_SCORES,
        TableScores,
        nb101_table_scores,
        nb201_table_scores,
    )

__all__ = [
    "DEFAULT_SCORES",
    "NB101_SCORES",
    "NB201_SCORES",
    "NetworkScores",
    "ScoreSource",
    "TableScores",
    "draw_minibatch",
    "nb101_table_scores",
    "nb201_table_scores",
    "rank_score",
]
