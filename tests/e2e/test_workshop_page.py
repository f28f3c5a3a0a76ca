"""The workshop page under Voilà, in Chromium: refused without its token; with it, no code on the
page, a CSV upload, Load, Train (quick), Evaluate and the confusion matrix; two tabs training at
once, each in its own kernel and folder."""

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import expect

from jupyter_e2e import NOTEBOOKS, free_port
from tune_widgets.widgets import data_panel, model_panel

pytestmark = pytest.mark.e2e

PAGE = ".tw-workshop"
CSV = "text,label\n" + "".join(f"{'great ride' if i % 2 else 'awful traffic'} number {i},"
                               f"{'positive' if i % 2 else 'negative'}\n" for i in range(24))


@pytest.fixture(scope="module")
def voila(browser, tmp_path_factory):
    """Voilà serving the workshop notebook with a token; yields (url with token, the folders' root)."""
    root, port, token = tmp_path_factory.mktemp("workshop"), free_port(), "e2e-token-1234"
    voila = Path(sys.executable).with_name("voila")
    environment = {**os.environ, "TUNE_WIDGETS_QUICK": "1", "TUNE_WIDGETS_WORKSHOP_DIR": str(root),
                   "PYTHONPATH": os.pathsep.join([str(NOTEBOOKS.parent), os.environ.get("PYTHONPATH", "")])}
    log = open(root.parent / f"voila-{port}.log", "w")
    process = subprocess.Popen([str(voila), "--no-browser", "--Voila.ip=127.0.0.1", f"--port={port}", f"--token={token}",
                                "--VoilaConfiguration.show_tracebacks=False", str(NOTEBOOKS / "06_workshop_page.ipynb")],
                               stdout=log, stderr=subprocess.STDOUT, env=environment)
    base = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 60
    while True:
        try:
            urllib.request.urlopen(f"{base}?token={token}", timeout=5).close()
            break
        except (urllib.error.URLError, ConnectionError):
            if time.time() > deadline or process.poll() is not None:
                process.terminate()
                pytest.fail(f"Voilà did not start: {Path(log.name).read_text()[-2000:]}")
            time.sleep(0.5)
    yield base, token, root
    process.terminate()
    process.wait(timeout=30)
    log.close()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def test_the_page_without_its_token_is_refused(voila):
    base, token, _ = voila
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.build_opener(NoRedirect).open(base, timeout=10)
    assert refused.value.code in (302, 403) and "login" in refused.value.headers.get("Location", "login")
    for path in ("api/kernels", "voila/files/06_workshop_page.ipynb"):  # nor its kernels, nor its files
        with pytest.raises(urllib.error.HTTPError) as api:
            urllib.request.build_opener(NoRedirect).open(f"{base}{path}", timeout=10)
        assert api.value.code in (302, 403)


def open_tab(browser, base, token, outside):
    """A tab on the page, offline: every request to another host is refused (and noted in `outside`)."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(base)
               else (outside.add(route.request.url), route.abort()))
    page.goto(f"{base}?token={token}")
    expect(page.locator(PAGE)).to_be_visible(timeout=180000)
    return page


def prepare(page, csv_file):
    """Upload the CSV, use it, load the shipped MiniLM and freeze up to its last block."""
    data = f"{PAGE} .tw-data-panel"
    page.locator(f"{data} .tw-data-source select").select_option(label=data_panel.UPLOAD_CSV)
    with page.expect_file_chooser() as chooser:
        page.locator(f"{data} .tw-data-csv").click()
    chooser.value.set_files(str(csv_file))
    expect(page.locator(f"{data} .tw-data-text-column select")).to_have_value("text", timeout=60000)
    page.locator(f"{data} .tw-data-apply").click()
    expect(page.locator(f"{data} .tw-data-summary")).to_contain_text("24 text examples", timeout=60000)
    model = f"{PAGE} .tw-model-panel"
    page.locator(f"{model} .tw-model-source select").select_option(label=model_panel.SHIPPED_MINILM)
    page.locator(f"{model} .tw-load-model").click()
    expect(page.locator(f"{model} .tw-param-counts")).to_contain_text("trainable", timeout=120000)


def until_completed(root, count, timeout):
    """The status.json of `count` finished runs under the kernels' folders (a fit's end)."""
    deadline = time.time() + timeout
    while True:
        statuses = [json.loads(path.read_text()) for path in root.glob("kernel-*/tune_runs/*/status.json")]
        finished = [status for status in statuses if status["status"] != "running"]
        if len(finished) >= count:
            return finished
        assert time.time() < deadline, f"runs did not finish in {timeout} s: {statuses}"
        time.sleep(1)


def test_two_tabs_upload_train_and_evaluate_at_once_in_their_own_kernels(voila, browser, tmp_path, record):
    base, token, root = voila
    csv_file = tmp_path / "rides.csv"
    csv_file.write_text(CSV)
    started = time.time()
    outside = set()
    tabs = [open_tab(browser, base, token, outside) for _ in range(2)]
    record("workshop page: two tabs rendered, seconds", round(time.time() - started, 1))
    record("workshop page: requests to other hosts (refused, the page works without them)", sorted(outside))
    try:
        for page in tabs:
            assert page.locator(".jp-InputArea, .cm-editor, .jp-InputPrompt").count() == 0  # no code on the page
            for hidden in (".tw-field-path", ".tw-data-path"):  # free path fields: not offered
                assert page.locator(f"{PAGE} {hidden}:visible").count() == 0
            options = page.locator(f"{PAGE} .tw-data-source select option").all_text_contents()
            assert data_panel.FROM_PATH not in options and model_panel.FROM_PATH not in \
                page.locator(f"{PAGE} .tw-model-source select option").all_text_contents()
            prepare(page, csv_file)
        for page in tabs:
            page.locator(f"{PAGE} .tw-training-panel .tw-train").click()
        statuses = until_completed(root, 2, timeout=300)
        for page in tabs:
            page.bring_to_front()  # a tab behind gets no animation frames: plotly would not redraw there
            expect(page.locator(f"{PAGE} .tw-training-panel .tw-train")).to_be_enabled(timeout=30000)
            page.locator(f"{PAGE} .tw-evaluation-panel .tw-evaluate").click()
            try:
                expect(page.locator(f"{PAGE} .tw-evaluation-panel")).to_contain_text("accuracy", timeout=120000)
            except AssertionError:
                raise AssertionError(f"no evaluation; the page says {page.locator('.tw-error').all_text_contents()}")
            expect(page.locator(f"{PAGE} .tw-evaluation-panel .tw-confusion .xtick text")).to_have_text(
                ["negative", "positive"], timeout=120000)
            expect(page.locator(f"{PAGE} .tw-error:visible")).to_have_count(0)
    finally:
        for page in tabs:
            page.close()
    folders = sorted(root.glob("kernel-*"))
    assert [status["status"] for status in statuses] == ["completed", "completed"]
    assert len({status["pid"] for status in statuses}) == 2  # a kernel per tab
    first, second = sorted((s["updated_at"] - s["duration"], s["updated_at"]) for s in statuses)
    assert second[0] < first[1], "the two fits did not overlap in time"
    assert all((folder / "rides.csv").read_text() == CSV for folder in folders if (folder / "tune_runs").exists())
