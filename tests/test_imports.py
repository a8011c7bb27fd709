"""Imports stay light: what each entry point loads, read from ``python -X importtime``.

``import bo_nas`` loads nothing but the standard library; ``bo_nas.encodings`` needs
numpy and networkx, not torch; ``bo_nas.kernels`` needs torch and GPyTorch, not BoTorch;
``bo-nas status`` reads a store without BoTorch or the strategies. Each check runs in a
fresh interpreter, as a user's would.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from _toys import ConvCount

import bo_nas
from bo_nas.campaign import Campaign
from bo_nas.spaces import NB201Space
from bo_nas.strategies import RandomSearch

#: The scientific stack that ``bo_nas.encodings`` must not pull in.
HEAVY = ("torch", "gpytorch", "linear_operator", "botorch", "scipy", "matplotlib",
         "sklearn", "ot", "pandas")


def _imported(*args: str, cwd: Path) -> set[str]:
    """Dotted names of the modules a fresh ``python -X importtime ARGS`` imports."""
    out = subprocess.run(
        [sys.executable, "-X", "importtime", *args],
        cwd=cwd, env={**os.environ, "MPLBACKEND": "Agg"},
        capture_output=True, text=True, timeout=240,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    names = set()
    for line in out.stderr.splitlines():
        if line.startswith("import time:") and "imported package" not in line:
            names.add(line.rsplit("|", 1)[-1].strip())
    assert names, "no -X importtime report"
    return names


def _tops(names: set[str]) -> set[str]:
    return {name.split(".")[0] for name in names}


@pytest.fixture(scope="module")
def startup(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """What the interpreter imports before running anything (site, .pth hooks)."""
    return _imported("-c", "pass", cwd=tmp_path_factory.mktemp("startup"))


def test_import_bo_nas_loads_only_the_standard_library(
    tmp_path: Path, startup: set[str]
) -> None:
    loaded = _imported("-c", "import bo_nas", cwd=tmp_path) - startup
    foreign = _tops(loaded) - set(sys.stdlib_module_names) - {"bo_nas"}
    assert not foreign, f"import bo_nas loaded {sorted(foreign)}"
    assert {n for n in loaded if n.startswith("bo_nas.")} <= {"bo_nas._lazy"}


def test_encodings_do_not_import_torch(tmp_path: Path) -> None:
    loaded = _imported("-c", "import bo_nas.encodings", cwd=tmp_path)
    assert "bo_nas.encodings" in loaded
    assert not _tops(loaded) & set(HEAVY), sorted(_tops(loaded) & set(HEAVY))
    assert {"numpy", "networkx"} <= _tops(loaded)


def test_kernels_do_not_import_botorch_or_the_engine(tmp_path: Path) -> None:
    loaded = _imported("-c", "import bo_nas.kernels", cwd=tmp_path)
    assert {"torch", "gpytorch"} <= _tops(loaded)
    assert "botorch" not in _tops(loaded)
    engine = {"bo_nas.campaign", "bo_nas.strategies", "bo_nas.evaluators", "bo_nas._surrogate"}
    assert not engine & loaded, sorted(engine & loaded)


def test_status_does_not_import_botorch(tmp_path: Path) -> None:
    store = tmp_path / "tiny.sqlite"
    with Campaign(NB201Space(), ConvCount(), RandomSearch(), seed=0, store=store) as c:
        c.run(4)
    loaded = _imported("-m", "bo_nas.cli", "status", str(store), cwd=tmp_path)
    assert "botorch" not in _tops(loaded)
    assert not {n for n in loaded if n.startswith("bo_nas.strategies")}
    assert "bo_nas.campaign._campaign" not in loaded


def test_every_public_name_resolves() -> None:
    for name in bo_nas.__all__:
        assert getattr(bo_nas, name) is not None, name
        assert name in dir(bo_nas)
    assert bo_nas.Campaign is Campaign
    assert bo_nas.strategies.RandomSearch is RandomSearch  # a subpackage, as an attribute
    with pytest.raises(AttributeError, match="no attribute 'NoSuchThing'"):
        bo_nas.NoSuchThing  # noqa: B018
    import bo_nas.campaign as campaign

    for name in campaign.__all__:
        assert getattr(campaign, name) is not None, name
