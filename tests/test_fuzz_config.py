"""Property-based robustness of the TOML run configuration (``bo-nas run --config``).

1,000 generated files per test: near-valid ones (a valid configuration with one setting
replaced, dropped or added, written as TOML) and arbitrary text. Each either loads into
a `RunConfig` that satisfies its own validation, or raises `ConfigError` (a
``ValueError``) naming the file; nothing else escapes.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bo_nas._config import ConfigError, RunConfig, config_from_mapping, load_config

FUZZ = settings(max_examples=1000, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

VALID: dict[str, Any] = {
    "space": "nb201", "evaluator": "table", "dataset": "cifar100", "budget": 20, "batch": 2,
    "async": False, "strategy": "gp-tw", "seed": 3, "max-retries": 1, "acquisition": "ucb",
    "fidelity": 200, "out": "runs", "strategy-options": {"n_init": 4},
    "train": {"lr": 0.1}, "epochs": 2, "data-dir": "data", "store": "s.sqlite",
    "device": "cpu",
}

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**30), 10**30), st.floats(allow_nan=True),
    st.text(max_size=12), st.sampled_from(["nb101", "train", "digits", "cifar10", "cuda"]),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=4), st.integers(),
                                                         max_size=2),
)


def toml_value(v: Any) -> str:
    """Write a value as TOML by hand (the standard library reads TOML but cannot write it)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if v != v:
            return "nan"
        if v in (float("inf"), float("-inf")):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return '"' + v.encode("unicode_escape").decode("ascii").replace('"', '\\"') + '"'
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f'"{k}" = {toml_value(x)}' for k, x in v.items()) + "}"
    raise TypeError(v)


def toml_document(config: dict[str, Any]) -> str:
    lines = [f'"{k}" = {toml_value(v)}' for k, v in config.items() if v is not None]
    return "\n".join(lines) + "\n"


@st.composite
def near_valid(draw: st.DrawFn) -> dict[str, Any]:
    config = dict(VALID)
    key = draw(st.sampled_from([*VALID, "unknown_key", "max_retries", "asynchronous"]))
    action = draw(st.sampled_from(["replace", "drop"]))
    if action == "drop":
        config.pop(key, None)
    else:
        config[key] = draw(scalars)
    return config


def check(text: str | bytes) -> None:
    with tempfile.NamedTemporaryFile("wb", suffix=".toml", delete=False) as fh:
        fh.write(text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text)
        path = Path(fh.name)
    try:
        cfg = load_config(path)
    except ConfigError as exc:
        assert str(exc) and path.name in str(exc)
    else:
        assert isinstance(cfg, RunConfig)
        cfg.validate()
        assert config_from_mapping(cfg.to_dict()) == cfg
    finally:
        path.unlink()


@FUZZ
@given(config=near_valid())
def test_fuzz_config_near_valid(config: dict[str, Any]) -> None:
    check(toml_document(config))


@FUZZ
@given(text=st.one_of(st.text(max_size=200), st.binary(max_size=200),
                      st.builds(lambda a, b: a + "\n" + b, st.just(toml_document(VALID)),
                                st.text(max_size=40))))
def test_fuzz_config_arbitrary(text: str | bytes) -> None:
    check(text)


def test_valid_config_loads(tmp_path: Path) -> None:
    p = tmp_path / "c.toml"
    p.write_text(toml_document(VALID))
    cfg = load_config(p)
    assert cfg.budget == 20 and cfg.strategy_options == {"n_init": 4}
    assert cfg.acquisition == "ucb" and cfg.max_retries == 1
