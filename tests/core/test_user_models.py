"""A user's model that wraps a whole network as one layer: opened up, and fed as it expects."""

import warnings

import keras
import numpy as np
import pytest

import tune_widgets as tw


def wrapped_mobilenet(rescale_first=False):
    """The transfer-learning tutorial's model: MobileNetV2 called as one layer, then a head."""
    base = keras.applications.MobileNetV2(input_shape=(32, 32, 3), alpha=0.35, include_top=False, weights=None)
    inputs = keras.Input((32, 32, 3), name="pixels")
    x = keras.layers.Rescaling(1 / 127.5, offset=-1, name="to_unit")(inputs) if rescale_first else inputs
    x = base(x, training=False)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="classes")(x))


@pytest.fixture(scope="module")
def wrapped():
    return wrapped_mobilenet()


def test_a_nested_network_opens_into_its_blocks_with_the_same_outputs(wrapped):
    model = wrapped
    session = tw.Session().load_model(model)
    names = [row.name for row in session.layers]
    assert len(model.layers) == 4 and len(names) > 100
    assert {"block_1", "block_16"} <= {row.block for row in session.layers}
    assert names[-2:] == ["pool", "classes"]
    x = np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    np.testing.assert_array_equal(session.model.predict(x, verbose=0), model.predict(x, verbose=0))
    assert session.backbone.preprocessing == "keras.applications.mobilenet_v2"
    session.freeze_to("block_16")  # a block inside the network is now a freeze point
    assert session.model.get_layer("block_15_project").trainable is False


def test_a_network_behind_the_models_own_scaling_gets_no_second_one():
    session = tw.Session().load_model(wrapped_mobilenet(rescale_first=True))
    assert "to_unit" in [row.name for row in session.layers] and session.backbone.preprocessing is None


def test_declared_preprocessing_wins_and_a_wrong_one_changes_nothing(wrapped, digits, tmp_path):
    session = tw.Session().load_model(wrapped, preprocessing="resnet")
    assert session.backbone.preprocessing == "keras.applications.resnet"
    with pytest.raises(tw.ConfigError, match="Unknown preprocessing 'mobilenet_v9'.*mobilenet_v2"):
        session.load_model(wrapped, preprocessing="mobilenet_v9")
    assert session.backbone.preprocessing == "keras.applications.resnet"
    session.load_model(wrapped, preprocessing=None)
    assert session.backbone.preprocessing is None
    session.load_model(wrapped)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tw.TuneWidgetsWarning)  # 3 outputs for 10 digits, until set_head
        session.set_data(digits)
    session.set_head()
    path = session.save(tmp_path / "digits.keras")  # flat now: the recognised scaling lives in the sidecar
    assert tw.Session().load_model(path).backbone.preprocessing == "keras.applications.mobilenet_v2"


def test_nested_models_that_share_layer_names_stay_whole_with_a_warning():
    inputs = keras.Input((4,), name="numbers")
    first = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4, name="same")], name="first")
    second = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="same")], name="second")
    model = keras.Model(inputs, second(first(inputs)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        session = tw.Session().load_model(model)
    assert any("cannot be opened into one layer list" in str(w.message) for w in caught)
    assert [row.name for row in session.layers] == ["numbers", "first", "second"]
