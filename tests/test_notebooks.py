"""Every notebook runs start to finish in quick mode, leaving no error output."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).parents[1] / "notebooks").glob("*.ipynb"))
MARKS = {"04_tuning_tools.ipynb": [pytest.mark.tuning]}  # `pytest -m tuning` runs the tools' notebook too


@pytest.mark.parametrize("path", [pytest.param(p, marks=MARKS.get(p.name, [])) for p in NOTEBOOKS],
                         ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_without_errors(path, monkeypatch):
    monkeypatch.setenv("TUNE_WIDGETS_QUICK", "1")
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    errors = [
        output
        for cell in notebook.cells if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if output.output_type == "error" or (output.output_type == "stream" and output.name == "stderr" and "Traceback" in output.text)
    ]
    assert not errors, errors


def test_there_are_notebooks():
    assert [p.name for p in NOTEBOOKS][:1] == ["01_seed_recipe.ipynb"]
