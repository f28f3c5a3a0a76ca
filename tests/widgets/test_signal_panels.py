"""The layer map's signal column follows the fit; the tuning panel's freeze suggestion; the
evaluation panel's explanations of the worst examples."""

import keras
import numpy as np
import pytest

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


@keras.saving.register_keras_serializable(package="tests")
class Pair(keras.layers.Layer):
    """A block of two Dense sublayers: what a transformer layer is to the map, in miniature."""

    def __init__(self, units=16, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.inner = keras.layers.Dense(units, activation="relu", name="inner")
        self.outer = keras.layers.Dense(units, activation="relu", name="outer")

    def build(self, shape):
        with keras.name_scope(self.name, caller=self):
            self.inner.build(shape)
            self.outer.build((*shape[:-1], self.units))

    def call(self, x):
        return self.outer(self.inner(x))

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def pair_session():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 8)).astype("float32")
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8,), name="features")
    hidden = keras.layers.Dense(16, activation="relu", name="block1_dense")(inputs)
    hidden = Pair(name="pair")(hidden)
    model = keras.Model(inputs, keras.layers.Dense(2, name="predictions")(hidden))
    session = tw.Session(runs_dir=None).load_model(model, head=tw.HeadSpec(dropout=0.0))
    session.set_data(x, (x.sum(1) > 0).astype("int32"), batch_size=32)
    return session


def test_an_opened_block_shows_its_sublayers_figures_and_a_block_its_layers_together():
    session = pair_session()
    layer_map = LayerMap(session)
    targets = layer_map.layers["lora_targets"]
    pair = layer_map.layers["names"].index("pair")
    assert [path for owner, path in zip(targets["owners"], targets["paths"]) if owner == pair] == ["inner", "outer"]
    session.set_frozen(["block1_dense"])
    session.fit(epochs=2)
    sent, rows = layer_map.signals, session.layers
    assert sent["parts"]["paths"] == ["pair/inner", "pair/outer"]  # the paths the map's sublayer rows carry
    assert min(sent["parts"]["update_ratio"]) > 0 and min(sent["parts"]["drift"]) > 0
    assert sent["update_ratio"][layer_map.layers["names"].index("block1_dense")] == 0.0  # frozen: exactly zero
    blocks = layer_map.layers["block_names"]
    by_block = dict(zip(blocks, sent["blocks"]["update_ratio"]))
    assert rows[pair].block == "block1"  # with block1_dense: the block's figure counts what it trains
    assert by_block["block1"] == pytest.approx(sent["update_ratio"][pair])
    assert by_block["inputs"] is None  # no weights
    head = [row.index for row in rows if row.block == "head"]
    ratios, norms = ([session.runs[-1].layer_signals["samples"][-1][key][i] for i in head]
                     for key in ("update_ratio", "weight_norm"))
    together = np.sqrt(sum((r * n) ** 2 for r, n in zip(ratios, norms)) / sum(n * n for n in norms))
    assert by_block["head"] == pytest.approx(together) and dict(zip(blocks, sent["blocks"]["drift"]))["head"] > 0
    session.set_frozen(["block1_dense", "pair"])
    session.fit(epochs=1)
    assert dict(zip(blocks, layer_map.signals["blocks"]["update_ratio"]))["block1"] == 0.0  # all frozen: exactly zero
