"""Panels say only what is true now: an error goes once its action succeeds or its state
changes, and a refused value snaps back to the session's. A rate change during a fit is
refused with the reason (the fit's optimizer was built when it started)."""

import time

import pytest

import tune_widgets as tw
from tests.core.test_session import SlowBatches
from tune_widgets.widgets import LayerMap, OptimizerPanel, TrainingPanel

pytestmark = pytest.mark.reliability


def wait_for_progress(session):
    deadline = time.monotonic() + 60
    while not session.progress and time.monotonic() < deadline:
        time.sleep(0.01)


def test_messages_about_a_running_fit_go_when_it_ends(cnn_session):
    training, optimizer, layer_map = TrainingPanel(cnn_session), OptimizerPanel(cnn_session), LayerMap(cnn_session)
    rate = cnn_session.optimizer.learning_rate
    future = cnn_session.fit(epochs=30, batch_size=8, callbacks=[SlowBatches()], background=True)
    try:
        wait_for_progress(cnn_session)
        training.train.click()
        assert "A fit is running" in training.error_text
        with pytest.raises(tw.StateError, match="a change now would only apply to the next run"):
            cnn_session.set_optimizer(learning_rate=0.05)
        optimizer.lr_text.value = "0.05"
        assert "only apply to the next run" in optimizer.error_text
        assert optimizer.lr_text.value == f"{rate:g}" and optimizer.lr_slider.value == pytest.approx(rate)
        assert cnn_session.optimizer.learning_rate == rate
        layer_map.frozen = [True] * len(layer_map.frozen)
        assert "A fit is running" in layer_map.error
    finally:
        cnn_session.stop()
        future.result(60)
    assert training.error_text == optimizer.error_text == layer_map.error == ""
    optimizer.lr_text.value = "0.05"  # now it applies
    assert cnn_session.optimizer.learning_rate == 0.05 and optimizer.error_text == ""


def test_a_refused_value_snaps_back_and_the_message_goes_when_the_state_changes(cnn_session):
    optimizer = OptimizerPanel(cnn_session)
    optimizer.lr_text.value = "-1"
    assert "positive number" in optimizer.error_text and optimizer.lr_text.value == "0.001"
    optimizer.weight_decay.value = "lots"
    assert "not a number" in optimizer.error_text and optimizer.weight_decay.value == "0"
    cnn_session.set_optimizer(learning_rate=3e-4)  # a cell changes the spec: the message is stale
    assert optimizer.error_text == "" and optimizer.lr_text.value == "0.0003"
