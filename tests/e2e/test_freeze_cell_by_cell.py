"""notebooks/03_freeze_cell_by_cell.ipynb in JupyterLab 4: run it cell by cell and check, after
each cell, that the open layer map shows exactly the plan Python holds."""

import time

import pytest
from playwright.sync_api import expect

from jupyter_e2e import notebook_file

pytestmark = pytest.mark.e2e

NOTEBOOK = "03_freeze_cell_by_cell.ipynb"


def frozen_rows(page):
    """(index, name) of the rows the page shows frozen, in model order."""
    return sorted(page.eval_on_selector_all(
        ".tw-lm-row.tw-lm-frozen",
        "els => els.map(e => [Number(e.dataset.index), e.querySelector('.tw-lm-name').textContent])"))


def test_map_follows_each_cells_change(lab_server, jupyter_root, open_notebook, record):
    notebook = open_notebook(lab_server, notebook_file(jupyter_root, NOTEBOOK))
    page = notebook.page
    cells = notebook.code_cells()
    assert "LayerMap(session)" in cells[0]["source"]
    started = time.monotonic()
    seen = []
    for cell in cells:
        notebook.run_cell(cell["index"])
        expect(page.locator(".tw-lm")).to_have_count(1)
        python = notebook.python("[len(session.layers), sorted(session.plan.frozen), "
                                 "[i for i, row in enumerate(session.layers) if row.frozen]]")
        count, plan, frozen_indices = python
        expect(page.locator(".tw-lm-row")).to_have_count(count)
        # The map's frozen rows are the plan's layers (waiting for the last sync to land).
        deadline = time.monotonic() + 15
        while [i for i, _ in frozen_rows(page)] != frozen_indices and time.monotonic() < deadline:
            time.sleep(0.1)
        shown = frozen_rows(page)
        assert [i for i, _ in shown] == frozen_indices, cell["source"]
        assert sorted(name for _, name in shown) == plan, cell["source"]
        assert page.locator(".tw-lm-row.tw-lm-frozen").count() == len(plan)
        expect(page.locator(".tw-lm-summary")).to_contain_text(f"{count} layers")
        expect(page.locator(".tw-lm-error")).to_be_hidden()
        seen.append((cell["source"], len(plan)))
        if 'freeze_to("transformer_layer_3")' in cell["source"]:
            # freeze_to a name freezes everything up to and including it.
            names = notebook.python("[row.name for row in session.layers]")
            assert len(plan) == names.index("transformer_layer_3") + 1
    record("03_freeze_cell_by_cell cell-by-cell seconds (JupyterLab)", round(time.monotonic() - started, 1))
    counts = [n for _, n in seen]
    assert len(set(counts)) >= 2, f"the plan never changed across the cells: {counts}"
    assert any('freeze_to("transformer_layer_3")' in source for source, _ in seen)
