"""LoRA adapters: what trains, what the cache keeps, what saving writes, and bad input."""

import keras
import numpy as np
import pytest

import tune_widgets as tw
from tune_widgets.models.snapshot import WeightSnapshot

pytestmark = pytest.mark.tuning

QUERY = "transformer_layer_4/self_attention_layer/query"
VALUE = "transformer_layer_4/self_attention_layer/value"


@pytest.fixture
def text_session(minilm):
    keras.utils.set_random_seed(0)
    session = tw.Session().load_model(minilm, sequence_length=16, head=tw.HeadSpec(dropout=0.0))
    return session.set_data(tw.load_tweets(n=40, seed=1), batch_size=16)


def adapter_size(rank):  # an EinsumDense query/value kernel is 384 x (12 heads x 32): A 384x12xr, B rx32
    return 384 * 12 * rank + rank * 32


def test_adapters_train_alone_inside_a_frozen_block_and_the_cache_stops_below_them(text_session):
    session = text_session
    session.freeze_to("transformer_layer_5")  # everything but the head
    head = session.parameter_counts["trainable"]
    session.add_lora("transformer_layer_4", rank=4, alpha=8)  # a block: its query and value

    assert session.lora.paths == (QUERY, VALUE) and {a.alpha for a in session.lora.adapters} == {8.0}
    counts = session.parameter_counts
    assert counts["adapters"] == 2 * adapter_size(4) and counts["trainable"] == head + counts["adapters"]
    model = session.model
    assert sorted(w.path for w in model.trainable_weights) == sorted(
        [f"{p}/lora_kernel_{ab}" for p in (QUERY, VALUE) for ab in "ab"] + ["head_dense/bias", "head_dense/kernel"])
    assert counts["trainable"] == sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    row = next(r for r in session.layers if r.name == "transformer_layer_4")
    assert row.frozen and row.adapter_params == counts["adapters"]

    x = {name: value[:8] for name, value in session.encoded["validation"].items()}
    # the frozen block runs in inference mode although its adapters train: no dropout anywhere
    np.testing.assert_array_equal(model(x, training=True), model(x, training=False))

    before = WeightSnapshot.of(model)
    session.set_optimizer(optimizer="sgd", learning_rate=0.5)
    run = session.fit(epochs=1)
    assert run.config["cache"]["used"] and run.config["cache"]["cut"][0] == "transformer_layer_3"
    assert [a["path"] for a in run.config["lora"]] == [QUERY, VALUE]
    changed = {path for path, value in before.values.items()
               if not np.array_equal(value, np.array(next(w for w in model.weights if w.path == path)))}
    assert changed == {f"{QUERY}/lora_kernel_b", f"{VALUE}/lora_kernel_b", "head_dense/kernel", "head_dense/bias"} | (
        {f"{QUERY}/lora_kernel_a", f"{VALUE}/lora_kernel_a"} & changed)  # A moves once B is non-zero
    assert f"{QUERY}/lora_kernel_b" in changed


def test_unfrozen_adapted_layers_train_their_bias_not_their_kernel_through_freeze_changes(cnn_session):
    session = cnn_session
    session.add_lora("head_dense", rank=2)
    assert session.lora.adapters[0].alpha == 2.0  # alpha=None: alpha = rank
    names = {w.path for w in session.model.trainable_weights}
    assert {"head_dense/bias", "head_dense/lora_kernel_a", "head_dense/lora_kernel_b"} <= names
    assert "head_dense/kernel" not in names
    session.freeze().unfreeze()  # Keras' trainable setter turns every weight on: the rule must hold
    assert {w.path for w in session.model.trainable_weights} == names
    session.freeze()
    assert {w.path for w in session.model.trainable_weights} == {"head_dense/lora_kernel_a", "head_dense/lora_kernel_b"}
    assert session.fit(epochs=1).status == "completed"  # every layer frozen, yet the adapters train


def test_remove_drops_adapters_or_merges_what_they_learned(cnn_session):
    session = cnn_session
    session.freeze_to("pool")  # only the head trains
    model = session.model
    x = session.encoded["validation"][:16]
    original, weights = model.predict(x, verbose=0), WeightSnapshot.of(model)
    paths = [w.path for w in model.weights]

    session.add_lora("head_dense", rank=2, alpha=4).freeze("head_dense")  # adapters alone train
    session.set_optimizer(learning_rate=0.05)
    session.fit(epochs=2)
    adapted = model.predict(x, verbose=0)
    assert np.abs(adapted - original).max() > 1e-3  # the adapters learned something
    session.remove_lora()
    assert not session.lora and [w.path for w in model.weights] == paths
    assert weights.equals(model)  # bit for bit: the adapted kernel never trained
    np.testing.assert_array_equal(model.predict(x, verbose=0), original)

    session.add_lora("head_dense", rank=2, alpha=4)
    as_added = WeightSnapshot.of(model)
    session.fit(epochs=2)
    session.reset()  # the pretrained weights, and the adapters as they were added
    assert as_added.equals(model)
    session.fit(epochs=2)
    adapted = model.predict(x, verbose=0)
    session.remove_lora("head_dense", merge=True)
    assert [w.path for w in model.weights] == paths and session.parameter_counts["adapters"] == 0
    np.testing.assert_allclose(model.predict(x, verbose=0), adapted, atol=1e-6)
    assert not weights.equals(model)


