"""Helpers for the browser tests: a Jupyter server under test, and a notebook open in a page.

`JupyterServer` starts `jupyter lab` or `jupyter notebook` from this venv on 127.0.0.1, with a
random token, temporary config/runtime/settings/workspace folders and `expose_app_in_browser`,
so the page can drive the app through `window.jupyterapp.commands`.

`NotebookPage` opens one notebook in a Playwright page, runs cells through the app's commands,
waits on the kernel through the server's REST API (`/api/sessions`, `/api/kernels`), and reads
Python values back by running a scratch cell in the page and parsing its output from the DOM.
"""

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
ARTIFACTS = REPO / "artifacts" / "e2e"
VIEWPORT = {"width": 1400, "height": 1000}

HELLO = "e2e_hello.ipynb"  # generated into the server root: one ipywidgets Button
SERVER_START_TIMEOUT = 120
KERNEL_TIMEOUT = 180

# JupyterLab settings for a quiet, deterministic page: no news/update toasts over the widgets,
# and no notebook windowing, so every cell's output is in the DOM whatever the scroll position.
USER_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}

APPS = {
    # app: (python -m module, config class, URL prefix of a document)
    "lab": ("jupyterlab", "LabApp", "/lab/tree/"),
    "notebook": ("notebook", "JupyterNotebookApp", "/notebooks/"),
}


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerError(RuntimeError):
    pass


