"""notebooks/02_dashboard.ipynb in Notebook 7: the dashboard renders, and a click on the layer map
reaches the kernel."""

import re
import time

import pytest
from playwright.sync_api import expect

from jupyter_e2e import notebook_file

pytestmark = pytest.mark.e2e

NOTEBOOK = "02_dashboard.ipynb"
MAP = ".tw-dashboard .tw-lm"


def test_dashboard_renders_and_clicks_reach_the_kernel(notebook_server, jupyter_root, open_notebook, record):
    notebook = open_notebook(notebook_server, notebook_file(jupyter_root, NOTEBOOK))
    page = notebook.page
    record("02_dashboard run-all seconds (Notebook 7)", round(notebook.run_all(), 1))
    assert "/notebooks/" in page.url  # Notebook 7's document page, not JupyterLab
    names = notebook.python("[row.name for row in session.layers]")
    expect(page.locator(f"{MAP} .tw-lm-row")).to_have_count(len(names))
    for panel in ("tw-model-panel", "tw-optimizer-panel", "tw-training-panel", "tw-evaluation-panel"):
        expect(page.locator(f".tw-dashboard .{panel}")).to_be_visible()
    # Charts are built when first drawn (issue 22): none before a fit or an evaluation.
    expect(page.locator(".tw-dashboard .tw-confusion")).to_have_count(0)

    index = names.index("transformer_layer_5")
    was_frozen = notebook.python('"transformer_layer_5" in session.plan.frozen')
    row = page.locator(f'{MAP} .tw-lm-row[data-index="{index}"]')
    row.locator(".tw-lm-name").click()
    state = "tw-lm-trainable" if was_frozen else "tw-lm-frozen"
    expect(row).to_have_class(re.compile(rf"(^|\s){state}(\s|$)"))
    deadline = time.monotonic() + 15
    while notebook.python('"transformer_layer_5" in session.plan.frozen') == was_frozen:
        assert time.monotonic() < deadline, "the kernel never saw the click"
        time.sleep(0.2)
    shown = page.eval_on_selector_all(f"{MAP} .tw-lm-row.tw-lm-frozen .tw-lm-name", "els => els.map(e => e.textContent)")
    assert sorted(shown) == notebook.python("sorted(session.plan.frozen)")

    page.locator(".tw-dashboard .tw-evaluation-panel .tw-evaluate").click()  # plotly draws in Notebook 7 too
    expect(page.locator(".tw-dashboard .tw-confusion .heatmaplayer")).to_have_count(1, timeout=60_000)
