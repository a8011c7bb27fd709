"""The distribution ships every subpackage: an editable install hides a missing one."""

from __future__ import annotations

import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


def _declared() -> tuple[set[str], dict[str, str]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    return set(config["packages"]), dict(config.get("package-dir", {}))


def test_every_subpackage_is_in_the_distribution() -> None:
    packages, dirs = _declared()
    roots = {"bo_nas": ROOT / "bo_nas", **{name: ROOT / d for name, d in dirs.items()}}
    found: set[str] = set()
    for name, folder in roots.items():
        for init in folder.rglob("__init__.py"):
            rel = init.parent.relative_to(folder).parts
            found.add(".".join((name, *rel)))
    missing = sorted(found - packages)
    assert not missing, f"add to [tool.setuptools] packages in pyproject.toml: {missing}"
    stale = sorted(packages - found)
    assert not stale, f"listed in pyproject.toml but not a package: {stale}"
