"""The data panel in JupyterLab 4: it renders with its empty state, a CSV uploaded through the
browser's file chooser becomes the session's data, and a shipped image set shows thumbnails."""

import nbformat
import pytest
from playwright.sync_api import expect

from tune_widgets.widgets import data_panel as choices

pytestmark = pytest.mark.e2e

NOTEBOOK = "e2e_data_panel.ipynb"
PANEL = ".tw-data-panel"
CSV = "text,label\n" + "".join(f"message number {i},{'spam' if i % 3 == 0 else 'ham'}\n" for i in range(30))


@pytest.fixture
def data_notebook(jupyter_root):
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    notebook.cells = [nbformat.v4.new_code_cell(
        "import tune_widgets as tw\nfrom tune_widgets.widgets import DataPanel\n\n"
        "session = tw.Session()\nDataPanel(session)")]
    nbformat.write(notebook, jupyter_root / NOTEBOOK)
    return NOTEBOOK


def test_a_csv_upload_and_a_shipped_image_set(lab_server, open_notebook, data_notebook, tmp_path, record):
    notebook = open_notebook(lab_server, data_notebook)
    record("data panel notebook run seconds (JupyterLab)", round(notebook.run_all(), 1))
    page = notebook.page
    expect(page.locator(PANEL)).to_be_visible(timeout=60000)
    expect(page.locator(f"{PANEL} .tw-data-summary")).to_contain_text("No data yet: choose a source above")

    page.locator(f"{PANEL} .tw-data-source select").select_option(label=choices.UPLOAD_CSV)
    upload = page.locator(f"{PANEL} .tw-data-csv")
    expect(upload).to_be_visible()
    expect(page.locator(f"{PANEL} .tw-data-path")).to_be_hidden()  # only the fields of this source
    (tmp_path / "messages.csv").write_text(CSV)
    # ipywidgets' FileUpload clicks an <input type="file"> it never attaches to the page: the
    # file goes through the file chooser that click opens, as a person's would.
    with page.expect_file_chooser() as chooser:
        upload.click()
    chooser.value.set_files(str(tmp_path / "messages.csv"))
    expect(page.locator(f"{PANEL} .tw-data-text-column select")).to_have_value("text", timeout=30000)
    expect(page.locator(f"{PANEL} .tw-data-label-column select")).to_have_value("label")
    page.locator(f"{PANEL} .tw-data-apply").click()
    expect(page.locator(f"{PANEL} .tw-data-summary")).to_contain_text("30 text examples", timeout=30000)
    expect(page.locator(f"{PANEL} .tw-class-balance svg rect")).to_have_count(4)  # 2 classes × train, validation
    expect(page.locator(f"{PANEL} .tw-data-sample")).to_contain_text("message number")
    expect(page.locator(f"{PANEL} .tw-error")).to_have_text("")
    assert notebook.python("[len(session.train_data) + len(session.validation_data), list(session.class_names)]") == [
        30, ["ham", "spam"]]

    page.locator(f"{PANEL} .tw-data-source select").select_option(label=choices.FACES)
    page.locator(f"{PANEL} .tw-data-apply").click()
    expect(page.locator(f"{PANEL} .tw-data-sample img.tw-thumb")).to_have_count(6, timeout=30000)
    assert page.locator(f"{PANEL} .tw-data-sample img.tw-thumb").first.evaluate("img => img.naturalWidth") == 56
    assert notebook.python("list(session.class_names)") == ["face", "not face"]
