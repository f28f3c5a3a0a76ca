import keras
import numpy as np
import pytest

import tune_widgets as tw
from tune_widgets.models.freezing import block_names, layer_table, select
from tests.conftest import weights_of


def names(session):
    return [row.name for row in session.layers if row.frozen]


def test_selectors_pick_by_index_range_name_block_glob_regex_and_list(cnn_session):
    table = cnn_session.layers
    all_names = [row.name for row in table]
    assert select(table, 1) == [1]
    assert select(table, -1) == [len(table) - 1]
    assert select(table, range(1, 3)) == [1, 2]
    assert select(table, slice(None, 2)) == [0, 1]
    assert [all_names[i] for i in select(table, "conv2_bn")] == ["conv2_bn"]
    assert [all_names[i] for i in select(table, "conv1")] == ["conv1_conv", "conv1_bn", "conv1_relu"]
    assert [all_names[i] for i in select(table, "*_bn")] == ["conv1_bn", "conv2_bn"]
    assert [all_names[i] for i in select(table, "re:^conv\\d_relu$")] == ["conv1_relu", "conv2_relu"]
    assert select(table, ["conv2_bn", 0, "conv2_bn"]) == [0, all_names.index("conv2_bn")]


@pytest.mark.parametrize(
    "selector, words",
    [("conv1_bm", "Did you mean: conv1_bn"), ("nothing_like_it", "glob"), (99, "out of range"),
     ("re:(", "not a valid regular expression"), ([], "empty list"), (3.5, "not float")],
)
def test_selection_errors_say_what_to_change_and_keep_the_plan(cnn_session, selector, words):
    before = cnn_session.plan
    with pytest.raises(tw.LayerSelectionError, match=words.split(":")[0]) as error:
        cnn_session.freeze(selector)
    assert words.replace("not float", "float") in str(error.value)
    assert cnn_session.plan == before


def test_freeze_to_int_is_a_slice_and_name_is_inclusive(cnn_session):
    cnn_session.freeze_to(3)
    assert names(cnn_session) == [row.name for row in cnn_session.layers[:3]]
    cnn_session.freeze_to("conv2")  # a block: up to its last layer ("pool" joins the block before it)
    frozen = names(cnn_session)
    assert frozen[-1] == "pool" and "head_dense" not in frozen
    cnn_session.freeze_to("conv2_bn")  # a layer: inclusive
    assert names(cnn_session)[-1] == "conv2_bn" and "conv2_relu" not in names(cnn_session)
    cnn_session.unfreeze("conv1_bn")
    assert "conv1_bn" not in names(cnn_session)
    cnn_session.freeze()
    assert len(names(cnn_session)) == len(cnn_session.layers)
    cnn_session.unfreeze()
    assert names(cnn_session) == []


def test_plan_is_applied_to_keras_flags_and_counts(cnn_session):
    cnn_session.freeze("conv1")
    model = cnn_session.model
    assert not model.get_layer("conv1_bn").trainable and model.get_layer("conv2_bn").trainable
    counts = cnn_session.parameter_counts
    bn = next(row for row in cnn_session.layers if row.name == "conv1_bn")
    assert bn.params == 16 and bn.fixed_params == 16  # gamma/beta train, moving stats never
    assert counts["trainable"] == sum(w.numpy().size for w in model.trainable_weights)
    assert counts["total"] == sum(w.numpy().size for w in model.weights)


def test_frozen_weights_are_bit_identical_after_training_and_unfrozen_ones_changed(cnn_session):
    cnn_session.freeze("conv1")
    model = cnn_session.model
    frozen_before = {n: weights_of(model.get_layer(n)) for n in ("conv1_conv", "conv1_bn")}
    trained_before = weights_of(model.get_layer("conv2_conv"))
    cnn_session.set_optimizer(learning_rate=0.01)
    cnn_session.fit(epochs=1)
    for name, before in frozen_before.items():
        for old, new in zip(before, weights_of(model.get_layer(name))):
            assert np.array_equal(old, new), name  # BatchNorm moving statistics included
    assert not all(np.array_equal(a, b) for a, b in zip(trained_before, weights_of(model.get_layer("conv2_conv"))))
    # the unfrozen BatchNorm did update its moving statistics: the check above can fail
    assert not np.array_equal(model.get_layer("conv2_bn").moving_mean.numpy(), np.zeros(16))


def test_frozen_dropout_runs_in_inference_mode(cnn_session):
    model = cnn_session.model
    x = cnn_session.encoded["train"][:8]
    features = keras.Model(model.inputs, model.get_layer("pool").output)
    cnn_session.unfreeze()
    wrapped = tw.FineTuneModel(model.inputs, model.get_layer("pool").output)
    a, b = wrapped(x, training=True), wrapped(x, training=True)
    assert not np.allclose(a, b)  # trainable dropout is active: the test can fail
    cnn_session.freeze_to("conv2_dropout")
    a, b = wrapped(x, training=True), wrapped(x, training=True)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(a, features(x, training=False), rtol=1e-6)


def test_changing_the_plan_between_fits_is_always_compiled_in(cnn_session):
    cnn_session.fit(epochs=1)
    cnn_session.freeze("conv2_conv")
    before = weights_of(cnn_session.model.get_layer("conv2_conv"))
    cnn_session.fit(epochs=1)  # plain Keras would still train conv2_conv without a recompile
    for old, new in zip(before, weights_of(cnn_session.model.get_layer("conv2_conv"))):
        assert np.array_equal(old, new)


def test_block_names_follow_keras_application_stages():
    resnet = keras.applications.ResNet50(weights=None, include_top=False, input_shape=(64, 64, 3))
    blocks = dict(zip([l.name for l in resnet.layers], block_names([l.name for l in resnet.layers])))
    assert blocks["conv1_conv"] == "conv1" and blocks["pool1_pool"] == "conv1"
    assert blocks["conv4_block3_2_conv"] == "conv4"
    efficient = keras.applications.EfficientNetB0(weights=None, include_top=False, input_shape=(64, 64, 3))
    table = layer_table(efficient)
    by_name = {row.name: row.block for row in table}
    assert by_name["stem_conv"] == "stem" and by_name["block2a_expand_conv"] == "block2"
    assert by_name["top_conv"] == "top"
    assert table[0].block == "inputs"


def test_plan_is_plain_immutable_data():
    plan = tw.FreezePlan(["a"])
    assert plan.with_frozen(["b"]) == tw.FreezePlan({"a", "b"}) and plan == tw.FreezePlan({"a"})
    assert plan.with_frozen(["a"], frozen=False) == tw.FreezePlan()
