"""Speed features that must not change results: cached evaluation, length-bucketed batches,
trimmed sequences, features spilled to disk, and the acceleration options' refusals."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import tune_widgets as tw
from tune_widgets.data import bucketing
from tune_widgets.training.cache import compute_features, plan_cache
from tune_widgets.models.head import input_names


@pytest.fixture
def partial_minilm(minilm):
    keras.utils.set_random_seed(0)
    session = tw.Session().load_model(minilm, sequence_length=24)
    session.set_data(tw.load_tweets(n=40, seed=1), validation=0.3, batch_size=8)
    session.freeze_to("transformer_layer_3")
    return session


def test_evaluation_reuses_the_cached_prefix_and_equals_an_uncached_one(partial_minilm, monkeypatch):
    session = partial_minilm
    session.fit(epochs=1, seed=0)
    seen = []
    infer = bucketing.infer
    monkeypatch.setattr(bucketing, "infer", lambda model, *a, **k: seen.append(model.name) or infer(model, *a, **k))
    cached = session.evaluate(k=len(session.validation_data))
    assert seen == [f"{session.model.name}_suffix"]  # the prefix did not run again
    session.feature_cache.clear()  # forget the features: the whole model runs
    uncached = session.evaluate(k=len(session.validation_data))
    assert seen[-1] == session.model.name
    assert cached.loss == pytest.approx(uncached.loss, abs=1e-5)
    np.testing.assert_array_equal(cached.confusion, uncached.confusion)
    by_index = {e.index: e.confidence for e in uncached.worst}
    for example in cached.worst:
        assert example.confidence == pytest.approx(by_index[example.index], abs=1e-5)


def test_a_weight_change_in_the_frozen_part_invalidates_the_cache(partial_minilm):
    session = partial_minilm
    session.fit(epochs=1)
    assert session.feature_cache.cached(session.model, session.plan, session.encoded) is not None
    layer = session.model.get_layer("transformer_layer_0")
    layer.weights[0].assign(layer.weights[0] * 1.01)  # e.g. a restore or a reset, in place
    assert session.feature_cache.cached(session.model, session.plan, session.encoded) is None


def test_bucketed_batches_cover_every_example_once_per_epoch():
    rng = np.random.default_rng(0)
    lengths = rng.integers(3, 64, size=203)
    mask = (np.arange(64)[None, :] < lengths[:, None]).astype("int32")
    inputs = [bucketing.Padded(np.arange(203 * 64).reshape(203, 64), lengths), bucketing.Padded(mask, lengths)]
    feed = bucketing.Batches(inputs, np.arange(203), batch_size=8, seed=3)
    orders = []
    for _ in range(3):
        seen = []
        for position in range(len(feed)):
            (ids, batch_mask), labels = feed[position]
            assert ids.shape == batch_mask.shape and ids.shape[1] % bucketing.STEP == 0
            assert ids.shape[1] == bucketing.rounded(batch_mask.sum(axis=1).max(), 64)  # trimmed to its longest row
            np.testing.assert_array_equal(ids[:, 0] // 64, labels)  # rows and labels stay together
            seen += labels.tolist()
        assert sorted(seen) == list(range(203))
        orders.append(seen)
        feed.next_epoch()
    assert orders[0] != orders[1] != orders[2]  # reshuffled every epoch
    again = bucketing.Batches(inputs, np.arange(203), batch_size=8, seed=3)
    assert [b.tolist() for b in again.batches] == [b.tolist() for b in bucketing.Batches(
        inputs, np.arange(203), batch_size=8, seed=3).batches]  # seeded
    (ids_spec, mask_spec), label_spec = feed.dataset().element_spec
    assert ids_spec.shape.as_list() == mask_spec.shape.as_list() == [None, None]  # one trace for every width
    padded_work = len(feed) * 8 * 64
    trimmed_work = sum(feed[i][0][0].shape[0] * feed[i][0][0].shape[1] for i in range(len(feed)))
    assert trimmed_work < 0.75 * padded_work  # similar lengths together: little padding left


def test_trimmed_batches_give_the_gradients_of_padded_ones(minilm):
    session = tw.Session().load_model(minilm, sequence_length=48, head=tw.HeadSpec(num_classes=3, dropout=0.0))
    tweets = tw.load_tweets(n=30, seed=2)
    shortest = np.argsort([len(t) for t in tweets.examples])[:8]  # a batch well inside the window
    x = session.backbone.tokenizer([tweets.examples[i] for i in shortest])
    y = tweets.labels[shortest]
    width = int(bucketing.rounded(x["padding_mask"].sum(axis=1).max(), 48))
    assert width < 48
    loss = keras.losses.SparseCategoricalCrossentropy()
    model = session.model

    def gradients(inputs):
        with tf.GradientTape() as tape:
            value = loss(y, model(inputs, training=False))
        return [tf.convert_to_tensor(g).numpy() for g in tape.gradient(value, model.trainable_weights)]

    names = input_names(model)
    padded = gradients([x[name] for name in names])
    trimmed = gradients([x[name][:, :width] for name in names])
    for full, cut, weight in zip(padded, trimmed, model.trainable_weights):
        if weight.path.startswith("position_embedding"):  # rows past the width get no gradient either way
            np.testing.assert_allclose(full[:width], cut[:width], rtol=1e-4, atol=1e-6)
            assert not np.any(full[width:])
        else:
            np.testing.assert_allclose(full, cut, rtol=1e-4, atol=1e-6)


def test_features_spill_to_disk_over_the_budget_and_train_the_same(cnn_session):
    cnn_session.freeze(["conv1", "conv2_dropout"])
    cnn_session.set_optimizer(optimizer="sgd", learning_rate=0.05, momentum=0.5)
    start = cnn_session.model.get_weights()
    in_memory = cnn_session.fit(epochs=2, seed=7)
    after_memory = cnn_session.model.get_weights()
    cnn_session.model.set_weights(start)
    cnn_session.feature_cache.clear()
    cnn_session.feature_cache.budget = 1  # one byte: everything spills
    spilled = cnn_session.fit(epochs=2, seed=7)
    assert "memory-mapped file" in spilled.config["cache"]["spilled"] and "spilled" not in in_memory.config["cache"]
    assert isinstance(cnn_session.feature_cache.features[0][0], np.memmap)
    for a, b in zip(after_memory, cnn_session.model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_spilled_hidden_states_equal_in_memory_ones(partial_minilm, tmp_path):
    from tune_widgets.training.cache import _memory_mapped

    plan, _ = plan_cache(partial_minilm.model)
    inputs = bucketing.as_inputs(partial_minilm._encoded["train"], input_names(plan.prefix))
    memory = compute_features(plan, inputs, batch_size=8)
    disk = compute_features(plan, inputs, batch_size=8, allocate=_memory_mapped(str(tmp_path)))
    assert isinstance(disk[0], bucketing.Ragged) and isinstance(disk[0].buffer, np.memmap)
    np.testing.assert_array_equal(memory[0].padded(), disk[0].padded())
    padded_bytes = len(inputs[0]) * 24 * 384 * 4
    assert memory[0].nbytes < padded_bytes  # stored trimmed


class HostCall(keras.layers.Layer):
    """A layer that runs Python on the host: XLA cannot compile it."""

    def call(self, x):
        y = tf.numpy_function(lambda a: a, [x], tf.float32)
        return tf.ensure_shape(y, x.shape)


def test_jit_compile_on_a_model_xla_cannot_compile_stops_cleanly(digits):
    inputs = keras.Input((8, 8, 1), name="pixels")
    x = HostCall(name="host_call")(keras.layers.Flatten(name="flat")(inputs))
    outputs = keras.layers.Dense(10, activation="softmax", name="predictions")(x)
    session = tw.Session().load_model(keras.Model(inputs, outputs)).set_data(digits)
    with pytest.raises(tw.FitError, match="jit_compile=False"):
        session.fit(epochs=1, jit_compile=True)
    assert session.runs[-1].status == "failed" and not session.training
    assert session.fit(epochs=1).status == "completed"


def test_mixed_precision_is_refused_where_it_would_crash(cnn_session, monkeypatch):
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    with pytest.raises(tw.ConfigError, match="bfloat16 matrix kernels"):
        cnn_session.fit(epochs=1, mixed_precision=True)
    assert cnn_session.runs == [] and not cnn_session.training
