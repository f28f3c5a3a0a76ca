"""Fixtures for the real-browser tests: Debian's chromium (driven by Playwright's sync API)
against JupyterLab 4 and Notebook 7 servers started from this venv.

Chromium: /usr/bin/chromium or `chromium` on PATH (`TUNE_WIDGETS_E2E_CHROMIUM=<path>` overrides
the lookup, e.g. to simulate a machine without it). Without chromium the tests skip, unless the
CI variable is set: then they fail.

On a failure the page is saved as artifacts/e2e/<test>.png, and the Jupyter server's log and the
browser console are added to the report.
"""

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import nbformat
import pytest

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:  # the helpers module beside this file, whatever pytest's import mode
    sys.path.insert(0, HERE)

from jupyter_e2e import ARTIFACTS, HELLO, NOTEBOOKS, JupyterServer, OpenNotebooks, save_screenshot  # noqa: E402

CHROMIUM_ENV = "TUNE_WIDGETS_E2E_CHROMIUM"
CHROMIUM_CANDIDATES = ("/usr/bin/chromium",)
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

MEASUREMENTS = {}  # name -> value, printed at the end of the run and saved to artifacts/e2e


# ---- chromium: skip only outside CI ----------------------------------------------------------------

def find_chromium():
    """The chromium executable, or None. TUNE_WIDGETS_E2E_CHROMIUM (a path) replaces the lookup."""
    override = os.environ.get(CHROMIUM_ENV)
    candidates = [override] if override is not None else [*CHROMIUM_CANDIDATES, shutil.which("chromium")]
    for candidate in candidates:
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def in_ci():
    return bool(os.environ.get("CI"))


def require_chromium():
    """The chromium path; skips when it is missing and CI is unset, fails when CI is set."""
    path = find_chromium()
    if path is not None:
        return path
    where = os.environ.get(CHROMIUM_ENV) or " or ".join([*CHROMIUM_CANDIDATES, "chromium on PATH"])
    message = f"chromium not found ({where}); install it with `make browser` (apt-get install chromium)"
    if in_ci():
        pytest.fail(f"{message}. CI is set, so the browser tests fail instead of skipping.", pytrace=False)
    pytest.skip(message)


# ---- reports, screenshots, measurements ------------------------------------------------------------

@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    if report.failed:
        for server in getattr(item, "tw_servers", ()):
            report.sections.append((f"jupyter {server.app} server log (tail)", server.log_tail()))
        console = getattr(item, "tw_console", None)
        if console:
            report.sections.append(("browser console (tail)", "\n".join(console[-80:])))
    return report


def failed(node):
    return any(getattr(node, f"rep_{when}", None) is not None and getattr(node, f"rep_{when}").failed
               for when in ("setup", "call"))


@pytest.fixture
def record():
    """record(name, value): a measurement printed in the terminal summary."""
    def record(name, value):
        MEASUREMENTS[name] = value
        print(f"{name}: {value}")
    return record


def pytest_terminal_summary(terminalreporter):
    if not MEASUREMENTS:
        return
    terminalreporter.section("e2e measurements")
    for name, value in MEASUREMENTS.items():
        terminalreporter.write_line(f"{name}: {value}")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "measurements.json").write_text(json.dumps(MEASUREMENTS, indent=2))


# ---- browser and servers ---------------------------------------------------------------------------

@pytest.fixture(scope="session")
def chromium_path():
    return require_chromium()


@pytest.fixture(scope="session")
def browser(chromium_path):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if in_ci():
            pytest.fail("the playwright package is not installed (CI is set)", pytrace=False)
        pytest.skip("the playwright package is not installed")
    playwright = sync_playwright().start()
    browser = playwright.chromium.launch(executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS)
    yield browser
    browser.close()
    playwright.stop()


@pytest.fixture(scope="session")
def e2e_tmp():
    path = Path(tempfile.mkdtemp(prefix="tw-e2e-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def jupyter_root(e2e_tmp):
    """A copy of notebooks/ (so runs never touch the repo) plus a generated widget smoke notebook."""
    root = e2e_tmp / "root"
    shutil.copytree(NOTEBOOKS, root, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    write_hello(root / HELLO)
    return root


def write_hello(path):
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    notebook.cells = [nbformat.v4.new_code_cell('import ipywidgets\nipywidgets.Button(description="hello")')]
    nbformat.write(notebook, path)


def _server(app, root, e2e_tmp):
    server = JupyterServer(app, root, e2e_tmp / f"server-{app}")
    try:
        server.start()
    except Exception:
        print(server.log_tail())
        raise
    return server


@pytest.fixture(scope="session")
def lab_server(browser, jupyter_root, e2e_tmp):
    server = _server("lab", jupyter_root, e2e_tmp)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def notebook_server(browser, jupyter_root, e2e_tmp):
    server = _server("notebook", jupyter_root, e2e_tmp)
    yield server
    server.stop()


@pytest.fixture(params=["lab", "notebook"])
def any_server(request):
    """Each app in turn: JupyterLab 4, then Notebook 7."""
    return request.getfixturevalue(f"{request.param}_server")


# ---- pages -----------------------------------------------------------------------------------------

def watch(request, notebook):
    """Attach a notebook's server and console to the running test, for its failure report."""
    request.node.tw_servers = [notebook.server]
    request.node.tw_console = getattr(notebook, "console", [])


@pytest.fixture
def open_notebook(browser, request):
    """open_notebook(server, path) -> NotebookPage; closed (kernel shut down) after the test,
    with a screenshot of every page it opened if the test failed."""
    opened = OpenNotebooks(browser)
    notebooks = []

    def open_(server, path, timeout=180):
        request.node.tw_servers = [*getattr(request.node, "tw_servers", []), server]
        request.node.tw_console = opened.console
        notebook = opened.open(server, path, timeout=timeout)
        notebooks.append(notebook)
        return notebook

    yield open_
    if failed(request.node):
        for notebook in notebooks:
            save_screenshot(request.node.name, notebook.page)
    for notebook in notebooks:
        notebook.close()
    opened.close()


@pytest.fixture
def screenshot_on_failure(request):
    """For a module-scoped NotebookPage: register(notebook) returns it, and if the test fails its
    page is saved as a screenshot and its server log and console join the report."""
    pages = []

    def register(notebook):
        watch(request, notebook)
        pages.append(notebook.page)
        return notebook

    yield register
    if failed(request.node):
        for page in pages:
            save_screenshot(request.node.name, page)


THIS_MODULE = sys.modules[__name__]  # captured at import: the name "conftest" is not unique


@pytest.fixture
def e2e_conftest():
    """This conftest module itself, for the tests of its chromium rule."""
    return THIS_MODULE
