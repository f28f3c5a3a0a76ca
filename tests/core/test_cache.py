import keras
import numpy as np
import pytest

import tune_widgets as tw
from tune_widgets.data import bucketing
from tune_widgets.training.cache import plan_cache
from tune_widgets.models.head import input_names


def test_cached_and_uncached_training_end_with_the_same_weights(cnn_session):
    cnn_session.freeze(["conv1", "conv2_dropout"])  # frozen dropout is off: training is deterministic
    # SGD, not Adam: Adam turns float-rounding-sized gradients into full-size steps
    cnn_session.set_optimizer(optimizer="sgd", learning_rate=0.05, momentum=0.5)
    start = cnn_session.model.get_weights()
    plain = cnn_session.fit(epochs=2, seed=7, cache=False)
    after_plain = cnn_session.model.get_weights()
    cnn_session.model.set_weights(start)
    cached = cnn_session.fit(epochs=2, seed=7)
    assert cached.config["cache"]["used"] and not plain.config["cache"]["used"]
    assert cached.config["cache"]["cut"] == ["conv1_relu"]
    for a, b in zip(after_plain, cnn_session.model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    assert not all(np.array_equal(a, b) for a, b in zip(start, after_plain))  # it did train
    assert cached.epochs[-1]["val_loss"] == pytest.approx(plain.epochs[-1]["val_loss"], rel=1e-4)


def test_the_cache_follows_the_plan_and_the_data(cnn_session, digits):
    cnn_session.freeze("conv1")
    first = cnn_session.fit(epochs=1).config["cache"]
    key = cnn_session.feature_cache.key
    cnn_session.fit(epochs=1)
    assert cnn_session.feature_cache.key == key  # reused
    cnn_session.freeze_to("conv2")
    second = cnn_session.fit(epochs=1).config["cache"]
    assert second["cut"] != first["cut"] and cnn_session.feature_cache.key != key
    key = cnn_session.feature_cache.key
    cnn_session.set_data(tw.load_digits(n=120, seed=5))
    cnn_session.fit(epochs=1)
    assert cnn_session.feature_cache.key != key


def test_where_caching_is_not_valid_the_run_says_why(digits):
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.RandomFlip(name="random_flip")(inputs)
    x = keras.layers.Conv2D(4, 3, name="conv")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = keras.layers.Dense(10, activation="softmax", name="out")(x)
    session = tw.Session().load_model(keras.Model(inputs, outputs)).set_data(digits)
    session.freeze(["random_flip", "conv"])
    run = session.fit(epochs=1)
    assert not run.config["cache"]["used"] and "augmentation" in run.config["cache"]["reason"]
    session.unfreeze()
    assert "nothing to cache" in session.fit(epochs=1).config["cache"]["reason"]
    session.freeze()
    assert plan_cache(session.model)[0] is None


def test_length_bucketed_prefix_matches_a_padded_predict(minilm):
    session = tw.Session().load_model(minilm, sequence_length=64)
    session.set_data(tw.load_tweets(n=48, seed=2), validation=0.25)
    session.freeze_to("transformer_layer_2")
    plan, reason = plan_cache(session.model)
    assert plan is not None, reason
    x = session.encoded["train"]
    inputs = bucketing.as_inputs(x, input_names(plan.prefix))
    bucketed = bucketing.infer(plan.prefix, inputs, batch_size=8)[0]
    stored = bucketing.infer(plan.prefix, inputs, batch_size=8, ragged=True)[0]
    padded = plan.prefix.predict(x, batch_size=8, verbose=0)
    real = x["padding_mask"].astype(bool)
    np.testing.assert_allclose(bucketed[real], padded[real], atol=2e-5)
    assert bucketed.shape == padded.shape
    np.testing.assert_array_equal(stored.padded()[real], bucketed[real])
    assert stored.nbytes < 0.75 * padded.nbytes  # trimmed rows: tweets are short


def test_stop_during_the_cache_pass_ends_the_fit_before_training(cnn_session):
    cnn_session.freeze("conv1")
    seen = []

    def stop_when_caching(change):
        seen.append(change["new"].get("status"))
        if change["new"].get("status") == "caching":
            cnn_session.stop()

    cnn_session.observe(stop_when_caching, names=["progress"])
    run = cnn_session.fit(epochs=5, batch_size=16, background=True).result(60)
    assert "caching" in seen and run.status == "stopped" and run.batches == []
    assert not cnn_session.training


def test_a_model_whose_input_has_no_name_trains_on_the_cache(digits):
    """keras.applications models name their input layer "input_layer" but its tensor
    "keras_tensor_N": the cache must key data by the layer's name (issue 8)."""
    inputs = keras.Input((8, 8, 1))  # no name, like every keras.applications model
    assert inputs.name != inputs._keras_history.operation.name
    x = keras.layers.Conv2D(4, 3, name="conv1_conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = keras.layers.Dense(10, activation="softmax", name="predictions")(x)
    session = tw.Session().load_model(keras.Model(inputs, outputs)).set_data(digits)
    session.freeze("conv1_conv")
    run = session.fit(epochs=1)
    assert run.status == "completed" and run.config["cache"]["used"]


def test_cutting_a_model_leaves_it_saveable(tmp_path):
    """The suffix takes a raw input as is (like the padding mask); building it must not
    re-point that input at a node the whole model does not own."""
    values = keras.Input((6,), name="values")
    mask = keras.Input((6,), name="mask")
    hidden = keras.layers.Dense(6, name="frozen_dense")(values)
    top = keras.layers.Dense(6, name="top_dense")(hidden)
    joined = keras.layers.Concatenate(name="join")([top, mask])
    outputs = keras.layers.Dense(2, activation="softmax", name="predictions")(joined)
    model = tw.FineTuneModel([values, mask], outputs)
    model.get_layer("frozen_dense").trainable = False
    plan, reason = plan_cache(model)
    assert plan is not None, reason
    assert plan.cut_names == ["frozen_dense", "mask"]
    model.save(tmp_path / "whole.keras")  # raised "could not find node key" before the fix
    x = {"values": np.ones((3, 6), "float32"), "mask": np.zeros((3, 6), "float32")}
    features = [plan.prefix.predict([x["values"], x["mask"]], verbose=0), x["mask"]]
    np.testing.assert_allclose(plan.suffix.predict(features, verbose=0), model.predict(x, verbose=0), atol=1e-6)
