"""The model panel in JupyterLab 4: typing in Find narrows the catalogue, the cached tiny preset
is marked and picked from the list, and Load model puts it in the session, offline."""

import time

import nbformat
import pytest
from playwright.sync_api import expect

from tests.families import kagglehub_cache_with, keras_hub_preset

pytestmark = pytest.mark.e2e

NOTEBOOK = "e2e_model_panel.ipynb"
PANEL = ".tw-model-panel"
TINY = "bert_tiny_en_uncased"


@pytest.fixture
def model_notebook(jupyter_root, tmp_path):
    """A ModelPanel notebook whose kernel sees only a kagglehub cache holding a tiny BERT under
    bert_tiny_en_uncased, an empty Hugging Face cache, and no Hugging Face network."""
    kagglehub_cache_with(TINY, keras_hub_preset("bert", tmp_path / "bert"), tmp_path / "kagglehub")
    (tmp_path / "hub").mkdir()
    environment = {"HF_HUB_CACHE": str(tmp_path / "hub"), "HF_HUB_OFFLINE": "1",
                   "KAGGLEHUB_CACHE": str(tmp_path / "kagglehub")}
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    notebook.cells = [nbformat.v4.new_code_cell(
        f"import os\nos.environ.update({environment!r})  # before tune_widgets reads the caches\n\n"
        "import tune_widgets as tw\nfrom tune_widgets.widgets import ModelPanel\n\n"
        "session = tw.Session()\nModelPanel(session)")]
    nbformat.write(notebook, jupyter_root / NOTEBOOK)
    return NOTEBOOK


def test_find_pick_and_load_the_cached_tiny_preset(lab_server, open_notebook, model_notebook, record):
    notebook = open_notebook(lab_server, model_notebook)
    record("model panel notebook run seconds (JupyterLab)", round(notebook.run_all(), 1))
    page = notebook.page
    expect(page.locator(PANEL)).to_be_visible(timeout=60000)
    expect(page.locator(f"{PANEL} .tw-param-counts")).to_contain_text("No model loaded")

    options = page.locator(f"{PANEL} .tw-model-source select option")
    expect(options.filter(has_text="ResNet50 ·")).to_have_count(1)  # the whole catalogue before a filter
    page.locator(f"{PANEL} .tw-model-search input").fill("bert tiny")
    expect(options.filter(has_text="ResNet50 ·")).to_have_count(0, timeout=30000)
    tiny = options.filter(has_text=f"{TINY} · ")
    expect(tiny).to_have_count(1)
    label = tiny.inner_text().strip()  # ipywidgets writes the label's spaces as no-break spaces
    assert label.replace("\xa0", " ").endswith(" · cached"), label
    page.locator(f"{PANEL} .tw-model-source select").select_option(label=label)
    sequence_length = page.locator(f"{PANEL} .tw-field-sequence-length input")
    expect(sequence_length).to_be_visible()  # a text model: its one field
    expect(page.locator(f"{PANEL} .tw-field-input-shape")).to_be_hidden()
    sequence_length.fill("16")
    sequence_length.press("Enter")

    started = time.monotonic()
    page.locator(f"{PANEL} .tw-load-model").click()
    expect(page.locator(f"{PANEL} .tw-param-counts")).to_contain_text(TINY, timeout=120000)
    record("model panel tiny preset load seconds (click to counts)", round(time.monotonic() - started, 1))
    expect(page.locator(f"{PANEL} .tw-param-counts")).to_contain_text("trainable of")
    expect(page.locator(f"{PANEL} .tw-error")).to_have_text("")
    assert notebook.python("[session.backbone.source, session.backbone.family]") == [TINY, "bert"]
