"""Panels without a browser: set widget state as the front end would, check the session."""

import time

import numpy as np
import pytest

import tune_widgets as tw
from tune_widgets.widgets import Dashboard, EvaluationPanel, LayerMap, ModelPanel, OptimizerPanel, TrainingPanel, model_panel
from tune_widgets.widgets.layer_map import layers_payload
from tests.core.test_session import SlowBatches


def test_map_clicks_change_the_sessions_frozen_layers(cnn_session):
    layer_map = LayerMap(cnn_session)
    names = layer_map.layers["names"]
    assert names == [row.name for row in cnn_session.layers]
    clicked = list(layer_map.frozen)
    clicked[2] = True  # what the browser sends after a click on row 2
    layer_map.frozen = clicked
    assert cnn_session.plan.frozen == {names[2]}
    assert cnn_session.model.get_layer(names[2]).trainable is False


def test_session_changes_reach_the_open_map(cnn_session):
    layer_map = LayerMap(cnn_session)
    cnn_session.freeze_to("conv2")
    assert [n for n, f in zip(layer_map.layers["names"], layer_map.frozen) if f] == sorted(
        cnn_session.plan.frozen, key=layer_map.layers["names"].index)
    cnn_session.set_head(dropout=0.3)  # a new model: the layer list itself is resent
    assert layer_map.layers == layers_payload(cnn_session.layers, cnn_session.lora_targets)
    assert len(layer_map.frozen) == len(cnn_session.layers)


def test_a_refused_map_change_shows_a_message_and_snaps_back(cnn_session):
    layer_map = LayerMap(cnn_session)
    future = cnn_session.fit(epochs=20, batch_size=8, callbacks=[SlowBatches()], background=True)
    try:
        while not cnn_session.progress:
            time.sleep(0.01)
        assert layer_map.busy
        layer_map.frozen = [True] * len(layer_map.frozen)
        assert "A fit is running" in layer_map.error
        assert not any(layer_map.frozen) and cnn_session.plan.frozen == frozenset()
    finally:
        cnn_session.stop()
        future.result(30)
    assert not layer_map.busy


def test_layer_payload_is_compact():
    import keras

    session = tw.Session().load_model(keras.applications.EfficientNetB0(weights=None, include_top=False,
                                                                        input_shape=(64, 64, 3)))
    payload = layers_payload(session.layers)
    assert len(payload["type_names"]) < 20 < len(payload["names"])
    assert len(payload["block_names"]) == len(set(row.block for row in session.layers))


def test_train_click_runs_in_a_thread_and_the_chart_grows(cnn_session):
    panel = TrainingPanel(cnn_session, epochs=2, callbacks=[SlowBatches()])  # 40 batches of ≥ 50 ms
    panel.batch_size.value = 8
    panel.train.click()
    assert panel.future is not None and cnn_session.training  # returned at once: the kernel is free
    assert panel.train.disabled and not panel.stop.disabled
    sizes = []
    while not panel.future.done():
        sizes.append(len(panel.chart.data[0].x))
        time.sleep(0.05)
    run = panel.future.result()
    assert run.status == "completed"
    assert len(panel.chart.data[0].x) == len(run.batches) == run.total_steps
    assert len(set(sizes)) > 2  # drawn while training, not only at the end
    assert list(panel.chart.data[2].x) == [1, 2] and all(v is not None for v in panel.chart.data[2].y)
    assert panel.progress.value == panel.progress.max == run.total_steps
    assert "completed" in panel.status.value
    assert not panel.train.disabled and panel.stop.disabled
    # The next fit starts from an empty bar, not the last one's full bar and "completed" line.
    at_start = []
    cnn_session.observe(lambda change: change["new"] and at_start.append((panel.progress.value, panel.status.value)),
                        names="training")
    panel.epochs.value = 1
    panel.train.click()
    panel.future.result(60)
    assert at_start == [(0, "Starting: preparing the fit...")]


def test_stop_click_ends_the_fit_within_one_batch(cnn_session):
    panel = TrainingPanel(cnn_session, epochs=50)
    panel.batch_size.value = 8
    slow = SlowBatches()
    future = cnn_session.fit(epochs=50, batch_size=8, callbacks=[slow], background=True)
    assert slow.started.wait(30)
    panel.stop.click()
    seen = slow.batches
    run = future.result(30)
    assert run.status == "stopped" and slow.batches <= seen + 1


