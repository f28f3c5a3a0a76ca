"""An interrupt or an error anywhere in a fit ends the run with its status and error; the
session is idle, every view shows the final state, and the next fit works."""

import threading

import numpy as np
import pytest

import tune_widgets as tw
from tune_widgets.models.snapshot import WeightSnapshot
from tune_widgets.training import Callback
from tune_widgets.widgets import LayerMap, TrainingPanel

pytestmark = pytest.mark.reliability


class InterruptAt(Callback):
    """Raises `error` from a user callback at batch `batch` of epoch `epoch` (mid-epoch)."""

    def __init__(self, error, epoch=1, batch=2):
        super().__init__()
        self.error, self.at, self.epoch = error, (epoch, batch), 0
        self.started = threading.Event()

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        self.started.set()
        if (self.epoch, batch) == self.at:
            raise self.error


def assert_views_show_the_end(session, panel, layer_map, status):
    assert not session.training and session.progress["status"] == status
    assert status in panel.status.value and "ETA" not in panel.status.value
    assert not panel.train.disabled and panel.stop.disabled
    assert not layer_map.busy


def test_an_interrupt_mid_epoch_ends_the_run_and_the_next_fit_trains(cnn_session):
    panel, layer_map = TrainingPanel(cnn_session), LayerMap(cnn_session)
    with pytest.raises(KeyboardInterrupt):
        cnn_session.fit(epochs=3, batch_size=16, callbacks=[InterruptAt(KeyboardInterrupt())])
    run = cnn_session.runs[-1]
    assert run.status == "stopped" and run.error == "KeyboardInterrupt"
    assert len(run.epochs) == 1 and len(run.batches) == 10 + 3  # epoch 1 whole, then batches 0–2 of epoch 2
    assert_views_show_the_end(cnn_session, panel, layer_map, "stopped")

    before = WeightSnapshot.of(cnn_session.model, trainable_only=True)
    good = cnn_session.fit(epochs=1, batch_size=16)
    assert good.status == "completed" and len(good.batches) == good.total_steps
    assert not before.equals(cnn_session.model)  # it trained
    assert "completed" in panel.status.value and panel.error_text == ""


def test_an_interrupt_before_training_starts_still_ends_the_run(cnn_session, monkeypatch):
    panel, layer_map = TrainingPanel(cnn_session), LayerMap(cnn_session)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cnn_session, "compile", interrupted)
    with pytest.raises(KeyboardInterrupt):
        cnn_session.fit(epochs=1)
    assert cnn_session.runs[-1].status == "stopped"
    assert_views_show_the_end(cnn_session, panel, layer_map, "stopped")
    monkeypatch.undo()
    assert cnn_session.fit(epochs=1).status == "completed"


def test_an_error_in_a_background_user_callback_fails_the_run_and_the_panel_says_so(cnn_session):
    panel, layer_map = TrainingPanel(cnn_session), LayerMap(cnn_session)
    future = cnn_session.fit(epochs=2, batch_size=16, background=True,
                             callbacks=[InterruptAt(ZeroDivisionError("user code"), epoch=0, batch=3)])
    with pytest.raises(tw.FitError, match="while training: ZeroDivisionError: user code"):
        future.result(60)
    assert cnn_session.runs[-1].status == "failed"
    assert_views_show_the_end(cnn_session, panel, layer_map, "failed")
    assert panel.error_text == "Training failed: ZeroDivisionError: user code"
    panel.epochs.value = 1
    panel.train.click()  # the next fit, from the panel, works and clears the old message
    assert panel.error_text == ""
    assert panel.future.result(60).status == "completed"


def test_a_view_that_fails_on_the_final_progress_still_leaves_the_session_idle(cnn_session):
    def broken_view(change):
        if change["new"].get("status") == "completed":
            raise RuntimeError("a broken observer")

    cnn_session.observe(broken_view, names=["progress"])
    with pytest.raises(RuntimeError, match="a broken observer"):
        cnn_session.fit(epochs=1, batch_size=64)
    assert not cnn_session.training and cnn_session.runs[-1].status == "completed"
    cnn_session.unobserve(broken_view, names=["progress"])
    assert cnn_session.fit(epochs=1, batch_size=64).status == "completed"
    assert np.isfinite(cnn_session.runs[-1].final["loss"])
