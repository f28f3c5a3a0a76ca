"""The layer map's signal column in JupyterLab 4: chosen in the header, it colours the rows, the
sublayers of an opened block and the block headers, and its figures change while a fit runs in
the background."""

import re
import time

import nbformat
import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.e2e

NOTEBOOK = "e2e_signal_column.ipynb"
SETUP = """import numpy as np, keras
import tune_widgets as tw
from tune_widgets.widgets import LayerMap

class Pair(keras.layers.Layer):  # a block of two Dense sublayers, as a transformer layer holds several
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.inner, self.outer = keras.layers.Dense(32, name="inner"), keras.layers.Dense(32, name="outer")

    def build(self, shape):
        with keras.name_scope(self.name, caller=self):
            self.inner.build(shape)
            self.outer.build((*shape[:-1], 32))

    def call(self, x):
        return self.outer(keras.ops.relu(self.inner(x)))

rng = np.random.default_rng(0)
x = rng.normal(size=(2000, 8)).astype("float32")
inputs = keras.Input((8,), name="features")
hidden = keras.layers.Dense(32, activation="relu", name="block1_dense")(inputs)
hidden = keras.layers.Dense(32, activation="relu", name="block2_dense")(hidden)
hidden = Pair(name="pair")(hidden)
session = tw.Session(runs_dir=None).load_model(keras.Model(inputs, keras.layers.Dense(2, name="predictions")(hidden)),
                                               head=tw.HeadSpec(dropout=0.0))
session.set_data(x, (x.sum(1) > 0).astype("int32"), batch_size=8)
LayerMap(session)"""


@pytest.fixture
def signal_notebook(jupyter_root):
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    notebook.cells = [nbformat.v4.new_code_cell(SETUP)]
    nbformat.write(notebook, jupyter_root / NOTEBOOK)
    return NOTEBOOK


def test_the_signal_column_renders_and_changes_during_a_fit(lab_server, open_notebook, signal_notebook, record):
    notebook = open_notebook(lab_server, signal_notebook)
    notebook.run_all()
    page = notebook.page
    expect(page.locator(".tw-lm-row")).to_have_count(5, timeout=60000)
    page.locator(".tw-lm-signal-choice").select_option("update_ratio")
    expect(page.locator(".tw-lm.tw-lm-has-signal")).to_have_count(1)
    swatch = page.locator('.tw-lm-row:has(.tw-lm-name:text-is("block2_dense")) .tw-lm-signal')
    started = time.monotonic()
    notebook.python("session.fit(epochs=6, background=True) is not None")
    titles = set()
    while time.monotonic() - started < 90 and (len(titles) < 3 or notebook.python("session.training")):
        title = swatch.get_attribute("title") or ""
        if title:
            titles.add(title)
        if len(titles) >= 3:
            break
        time.sleep(0.2)
    record("signal column: distinct update ratios shown during the fit", len(titles))
    assert len(titles) >= 3, titles  # live: new steps' figures arrive during the fit
    assert all(title.startswith("update ratio") and "(step " in title for title in titles)
    assert float(swatch.evaluate("e => getComputedStyle(e).getPropertyValue('--tw-lm-shade')")) > 0
    untrained = page.locator('.tw-lm-row:has(.tw-lm-name:text-is("features")) .tw-lm-signal')
    expect(untrained).to_have_attribute("data-value", "0")  # the input layer trains nothing: exactly zero

    page.locator('.tw-lm-row:has(.tw-lm-name:text-is("pair")) .tw-lm-subs').click()
    inner = page.locator('.tw-lm-subrow[data-path="pair/inner"] .tw-lm-signal')
    expect(inner).to_be_visible()
    expect(inner).to_have_attribute("title", re.compile(r"^update ratio .+ \(step \d+\)$"), timeout=30000)
    assert float(inner.get_attribute("data-value")) > 0  # the opened block's sublayer has its own figure
    block = page.locator('.tw-lm-block:has(.tw-lm-block-name:text-is("block2")) .tw-lm-signal')
    expect(block).to_be_visible()
    expect(block).to_have_attribute("title", re.compile(r"^update ratio .+, its 2 layers taken together$"))
    notebook.python("session.stop() or True")
