"""Every notebook runs start to finish in quick mode, leaving no error output, and no start-up
log lines of TensorFlow, CUDA, absl or transformers on stderr (ipykernel shows stderr as a red
block, which looks like an error to someone in their first minute)."""

import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tune_widgets.environment import DEFAULTS

NOTEBOOKS = sorted((Path(__file__).parents[1] / "notebooks").glob("*.ipynb"))
MARKS = {"04_tuning_tools.ipynb": [pytest.mark.tuning]}  # `pytest -m tuning` runs the tools' notebook too
LOG_NOISE = re.compile(
    r"absl::InitializeLog|^[IWEF]\d{4} [\d:.]+\s+\d+ [\w.]+:\d+\]|oneDNN custom operations|cuda drivers|cuInit"
    r"|PyTorch was not found|^WARNING:(tensorflow|absl):", re.M)


@pytest.mark.parametrize("path", [pytest.param(p, marks=MARKS.get(p.name, [])) for p in NOTEBOOKS],
                         ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_without_errors(path, monkeypatch, tmp_path):
    monkeypatch.setenv("TUNE_WIDGETS_QUICK", "1")
    monkeypatch.setenv("TUNE_WIDGETS_WORKSHOP_DIR", str(tmp_path / "workshop"))  # the workshop page's folders
    for name in DEFAULTS:  # the kernel starts as a user's would: tune_widgets must set these itself
        monkeypatch.delenv(name, raising=False)
    notebook = nbformat.read(path, as_version=4)
    with open(tmp_path / "kernel-stderr.txt", "w+") as kernel_stderr:
        # What the kernel writes to its stderr reaches the notebook or, depending on when
        # ipykernel starts forwarding it, only the kernel's own stderr: both are read.
        NotebookClient(notebook, timeout=600, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute(stderr=kernel_stderr)
        kernel_stderr.seek(0)
        outside = kernel_stderr.read()
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.get("outputs", [])]
    stderr = [output.text for output in outputs if output.output_type == "stream" and output.name == "stderr"]
    errors = [output for output in outputs if output.output_type == "error"] + [text for text in stderr if "Traceback" in text]
    assert not errors, errors
    noise = [text for text in [*stderr, outside] if LOG_NOISE.search(text)]
    assert not noise, noise


def test_there_are_notebooks():
    assert [p.name for p in NOTEBOOKS][:1] == ["01_seed_recipe.ipynb"]