def test_saving_merges_adapters_into_a_plain_model_with_the_same_predictions(text_session, tmp_path):
    session = text_session
    session.freeze_to("transformer_layer_5")
    session.add_lora(["transformer_layer_5", "token_embedding", "head_dense"], rank=4, alpha=16)
    model = session.model
    rng = np.random.default_rng(0)
    for weight in model.weights:  # what training would do, larger: every adapter matters
        if "lora_" in weight.path and weight.path.endswith("_b"):
            weight.assign(rng.normal(0, 0.05, weight.shape).astype("float32"))
    x = session.encoded["validation"]
    before = np.asarray(model(x))
    path = session.save(tmp_path / "adapted.keras")

    reloaded = keras.saving.load_model(path)
    assert not any(getattr(layer, "lora_enabled", False) for layer in reloaded._flatten_layers())
    assert not any("lora" in w.path for w in reloaded.weights)
    assert len(reloaded.weights) == len(model.weights) - 2 * len(session.lora.adapters)  # A and B each
    np.testing.assert_allclose(np.asarray(reloaded(x)), before, atol=1e-6)
    session.remove_lora()  # without the adapters, the predictions differ: the check above can fail
    assert np.abs(np.asarray(model(x)) - before).max() > 1e-3

    session.add_lora("head_dense", rank=2)
    session.set_head(dropout=0.2)  # a new head keeps the backbone's layers, not the old head's adapter
    assert not session.lora


def refused(session, selector, words):
    layers, weights = session.layers, [w.path for w in session.model.weights]
    with pytest.raises(tw.LayerSelectionError, match=words):
        session.add_lora(selector)
    assert session.layers == layers and not session.lora and [w.path for w in session.model.weights] == weights


def test_lora_on_ineligible_layers_is_refused_and_changes_nothing(text_session):
    for selector, words in (("embeddings_layer_norm", "LayerNormalization"),
                            ("transformer_layer_0/self_attention_layer_norm", "is a LayerNormalization"),
                            ("transformer_layer_0/self_attention_layer/quarry", "Did you mean"),
                            ("transformer_layer_9", "No layer or block")):
        refused(text_session, selector, words)


def test_bad_lora_requests_change_nothing(cnn_session):
    refused(cnn_session, "conv1_conv", "Conv2D")
    refused(cnn_session, "conv1", "picks none")
    for rank, alpha, words in ((0, None, "rank"), (2.5, None, "rank"), (True, None, "rank"), (4, -1, "alpha"),
                               (4, float("nan"), "alpha")):
        with pytest.raises(tw.ConfigError, match=words):
            cnn_session.add_lora("head_dense", rank=rank, alpha=alpha)
        assert not cnn_session.lora
    cnn_session.add_lora("head_dense", rank=4)
    with pytest.raises(tw.ConfigError, match="remove_lora"):
        cnn_session.add_lora("head_dense", rank=8)
    assert cnn_session.lora.adapters[0].rank == 4


def test_adapters_in_a_frozen_block_learn_at_their_blocks_discriminative_rate():
    from tune_widgets.training.layer_rates import variable_factors

    inputs = keras.Input((6,), name="values")
    x = keras.layers.Dense(8, name="block1_dense")(inputs)
    x = keras.layers.Dense(8, name="block2_dense")(x)
    outputs = keras.layers.Dense(2, activation="softmax", name="predictions")(x)
    session = tw.Session().load_model(keras.Model(inputs, outputs), head=tw.HeadSpec(dropout=0.0))
    session.set_data(np.random.default_rng(0).normal(size=(20, 6)), [0, 1] * 10)
    session.freeze("block1").set_rates(lowest=0.01).add_lora("block1_dense", rank=2)
    factors = variable_factors(session.model, session.layers, session.optimizer.layer_rates)
    layer = session.model.get_layer("block1_dense")
    assert {factors.get(id(w)) for w in (layer.lora_kernel_a, layer.lora_kernel_b)} == {0.01}
    assert id(layer.bias) not in factors and id(layer._kernel) not in factors  # frozen, adapted: fixed
