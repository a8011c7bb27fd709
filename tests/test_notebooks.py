"""The example notebooks: stored clean, and each runs top to bottom under nbclient."""

from __future__ import annotations

import ast
import os
import re
import time
from pathlib import Path

import pytest

from bo_nas.evaluators._tables import DATA_DIR_ENV

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOKS_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))
CELL_TIMEOUT_S = 120


def _read(path: Path):
    return nbformat.read(path, as_version=4)


def _needs_data(nb) -> bool:
    return bool(nb.metadata.get("bo_nas", {}).get("needs_data", True))


def test_the_four_notebooks_are_there():
    assert [p.name for p in NOTEBOOKS] == [
        "01_quick_start.ipynb",
        "02_kernel_explorer.ipynb",
        "03_parallel_batches.ipynb",
        "04_surrogate_as_library.ipynb",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stored_clean(path):
    nb = _read(path)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and any(c.cell_type == "markdown" for c in nb.cells)
    for cell in code:
        # Committed without outputs: diffs stay readable and no stale results ship.
        assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]
        ast.parse(cell.source)
    text = "\n".join(c.source for c in nb.cells)
    # Data comes from $BO_NAS_DATA_DIR, never from a path written into the notebook:
    # no absolute path literal at all (POSIX root or a Windows drive).
    assert not re.search(r"""["'](/[A-Za-z]|[A-Za-z]:\\)""", text)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom(path, tmp_path):
    nb = _read(path)
    if _needs_data(nb) and not os.environ.get(DATA_DIR_ENV):
        pytest.skip(f"{path.name} needs ${DATA_DIR_ENV}")
    client = nbclient.NotebookClient(
        nb,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    start = time.perf_counter()
    client.execute()  # raises CellExecutionError, naming the cell, on any error
    elapsed = time.perf_counter() - start
    errors = [
        o for c in nb.cells if c.cell_type == "code" for o in c.outputs
        if o.output_type == "error"
    ]
    assert not errors
    print(f"{path.name}: {elapsed:.1f} s")