class JupyterServer:
    """One `jupyter lab` / `jupyter notebook` process, with its own temp dirs and log file."""

    def __init__(self, app, root, workdir):
        self.app = app
        self.module, self.app_class, self.doc_prefix = APPS[app]
        self.root = Path(root)
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.token = secrets.token_hex(24)
        self.port = None
        self.proc = None
        self.log_path = self.workdir / "server.log"
        self._log = None

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.port}"

    def doc_url(self, path):
        return f"{self.base_url}{self.doc_prefix}{path}?token={self.token}"

    # ---- process ------------------------------------------------------------------------------

    def start(self, attempts=3):
        for attempt in range(attempts):
            self.port = free_port()
            try:
                self._launch()
                self._wait_ready()
                return self
            except ServerError:
                self.stop()
                if attempt == attempts - 1 or "address already in use" not in self.log_tail().lower():
                    raise

    def _launch(self):
        dirs = {name: self.workdir / name for name in ("config", "runtime", "settings", "workspaces", "ipython")}
        for folder in dirs.values():
            folder.mkdir(exist_ok=True)
        for relative, settings in USER_SETTINGS.items():
            path = dirs["settings"] / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(settings))
        env = dict(os.environ)
        env.update(
            JUPYTER_CONFIG_DIR=str(dirs["config"]),
            JUPYTER_RUNTIME_DIR=str(dirs["runtime"]),
            IPYTHONDIR=str(dirs["ipython"]),
            JUPYTER_PREFER_ENV_PATH="1",
            TUNE_WIDGETS_QUICK="1",
            TUNE_WIDGETS_FEATURE_CACHE=str(self.workdir / "features"),  # the kernels' own, never ~/.cache
            PYTHONUNBUFFERED="1",
        )
        cls = self.app_class
        command = [
            sys.executable, "-m", self.module,
            "--allow-root", "--no-browser",
            "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root}",
            "--ServerApp.terminals_enabled=False",
            f"--{cls}.expose_app_in_browser=True",
        ]
        # Both servers load both front-end apps as server extensions, and whichever registers
        # first serves /lab/api/settings: point both apps' settings and workspaces at the temp dirs.
        for app_class in ("LabApp", "JupyterNotebookApp"):
            command += [f"--{app_class}.workspaces_dir={dirs['workspaces']}",
                        f"--{app_class}.user_settings_dir={dirs['settings']}"]
        if self._log is None:
            self._log = open(self.log_path, "ab")
        self._log.write(f"\n$ {' '.join(command)}\n".replace(self.token, "<token>").encode())
        self._log.flush()
        self.proc = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT, env=env, cwd=self.root,
                                     stdin=subprocess.DEVNULL)

    def _wait_ready(self):
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerError(f"jupyter {self.app} exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                status = self.api("GET", "/api/status", timeout=2)
                if isinstance(status, dict) and "started" in status:
                    return
            except (OSError, urllib.error.URLError, ValueError):
                pass
            time.sleep(0.25)
        raise ServerError(f"jupyter {self.app} did not answer /api/status within {SERVER_START_TIMEOUT}s:\n{self.log_tail()}")

    def stop(self):
        """POST /api/shutdown (kernels included), then terminate, then kill."""
        proc = self.proc
        if proc is not None and proc.poll() is None:
            try:
                self.api("POST", "/api/shutdown", timeout=5)
            except (OSError, urllib.error.URLError, ValueError):
                pass
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)
        if self._log is not None and (proc is None or proc.poll() is not None):
            self._log.close()
            self._log = None

    def log_tail(self, chars=6000):
        if self._log is not None:
            self._log.flush()
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return text[-chars:]

    # ---- REST ---------------------------------------------------------------------------------

    def api(self, method, path, body=None, timeout=10):
        data = json.dumps(body).encode() if body is not None else (b"" if method in ("POST", "PUT", "PATCH") else None)
        request = urllib.request.Request(self.base_url + path, data=data, method=method,
                                         headers={"Authorization": f"token {self.token}",
                                                  "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read()
        return json.loads(raw) if raw else None

    def kernel_for(self, path):
        for session in self.api("GET", "/api/sessions"):
            if session.get("path") == path and session.get("kernel"):
                return session["kernel"]["id"]
        return None

    def kernel_state(self, kernel_id):
        return self.api("GET", f"/api/kernels/{kernel_id}").get("execution_state")

    def wait_kernel_idle(self, kernel_id, timeout=KERNEL_TIMEOUT, settle=0.3):
        """Wait until /api/kernels says idle twice in a row, `settle` seconds apart."""
        deadline = time.monotonic() + timeout
        seen_idle = False
        state = None
        while time.monotonic() < deadline:
            state = self.kernel_state(kernel_id)
            if state == "idle":
                if seen_idle:
                    return
                seen_idle = True
            else:
                seen_idle = False
            time.sleep(settle)
        raise TimeoutError(f"kernel {kernel_id} still {state!r} after {timeout}s")

    def shutdown_session(self, path):
        for session in self.api("GET", "/api/sessions"):
            if session.get("path") == path:
                self.api("DELETE", f"/api/sessions/{session['id']}")


# In-page helpers: find the notebook panel for a path through the exposed app.
JS_PRELUDE = """
const twApp = window.jupyterapp;
function twPanel(path) {
  if (!twApp || !twApp.shell) return null;
  const current = twApp.shell.currentWidget;
  if (current && current.context && current.context.path === path) return current;
  for (const w of twApp.shell.widgets('main')) if (w.context && w.context.path === path) return w;
  return null;
}
"""


def js(body):
    """A page function of one argument `a`, with the prelude in scope."""
    return f"(a) => {{ {JS_PRELUDE}\n{body}\n}}"


JS_READY = js("""
  const p = twPanel(a.path);
  if (!p || !p.context || !p.context.isReady || !p.content || !p.content.model) return false;
  const s = p.sessionContext && p.sessionContext.session;
  const k = s && s.kernel;
  return !!(k && k.connectionStatus === 'connected' && p.content.widgets.length > 0);
""")

JS_CELL_STATE = js("""
  const p = twPanel(a.path);
  const out = [];
  p.content.widgets.forEach((cell, i) => {
    // An empty code cell never gets an execution count: it does not count.
    if (cell.model.type !== 'code' || !cell.model.sharedModel.getSource().trim()) return;
    const prompt = cell.node.querySelector('.jp-InputPrompt');
    out.push({index: i, count: cell.model.executionCount,
              running: !!(prompt && prompt.textContent.includes('*')),
              scratch: !!cell.model.getMetadata('tw_e2e_scratch')});
  });
  return out;
""")

JS_ERRORS = js("""
  const p = twPanel(a.path);
  const errors = [];
  p.content.widgets.forEach((cell, i) => {
    if (cell.model.type !== 'code') return;
    for (const o of cell.model.outputs.toJSON()) {
      if (o.output_type === 'error') errors.push({cell: i, ename: o.ename, evalue: o.evalue,
                                                  traceback: (o.traceback || []).join('\\n')});
    }
  });
  return errors;
""")

JS_RUN = js("""
  const p = twPanel(a.path);
  twApp.shell.activateById(p.id);
  const nb = p.content;
  // Forget the execution counts a saved notebook carries (of the cells about to run), so a
  // count can only mean "ran now".
  nb.widgets.forEach((cell, i) => {
    if (cell.model.type === 'code' && (a.command === 'notebook:run-all-cells' || i === a.index))
      cell.model.executionCount = null;
  });
  if (a.index !== null && a.index !== undefined) {
    nb.deselectAll();
    nb.activeCellIndex = a.index;
  }
  // Not awaited: the page function returns at once, and the test waits on the kernel.
  twApp.commands.execute(a.command);
  return true;
""")

JS_SCRATCH = js("""
  const p = twPanel(a.path);
  const nb = p.content, model = nb.model;
  let index = nb.widgets.findIndex(c => c.model.getMetadata('tw_e2e_scratch'));
  if (index < 0) {
    model.sharedModel.insertCell(model.cells.length, {cell_type: 'code', source: '', metadata: {tw_e2e_scratch: true}});
    index = nb.widgets.length - 1;
  }
  const cell = nb.widgets[index];
  cell.model.sharedModel.setSource(a.code);
  twApp.shell.activateById(p.id);
  nb.deselectAll();
  nb.activeCellIndex = index;
  twApp.commands.execute('notebook:run-cell');
  return index;
""")

JS_OUTPUT_TEXT = js("""
  const p = twPanel(a.path);
  const cell = p.content.widgets[a.index];
  const area = cell && cell.node.querySelector('.jp-OutputArea');
  return {text: area ? area.innerText : '', count: cell ? cell.model.executionCount : null};
""")

JS_CODE_CELLS = js("""
  const p = twPanel(a.path);
  const out = [];
  p.content.widgets.forEach((cell, i) => {
    if (cell.model.type === 'code' && !cell.model.getMetadata('tw_e2e_scratch'))
      out.push({index: i, source: cell.model.sharedModel.getSource()});
  });
  return out;
""")


class CellError(AssertionError):
    pass


class NotebookPage:
    """One notebook opened in a Playwright page of a `JupyterServer`."""

    def __init__(self, page, server, path):
        self.page = page
        self.server = server
        self.path = path
        self.kernel_id = None

    def open(self, timeout=KERNEL_TIMEOUT):
        self.page.goto(self.server.doc_url(self.path), wait_until="domcontentloaded")
        self.page.wait_for_function(JS_READY, arg={"path": self.path}, timeout=timeout * 1000, polling=250)
        deadline = time.monotonic() + timeout
        while self.kernel_id is None:
            self.kernel_id = self.server.kernel_for(self.path)
            if self.kernel_id is None:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"no kernel session for {self.path}")
                time.sleep(0.25)
        self.server.wait_kernel_idle(self.kernel_id, timeout=timeout)
        return self

    def close(self):
        try:
            self.server.shutdown_session(self.path)
        except (OSError, urllib.error.URLError, ValueError):
            pass

    # ---- running ------------------------------------------------------------------------------

    def run_all(self, timeout=KERNEL_TIMEOUT, check_errors=True):
        """Run every cell (notebook:run-all-cells); wait for the kernel and every execution count."""
        started = time.monotonic()
        self.page.evaluate(JS_RUN, {"path": self.path, "command": "notebook:run-all-cells", "index": 0})
        self.wait_executed(timeout=timeout)
        if check_errors:
            self.raise_errors()
        return time.monotonic() - started

    def run_cell(self, index, timeout=KERNEL_TIMEOUT, check_errors=True):
        """Run the cell at `index` (notebook:run-cell) and wait until it has finished."""
        self.page.evaluate(JS_RUN, {"path": self.path, "command": "notebook:run-cell", "index": index})
        deadline = time.monotonic() + timeout
        while True:
            cell = {c["index"]: c for c in self._cell_state()}[index]
            if cell["count"] is not None and not cell["running"]:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"cell {index} of {self.path} did not finish in {timeout}s")
            time.sleep(0.1)
        self.server.wait_kernel_idle(self.kernel_id, timeout=timeout, settle=0.15)
        if check_errors:
            self.raise_errors()

    def _cell_state(self):
        return self.page.evaluate(JS_CELL_STATE, {"path": self.path})

    def wait_executed(self, timeout=KERNEL_TIMEOUT):
        deadline = time.monotonic() + timeout
        while True:
            cells = [c for c in self._cell_state() if not c["scratch"]]
            pending = [c["index"] for c in cells if c["count"] is None or c["running"]]
            if not pending and self.server.kernel_state(self.kernel_id) == "idle":
                # Confirm: idle on the server, and still nothing pending a moment later.
                self.server.wait_kernel_idle(self.kernel_id, timeout=max(deadline - time.monotonic(), 1))
                cells = [c for c in self._cell_state() if not c["scratch"]]
                if not [c for c in cells if c["count"] is None or c["running"]]:
                    return
            if time.monotonic() > deadline:
                errors = self.errors()
                raise TimeoutError(f"{self.path}: cells {pending} not executed after {timeout}s; errors: {errors}")
            time.sleep(0.25)

    def errors(self):
        return self.page.evaluate(JS_ERRORS, {"path": self.path})

    def raise_errors(self):
        errors = self.errors()
        if errors:
            first = errors[0]
            raise CellError(f"{self.path}: cell {first['cell']} raised {first['ename']}: {first['evalue']}\n"
                            f"{_strip_ansi(first['traceback'])}")

    def code_cells(self):
        """[{index, source}] of the notebook's own code cells (not the scratch cell)."""
        return self.page.evaluate(JS_CODE_CELLS, {"path": self.path})

    # ---- reading Python state in the page -------------------------------------------------------

    def python(self, expression, setup="", timeout=60):
        """Evaluate `expression` in the kernel by running a scratch cell in the page; its
        JSON-printed value is read back from the cell's output in the DOM."""
        nonce = secrets.token_hex(6)
        code = (f"{setup}\nimport json as _tw_json\n"
                f"print('<<{nonce}>>' + _tw_json.dumps({expression}, default=str) + '<</{nonce}>>')")
        index = self.page.evaluate(JS_SCRATCH, {"path": self.path, "code": code})
        pattern = re.compile(rf"<<{nonce}>>(.*?)<</{nonce}>>", re.S)
        deadline = time.monotonic() + timeout
        while True:
            state = self.page.evaluate(JS_OUTPUT_TEXT, {"path": self.path, "index": index})
            match = pattern.search(state["text"])
            if match:
                return json.loads(match.group(1))
            if state["count"] is not None and ("Traceback" in state["text"] or "Error" in state["text"]):
                errors = [e for e in self.errors() if e["cell"] == index]
                if errors:
                    raise CellError(f"scratch cell failed: {errors[0]['ename']}: {errors[0]['evalue']}\n"
                                    f"{_strip_ansi(errors[0]['traceback'])}\n--- code ---\n{code}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"no answer to {expression!r} after {timeout}s; output: {state['text'][-2000:]!r}")
            time.sleep(0.05)


def _strip_ansi(text):
    return re.sub(r"\x1b\[[0-9;]*m", "", text or "")


# ---- pages, screenshots, notebooks ------------------------------------------------------------

def save_screenshot(name, page):
    """Save the page as artifacts/e2e/<name>.png (never raises)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / (re.sub(r"[^A-Za-z0-9_.-]+", "_", name) + ".png")
    try:
        page.screenshot(path=str(path), full_page=True, timeout=15000)
        print(f"screenshot: {path}")
    except Exception as error:  # a crashed page must not hide the test's own failure
        print(f"screenshot failed: {error}")
    return path


def notebook_file(root, name, wait=0):
    """The copied notebook `name`; fails (after waiting `wait` seconds for the repo to get it) if absent."""
    deadline = time.monotonic() + wait
    while not (root / name).exists():
        source = NOTEBOOKS / name
        if source.exists():
            shutil.copy2(source, root / name)
            break
        if time.monotonic() > deadline:
            pytest.fail(f"notebooks/{name} does not exist", pytrace=False)
        time.sleep(5)
    return name


class OpenNotebooks:
    """Opens notebooks, each in its own browser context; remembers console lines for reports."""

    def __init__(self, browser):
        self.browser = browser
        self.contexts = []
        self.console = []

    def open(self, server, path, timeout=180):
        context = self.browser.new_context(viewport=VIEWPORT)
        self.contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(30000)
        page.on("console", lambda msg: self.console.append(f"[{msg.type}] {msg.text}"[:500]))
        page.on("pageerror", lambda err: self.console.append(f"[pageerror] {err}"[:500]))
        return NotebookPage(page, server, path).open(timeout=timeout)

    def close(self):
        for context in self.contexts:
            try:
                context.close()
            except Exception:
                pass
        self.contexts = []


def shared_notebook(browser, server, path, run=True):
    """A notebook opened (and run) once for a whole module: yields (NotebookPage, OpenNotebooks)."""
    opened = OpenNotebooks(browser)
    try:
        notebook = opened.open(server, path)
        notebook.console = opened.console
        notebook.run_seconds = notebook.run_all() if run else None
    except BaseException:
        # A module fixture's failure reaches no test's report hook: leave the evidence here.
        for context in opened.contexts:
            for page in context.pages:
                save_screenshot(f"{Path(path).stem}_setup", page)
        print(f"--- jupyter {server.app} server log (tail) ---\n{server.log_tail()}")
        print("--- browser console (tail) ---\n" + "\n".join(opened.console[-80:]))
        opened.close()
        raise
    return notebook, opened


