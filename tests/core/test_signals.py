"""Layer signals: what each layer's updates, gradients and drift say, on tiny Dense models."""

import json

import keras
import numpy as np
import pytest

import tune_widgets as tw
from tune_widgets.runs.store import RunStore
from tune_widgets.training.signals import LayerSignals


def dense_session(runs_dir=None):
    """Two Dense blocks and a head on 8 features whose sum decides the class."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 8)).astype("float32")
    labels = (x.sum(1) > 0).astype("int32")
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8,), name="features")
    hidden = keras.layers.Dense(16, activation="relu", name="block1_dense")(inputs)
    hidden = keras.layers.Dense(16, activation="relu", name="block2_dense")(hidden)
    model = keras.Model(inputs, keras.layers.Dense(2, name="predictions")(hidden))  # replaced by the session's head
    session = tw.Session(runs_dir=runs_dir).load_model(model, head=tw.HeadSpec(dropout=0.0))
    session.set_data(x, labels, batch_size=32)
    session.set_optimizer(learning_rate=1e-3)
    return session


def column(run, name, signal="update_ratio"):
    signals = run.layer_signals
    index = signals["layers"].index(name)
    return [sample[signal][index] for sample in signals["samples"]]


@pytest.mark.parametrize("cache", [True, False])
def test_a_frozen_layer_has_exactly_zero_signals(cache):
    session = dense_session()
    session.freeze("block1")
    run = session.fit(epochs=1, cache=cache, callbacks=[LayerSignals(every=1)])
    assert run.config["cache"]["used"] is cache
    assert len(run.layer_signals["samples"]) >= 2
    assert set(column(run, "block1_dense")) == {0.0}
    assert set(column(run, "block1_dense", "grad_norm")) == {0.0}
    assert run.layer_signals["drift"][run.layer_signals["layers"].index("block1_dense")] == 0.0
    assert min(column(run, "block2_dense")) > 0 and min(column(run, "block2_dense", "grad_norm")) > 0
    json.dumps(run.to_dict(), allow_nan=False)


def test_a_hundredfold_lower_rate_gives_a_hundredfold_smaller_update_ratio():
    session = dense_session()
    plain = session.fit(epochs=1, seed=0, callbacks=[LayerSignals(every=1)])
    session.reset()
    session.set_rates({"block1": 0.01})
    slowed = session.fit(epochs=1, seed=0, callbacks=[LayerSignals(every=1)])
    ratio = np.mean(column(plain, "block1_dense")) / np.mean(column(slowed, "block1_dense"))
    assert 70 < ratio < 140, ratio
    untouched = np.mean(column(plain, "block2_dense")) / np.mean(column(slowed, "block2_dense"))
    assert 0.7 < untouched < 1.4, untouched  # the other block trains at the same rate in both


def test_drift_is_zero_after_reset_and_the_signals_come_back_from_the_run_folder(tmp_path):
    session = dense_session(runs_dir=tmp_path)
    assert set(session.drift().values()) == {0.0}
    run = session.fit(epochs=2)
    drift = session.drift()
    assert min(drift[name] for name in ("block1_dense", "block2_dense", "head_dense")) > 0
    assert run.layer_signals["drift"] == [pytest.approx(drift.get(name, 0.0)) for name in run.layer_signals["layers"]]
    assert run.layer_signals["samples"][0]["step"] == 1  # the first step is always sampled
    session.reset()
    assert set(session.drift().values()) == {0.0}
    stored = RunStore(tmp_path).records()[-1]
    assert stored.layer_signals == json.loads(json.dumps(run.layer_signals))


def test_signals_every_must_be_a_whole_number():
    with pytest.raises(tw.TuneWidgetsError, match="whole number"):
        LayerSignals(every=0)


def tensorboard_tags(runs_dir):
    import tensorflow as tf

    return {value.tag for path in runs_dir.glob("*/tensorboard/train/events.*")
            for event in tf.compat.v1.train.summary_iterator(str(path)) for value in event.summary.value}


def test_signals_go_to_tensorboard_when_it_is_on(tmp_path):
    session = dense_session(runs_dir=tmp_path)
    session.tensorboard = True
    session.fit(epochs=1)
    tags = tensorboard_tags(tmp_path)
    assert {"signals/update_ratio/block1_dense", "signals/grad_norm/head_dense", "signals/drift/block2_dense"} <= tags


def test_sampling_changes_nothing_in_the_training(cnn_session):
    """Dropout and BatchNorm included: the probe gradient runs in inference mode."""
    dense = cnn_session.fit(epochs=1, seed=0, callbacks=[LayerSignals(every=1, cost_share=None)])
    cnn_session.reset()
    sparse = cnn_session.fit(epochs=1, seed=0, callbacks=[LayerSignals(every=1000)])
    steps = [sample["step"] for sample in dense.layer_signals["samples"]]
    assert steps == list(range(1, len(dense.batches) + 1)) and len(steps) > 1  # every=1: every step
    assert len(sparse.layer_signals["samples"]) == 1
    assert [row["loss"] for row in dense.batches] == [row["loss"] for row in sparse.batches]
    assert dense.final["val_loss"] == sparse.final["val_loss"]


def test_an_opened_blocks_sublayers_have_their_own_signals(tmp_path):
    """A block's query trained through LoRA moves; its key, frozen, is exactly zero; the block's
    own figure is its sublayers' taken together."""
    from tests.families import LABELS, TEXTS, keras_hub_preset

    keras_hub_preset("bert", tmp_path / "bert")
    session = tw.Session(runs_dir=tmp_path / "runs").load_model(tmp_path / "bert", sequence_length=16)
    session.set_data(TEXTS * 4, LABELS * 4, batch_size=8)
    session.set_frozen([row.name for row in session.layers if row.block != "head"])
    session.add_lora("transformer_layer_1/self_attention_layer/query", rank=2)
    session.tensorboard = True
    run = session.fit(epochs=2, callbacks=[LayerSignals(every=1)])
    signals = run.layer_signals
    paths, owners = signals["parts"]["paths"], signals["parts"]["owners"]
    query, key = (paths.index(f"transformer_layer_1/self_attention_layer/{name}") for name in ("query", "key"))
    assert signals["layers"][owners[query]] == "transformer_layer_1"
    assert "token_embedding" not in paths and "head_dense" not in paths  # plain layers are their own figure
    parts = [sample["parts"] for sample in signals["samples"]]
    assert min(p["update_ratio"][query] for p in parts) > 0 and min(p["grad_norm"][query] for p in parts) > 0
    assert {p["update_ratio"][key] for p in parts} == {0.0} and {p["grad_norm"][key] for p in parts} == {0.0}
    assert signals["parts"]["drift"][query] > 0 and signals["parts"]["drift"][key] == 0.0
    block = signals["layers"].index("transformer_layer_1")
    assert column(run, "transformer_layer_1") == pytest.approx([p["update_ratio"][query] for p in parts])
    assert signals["drift"][block] > 0 and signals["loaded_norm"][block] > 0
    assert {f"signals/{key}/transformer_layer_1/self_attention_layer/query" for key in ("update_ratio", "drift")} \
        <= tensorboard_tags(tmp_path / "runs")

    session.reset()
    session.set_frozen(())
    run = session.fit(epochs=1, callbacks=[LayerSignals(every=1)])
    signals, mine = run.layer_signals, [i for i, owner in enumerate(owners) if owner == block]
    for sample in signals["samples"]:  # a layer's ratio is its parts' in quadrature: between their least and most
        inside = [sample["parts"]["update_ratio"][i] for i in mine]
        assert min(inside) * 0.999 <= sample["update_ratio"][block] <= max(inside) * 1.001
    stored = RunStore(tmp_path / "runs").records()[-1]
    assert stored.layer_signals == json.loads(json.dumps(signals))
