"""Method specifications of the benchmark harness."""

from __future__ import annotations

import pytest

from bo_nas._registry import strategy_from_config
from bo_nas.bench import parse_method
from bo_nas.selection import LogEI


def test_settings_are_typed_and_nested() -> None:
    spec = "gp-tw:acquisition=logei:n_init=12:ucb_beta=0.5:pool.top_k=3:pool.whole_space=true"
    config = parse_method(spec)
    assert config == {"name": "gp-tw", "acquisition": "logei", "n_init": 12, "ucb_beta": 0.5,
                      "pool": {"top_k": 3, "whole_space": True}}
    strategy = strategy_from_config(config)
    assert strategy.to_config()["pool"]["top_k"] == 3
    assert strategy.selector == LogEI()  # type: ignore[attr-defined]


def test_plain_name() -> None:
    assert parse_method(" evolution ") == {"name": "evolution"}


@pytest.mark.parametrize("spec", ["", ":a=1", "gp-tw:acquisition", "gp-tw:=1", "gp-tw:a..b=1",
                                  "gp-tw:n_init=1:n_init=2", "gp-tw:name=x",
                                  "gp-tw:pool=1:pool.top_k=2"])
def test_malformed_specs(spec: str) -> None:
    with pytest.raises(ValueError, match="method"):
        parse_method(spec)
