"""The infrastructure itself: a plain ipywidgets Button renders in JupyterLab 4 and Notebook 7."""

import pytest

from jupyter_e2e import HELLO

pytestmark = pytest.mark.e2e


def test_button_widget_renders(any_server, open_notebook, jupyter_root):
    notebook = open_notebook(any_server, HELLO)
    notebook.run_all()
    button = notebook.page.locator("button.jupyter-button", has_text="hello")
    button.wait_for(state="visible", timeout=30000)
    assert button.count() == 1
    # The kernel answers through a cell run in the page, read back from the DOM.
    assert notebook.python("ipywidgets.__version__").startswith("8.")
