"""The layer map's signal column follows the fit; the tuning panel's freeze suggestion; the
evaluation panel's explanations of the worst examples."""

import tune_widgets as tw
from tests.conftest import small_cnn
from tests.families import LABELS, TEXTS, keras_hub_preset
from tests.core.test_session import SlowBatches
from tests.core.test_signals import dense_session
from tests.core.test_suggest import noisy_bottom_session
from tests.widgets.test_tuning_panels import settle
from tune_widgets.models.freezing import layer_table
from tune_widgets.widgets import EvaluationPanel, TuningPanel
from tune_widgets.widgets.layer_map import LayerMap, signals_payload


def test_the_map_sends_each_rows_signals_live_and_the_drift_once_the_fit_ends():
    session = dense_session()
    session.freeze("block1")
    layer_map = LayerMap(session)
    assert layer_map.signals == {} and layer_map.signal == "none"
    sent = []
    layer_map.observe(lambda change: sent.append(change["new"]), names=["signals"])
    session.fit(epochs=6, callbacks=[SlowBatches()])  # 42 batches of 50 ms: progress (every 0.5 s) sees samples
    names = layer_map.layers["names"]
    final = layer_map.signals
    assert len(final["update_ratio"]) == len(final["drift"]) == len(names)
    assert final["update_ratio"][names.index("block1_dense")] == 0.0  # frozen: exactly zero
    assert final["update_ratio"][names.index("block2_dense")] > 0 and final["drift"][names.index("head_dense")] > 0
    assert any(payload.get("drift") is None and payload.get("update_ratio") for payload in sent)  # during the fit
    assert signals_payload(layer_table(small_cnn()), session.runs) == {}  # the runs' signals are another model's


def test_suggest_from_the_panel_shows_on_the_map_and_apply_freezes_it():
    session = noisy_bottom_session()
    panel, layer_map = TuningPanel(session), LayerMap(session)
    assert panel.apply_suggestion.disabled and layer_map.suggested == []
    panel.suggest.click()
    settle(lambda: session.freeze_suggestion is not None and not panel.futures)
    suggestion = session.freeze_suggestion
    assert "block2" in panel.suggestion.value and not panel.apply_suggestion.disabled
    assert [name for name, on in zip(layer_map.layers["names"], layer_map.suggested) if on] == list(suggestion.frozen)
    assert not any(layer_map.frozen)  # shown, not applied
    panel.dismiss.click()
    assert session.freeze_suggestion is None and layer_map.suggested == [] and panel.apply_suggestion.disabled
    session.freeze_suggestion = suggestion  # a cell's suggestion: the panel follows
    panel.apply_suggestion.click()
    assert set(session.plan.frozen) == set(suggestion.frozen) and layer_map.suggested == []


def test_the_worst_examples_show_what_decided_them(cnn_session, tmp_path):
    panel = EvaluationPanel(cnn_session)
    cnn_session.evaluate()
    assert "why (what decided it)" in panel.worst.value
    assert panel.worst.value.count("tw-heatmap") == len(cnn_session.evaluation.worst)

    keras_hub_preset("bert", tmp_path / "bert")
    text = tw.Session(runs_dir=None).load_model(tmp_path / "bert", sequence_length=16)
    text.set_data(TEXTS * 3, LABELS * 3)
    panel = EvaluationPanel(text)
    text.evaluate()
    assert panel.worst.value.count('class="tw-tokens"') == len(text.evaluation.worst)
    assert '<span class="tw-token" title="' in panel.worst.value
