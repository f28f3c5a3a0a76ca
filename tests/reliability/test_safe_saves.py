"""Saves are atomic: a failure at any point leaves no file and no half-made pair, and OS errors
come back as SaveError naming the path and the cause."""

import contextlib
import errno
import os
import shutil
import tempfile
from pathlib import Path

import pytest

import tune_widgets as tw
from tune_widgets.saving import model_files as saving
from tune_widgets.training import Callback
from tests.reliability.session_state import assert_unchanged, observable_state

pytestmark = pytest.mark.reliability


@contextlib.contextmanager
def read_only(folder):
    """`folder` made read-only for this process. Root ignores directory permissions, so as
    root the process also drops its effective user to `nobody` meanwhile (and takes root back)."""
    folder.chmod(0o555)
    as_root = os.geteuid() == 0
    try:
        if as_root:
            os.seteuid(65534)
        yield
    finally:
        if as_root:
            os.seteuid(0)
        folder.chmod(0o755)


@pytest.fixture
def open_folder():
    """A folder every user may enter (pytest's tmp_path is root's alone, closed to `nobody`)."""
    folder = Path(tempfile.mkdtemp(prefix="tune-widgets-save-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder)


def test_a_save_into_a_read_only_folder_says_why_and_leaves_no_files(cnn_session, open_folder):
    folder = open_folder / "locked"
    folder.mkdir()
    before = observable_state(cnn_session)
    with read_only(folder), pytest.raises(tw.SaveError) as raised:
        cnn_session.save(folder / "model.keras")
    message = str(raised.value)
    assert str(folder / "model.keras") in message and "Permission denied" in message
    assert isinstance(raised.value, OSError) and raised.value.__cause__.errno == errno.EACCES
    assert list(folder.iterdir()) == []
    assert_unchanged(before, cnn_session)


def test_a_sidecar_that_cannot_be_written_leaves_no_model_behind(cnn_session, tmp_path, monkeypatch):
    def disk_full(path, text):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(saving, "_write", disk_full)
    with pytest.raises(tw.SaveError, match=r"Could not save .*model\.keras: No space left on device"):
        cnn_session.save(tmp_path / "model.keras")
    assert list(tmp_path.iterdir()) == []


def test_a_failed_rename_puts_the_previous_save_back(cnn_session, tmp_path, monkeypatch):
    target = tmp_path / "model.keras"
    cnn_session.save(target)
    old_model, old_sidecar = target.read_bytes(), saving.sidecar_path(target).read_text()
    cnn_session.freeze("conv1")  # the new save's sidecar differs (its plan)
    real_replace = os.replace

    def model_rename_fails(source, destination):
        if str(destination).endswith(".keras"):
            raise OSError(errno.EIO, os.strerror(errno.EIO), str(destination))
        return real_replace(source, destination)

    monkeypatch.setattr(saving.os, "replace", model_rename_fails)
    with pytest.raises(tw.SaveError, match="Input/output error"):
        cnn_session.save(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.keras", "model.tune.json"]
    assert target.read_bytes() == old_model and saving.sidecar_path(target).read_text() == old_sidecar


def test_a_good_save_leaves_exactly_the_pair_and_loads_back(cnn_session, tmp_path):
    path = cnn_session.save(tmp_path / "model.keras")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.keras", "model.tune.json"]
    again = tw.Session().load_model(path)
    assert [layer.name for layer in again.backbone.model.layers] == [layer.name for layer in cnn_session.model.layers]


class LockTheRun(Callback):
    """Makes the run's folder read-only as its first epoch begins (its config is written)."""

    def __init__(self, session, locks):
        super().__init__()
        self.session, self.locks = session, locks

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 0:
            self.locks.enter_context(read_only(self.session.run_store.folders[self.trainer.run.run_id]))


def test_a_run_folder_that_becomes_read_only_mid_run_fails_with_the_stores_error(open_folder, digits):
    from tests.conftest import small_cnn

    session = tw.Session(runs_dir=open_folder / "runs").load_model(small_cnn())
    session.set_data(digits)
    with contextlib.ExitStack() as locks, pytest.warns(tw.TuneWidgetsWarning, match="Could not write the final status"):
        with pytest.raises(tw.RunError) as raised:
            session.fit(epochs=2, callbacks=[LockTheRun(session, locks)])
    folder = session.run_store.folders[session.runs[-1].run_id]
    assert str(raised.value) == (f"Cannot write the run to {folder}: [Errno 13] Permission denied: "
                                 f"'{folder / 'metrics.jsonl'}'. Choose a writable folder with Session(runs_dir=...), "
                                 f"or runs_dir=None to keep runs in memory only.")
    run = session.runs[-1]
    assert run.status == "failed" and run.error == f"RunError: {raised.value}" and not session.training
    assert session.fit(epochs=1).status == "completed"  # once the folder is writable again
