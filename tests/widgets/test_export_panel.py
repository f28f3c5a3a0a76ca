"""The Export panel: a thin view over export_model (format, folder, button, progress, result)."""

import io
import zipfile

from tune_widgets.widgets import ExportPanel, dashboard


def test_export_button_shows_the_size_and_the_runtime_check(cnn_session, tmp_path):
    panel = ExportPanel(cnn_session)
    steps = []
    panel.progress.observe(lambda change: steps.append(change["new"]), names="value")
    panel.format.value, panel.path.value = ("onnx", None), str(tmp_path / "deployed")
    panel.button.click()
    assert panel.error_text == ""
    assert (tmp_path / "deployed" / "model.onnx").exists()
    assert "MB" in panel.result.value and "passed: max difference" in panel.result.value
    assert steps[-1] == 1.0 and len(steps) >= 4 and panel.progress.layout.display == "none"


def test_a_refused_export_shows_its_message_and_writes_nothing(cnn_session, tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    panel = ExportPanel(cnn_session)
    panel.path.value = str(tmp_path / "mine")
    panel.button.click()
    assert "holds something other than an export" in panel.error_text
    assert sorted(p.name for p in (tmp_path / "mine").iterdir()) == ["notes.txt"]


def test_in_a_sandbox_the_path_is_hidden_and_the_download_is_the_export(cnn_session, tmp_path):
    panel = ExportPanel(cnn_session, folder=tmp_path)
    assert panel.path.layout.display is None and panel.children[2].layout.display == "none"
    panel.format.value = ("keras", None)
    panel.button.click()
    assert panel.download.filename == "export-keras.zip"
    sent = []
    panel.download.send = lambda content, buffers: sent.append((content, buffers))
    panel.download._answer(panel.download, {"ask": True}, [])
    names = zipfile.ZipFile(io.BytesIO(b"".join(b for _, bs in sent for b in bs))).namelist()
    assert "model.keras" in names and "labels.txt" in names and sent[-1][0]["last"]


def test_the_dashboard_holds_it_and_its_button_follows_training(cnn_session):
    panel = dashboard(cnn_session).export_panel
    cnn_session.training = True
    assert panel.button.disabled
    cnn_session.training = False
    assert not panel.button.disabled
