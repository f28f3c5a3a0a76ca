"""The tuning tools from the panels, driven as the browser would: widget values, clicks."""

import time

import pytest

from tune_widgets.tuning.lr_find import LRFinderResult
from tune_widgets.widgets import LayerMap, OptimizerPanel, TuningPanel
from tune_widgets.widgets.tuning_charts import lr_finder_chart

pytestmark = pytest.mark.tuning


def settle(condition, seconds=30):
    """Wait for an observer running in a worker thread to catch up."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_find_lr_click_draws_the_curve_and_use_sets_the_rate(cnn_session):
    panel = OptimizerPanel(cnn_session)
    assert panel.use.disabled and "click Find LR" in panel.finder.value  # the empty state says what to do
    panel.find.click()
    result = panel.future.result(60)
    settle(lambda: "<svg" in panel.finder.value)
    assert cnn_session.lr_finder is result and cnn_session.runs[-1].config["purpose"] == "lr_find"
    assert "tw-lr-suggestion" in panel.finder.value and f"{result.suggestion:.2g}" in panel.finder.value
    assert not panel.use.disabled
    panel.use.click()
    assert cnn_session.optimizer.learning_rate == result.suggestion and panel.lr_text.value == f"{result.suggestion:g}"

    made_up = LRFinderResult((1e-4, 1e-3, 1e-2), (2.0, 1.0, 3.0), (2.0, 1.5, 2.0), None, "stopped")
    cnn_session.lr_finder = made_up  # a cell's result: the panel follows
    assert panel.use.disabled and "no suggestion" in panel.finder.value
    assert "tw-lr-suggestion" not in lr_finder_chart(made_up)


def test_rate_spread_from_the_panel_reaches_the_session_and_the_map(cnn_session):
    panel, layer_map = OptimizerPanel(cnn_session), LayerMap(cnn_session)
    assert layer_map.rates == [1e-3] * len(layer_map.layers["block_names"])
    panel.spread.value = 0.01
    assert dict(cnn_session.optimizer.layer_rates) == pytest.approx({"conv1": 0.01, "conv2": 0.1, "head": 1.0})
    blocks = layer_map.layers["block_names"]
    assert dict(zip(blocks, layer_map.rates)) == pytest.approx(
        {"inputs": 1e-3, "stem": 1e-3, "conv1": 1e-5, "conv2": 1e-4, "head": 1e-3})
    panel.lr_text.value = "0.002"  # the rate changes, the spread stays
    assert dict(zip(blocks, layer_map.rates))["conv1"] == pytest.approx(2e-5)
    cnn_session.set_rates({"conv2": 0.5})  # a cell: the panel shows it cannot name this spread
    assert panel.spread.value == -1.0 and "set per block" in panel.spread.label
    cnn_session.set_rates(None)
    assert panel.spread.value == 1.0 and -1.0 not in [v for _, v in panel.spread.options]


def test_sweep_and_fine_tune_from_the_tuning_panel(cnn_session):
    panel, layer_map = TuningPanel(cnn_session), LayerMap(cnn_session)
    panel.points.value = "conv1_relu, conv_9"
    panel.sweep.click()
    assert "Sweep point 'conv_9'" in panel.error_text and cnn_session.runs == []
    assert panel.apply_best.disabled

    panel.points.value = "pool, conv1_relu"
    panel.sweep.click()
    assert panel.sweep.disabled and panel.fine_tune.disabled  # until the sweep ends
    result = panel.futures[0].result(120)
    settle(lambda: not panel.futures)
    assert panel.error_text == "" and [p.label for p in result.points] == ["frozen to pool", "frozen to conv1_relu"]
    assert panel.chart.value.count("<circle") == 2 and "tw-sweep-best" in panel.chart.value
    assert "trainable parameters" in panel.chart.value and "s per epoch" in panel.chart.value
    assert not panel.apply_best.disabled and result.best.label in panel.apply_best.description
    panel.apply_best.click()
    assert sorted(cnn_session.plan.frozen) == sorted(result.best.frozen)

    panel.frozen_epochs.value, panel.epochs.value, panel.unfreeze.value = 1, 1, "all"
    panel.fine_tune.click()
    runs = panel.futures[0].result(120)
    settle(lambda: not panel.futures and not panel.fine_tune.disabled)
    assert [run.config["phase"]["name"] for run in runs] == ["frozen: head only", "unfrozen: everything"]
    assert not any(layer_map.frozen)  # the map followed the last phase