def test_invalid_input_shows_a_message_and_keeps_the_session(cnn_session):
    optimizer = OptimizerPanel(cnn_session)
    before = cnn_session.optimizer
    for text, words in (("-1", "positive number"), ("fast", "not a number")):
        optimizer.lr_text.value = text
        assert words in optimizer.error_text
        assert cnn_session.optimizer is before
    optimizer.lr_text.value = "0.02"
    assert optimizer.error_text == "" and cnn_session.optimizer.learning_rate == 0.02
    assert optimizer.lr_slider.value == pytest.approx(0.02)
    cnn_session.set_optimizer(learning_rate=1e-4, schedule="one_cycle")  # a cell: the panel follows
    assert optimizer.lr_text.value == "0.0001" and optimizer.schedule.value == "one_cycle"
    assert "one_cycle" in optimizer.preview.value

    training = TrainingPanel(cnn_session)
    training.batch_size.value = 0  # the session refuses it, and the field snaps back
    assert "batch_size must be a positive whole number" in training.error_text
    assert training.batch_size.value == cnn_session.batch_size == 32
    model = ModelPanel(cnn_session)
    model.source.value = model_panel.FROM_PATH
    model.path.value = "/nowhere/model.keras"
    model.load.click()
    assert "No model file at /nowhere/model.keras" in model.error_text
    model.source.value = "ResNet50"
    model.input_shape.value = "224 by 224"
    model.load.click()
    assert "Input shape" in model.error_text
    assert cnn_session.backbone.source == "in-memory model"  # nothing was replaced


def test_evaluation_panel_shows_confusion_matrix_with_class_names(cnn_session):
    panel = EvaluationPanel(cnn_session)
    cnn_session.fit(epochs=1)
    panel.run.click()
    heatmap = panel.figure.data[0]
    assert list(heatmap.x) == list(cnn_session.class_names)
    assert np.array(heatmap.z).sum() == len(cnn_session.validation_data)
    assert "precision" in panel.table.value and "<td>9</td>" in panel.table.value
    assert panel.worst.value.count('class="tw-thumb"') == 5  # and a Grad-CAM overlay each
    assert panel.worst.value.count('class="tw-thumb tw-heatmap"') == 5


def test_dashboard_holds_every_panel_and_builds_three_figures_when_first_drawn(cnn_session):
    board = Dashboard(cnn_session)
    import plotly.graph_objects as go

    def walk(widget):
        yield widget
        for child in getattr(widget, "children", ()):
            yield from walk(child)

    def figures():
        return [id(w) for w in walk(board) if isinstance(w, go.FigureWidget)]

    def draw():
        cnn_session.fit(epochs=1)
        cnn_session.evaluate()
        board.runs_panel.table.value = (cnn_session.runs[-1].run_id,)

    assert figures() == []  # nothing drawn yet: plotly's widget import costs seconds in a fresh kernel
    draw()
    first = figures()
    draw()
    assert len(first) == 3 and figures() == first  # training, confusion matrix, runs overlay: reused, ~5 MB each
    assert {type(p).__name__ for p in (board.model_panel, board.data_panel, board.layer_map, board.optimizer_panel,
                                       board.training_panel, board.tuning_panel, board.evaluation_panel,
                                       board.runs_panel)} == {
        "ModelPanel", "DataPanel", "LayerMap", "OptimizerPanel", "TrainingPanel", "TuningPanel", "EvaluationPanel",
        "RunsPanel"}


def test_long_runs_send_a_bounded_number_of_chart_points(cnn_session):
    from tune_widgets import RunRecord
    from tune_widgets.widgets.training_panel import MAX_POINTS

    panel = TrainingPanel(cnn_session)
    run = RunRecord(config={}, total_steps=5000)
    for step in range(1, 5001):
        run.batches.append({"step": step, "epoch": step // 5, "loss": 1.0 / step})
        if step % 5 == 0:
            run.epochs.append({"epoch": step // 5 - 1, "loss": 1.0 / step, "val_loss": 2.0 / step})
        if step % 700 == 0 or step == 5000:
            panel._draw(run)
    for trace, last in zip(panel.chart.data[:3], (5000, 1000, 1000)):
        x = list(trace.x)
        assert len(x) <= MAX_POINTS and x[-1] == last and x == sorted(x)


def test_model_panel_shows_a_head_that_does_not_fit_the_data_until_replaced(digits):
    import warnings

    from tests.conftest import small_cnn

    session = tw.Session().load_model(small_cnn(num_classes=4))
    panel = ModelPanel(session)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tw.TuneWidgetsWarning)
        session.set_data(digits)
    assert "predicts 4 classes but the data has 10" in panel.counts.value
    panel.classes.value = 0  # 0 = from the data
    panel.apply_head.click()
    assert panel.error_text == "" and "tw-head-mismatch" not in panel.counts.value


def test_training_panel_passes_the_acceleration_options_and_shows_their_refusal(cnn_session, monkeypatch):
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    panel = TrainingPanel(cnn_session, epochs=1)
    panel.mixed_precision.value = True
    panel.train.click()
    assert "bfloat16 matrix kernels" in panel.error_text and cnn_session.runs == []
    panel.mixed_precision.value = False
    panel.jit_compile.value = True
    panel.train.click()
    run = panel.future.result(60)
    assert run.config["jit_compile"] is True and run.status == "completed"
