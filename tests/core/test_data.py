import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from PIL import Image

import tune_widgets as tw


def test_texts_with_string_labels_keep_class_names():
    data = tw.labelled(["good", "bad", "fine", "awful"], ["pos", "neg", "pos", "neg"])
    assert data.kind == "text" and data.class_names == ("neg", "pos")
    assert data.labels.tolist() == [1, 0, 1, 0]


def test_dataframe_columns_found_or_named():
    frame = pd.DataFrame({"tweet": ["a", "b", "c"], "sentiment": ["x", "y", "x"]})
    data = tw.labelled(frame)
    assert data.examples == ["a", "b", "c"] and data.class_names == ("x", "y")
    with pytest.raises(tw.DataError, match=r"no text column 'body'.*columns are \['tweet', 'sentiment'\]"):
        tw.labelled(frame, text_column="body")
    with pytest.raises(tw.DataError, match="label_column"):
        tw.labelled(pd.DataFrame({"text": ["a", "b"]}))


def test_tf_dataset_batched_or_not():
    x = np.arange(24, dtype="float32").reshape(6, 2, 2)
    y = np.array([0, 1, 0, 1, 0, 1])
    plain = tw.labelled(tf.data.Dataset.from_tensor_slices((x, y)))
    batched = tw.labelled(tf.data.Dataset.from_tensor_slices((x, y)).batch(4))
    assert plain.kind == batched.kind == "image" and len(plain) == len(batched) == 6
    np.testing.assert_array_equal(plain.examples, batched.examples)
    texts = tw.labelled(tf.data.Dataset.from_tensor_slices((["a", "b"], ["p", "q"])))
    assert texts.examples == ["a", "b"] and texts.class_names == ("p", "q")


def test_image_folder(tmp_path):
    for name, colour in (("cats", 10), ("dogs", 200)):
        (tmp_path / name).mkdir()
        for i in range(3):
            Image.fromarray(np.full((6, 5, 3), colour + i, dtype="uint8")).save(tmp_path / name / f"{i}.png")
    data = tw.labelled(tmp_path)
    assert data.class_names == ("cats", "dogs") and data.examples.shape == (6, 6, 5, 3)
    assert data.examples[data.labels == 1].min() >= 200
    with pytest.raises(tw.DataError, match="no class subfolders"):
        tw.labelled(tmp_path / "cats")


def test_split_is_seeded_and_stratified(digits):
    train_a, held_a = tw.split(digits, 0.25, seed=3)
    train_b, held_b = tw.split(digits, 0.25, seed=3)
    np.testing.assert_array_equal(held_a.labels, held_b.labels)
    assert len(held_a) + len(train_a) == len(digits)
    shares = held_a.class_counts / digits.class_counts
    assert np.all(np.abs(shares - 0.25) < 0.06)
    _, held_c = tw.split(digits, 0.25, seed=4)
    assert not np.array_equal(held_a.labels, held_c.labels)


@pytest.mark.parametrize(
    "args, kwargs, message",
    [
        ((np.zeros((3, 8, 8)), [0, 1]), {}, "3 examples but 2 labels"),
        ((np.zeros((3, 8, 8)), [0, 1, 5]), {"class_names": ["a", "b"]}, "Label 5 is out of range"),
        ((np.zeros((3, 8, 8)), [0, -1, 1]), {}, "negative"),
        ((["a", "b", "c"], ["x", "x", "x"]), {}, "one class"),
        (([], []), {}, "empty"),
        ((np.zeros((3, 8, 8, 4)), [0, 1, 0]), {}, "1 or 3 channels"),
        ((np.zeros(3), [0, 1, 0]), {}, "batch axis"),
        ((["a", "b"], [0.5, 1.0]), {"class_names": ["x", "y"]}, "whole class numbers"),  # alone: regression
    ],
)
def test_bad_data_is_refused_with_a_message(args, kwargs, message):
    with pytest.raises(tw.DataError, match=message):
        tw.labelled(*args, **kwargs)


def test_bad_data_leaves_the_session_as_it_was(cnn_session):
    before = (cnn_session.train_data, cnn_session.validation_data, cnn_session.model, cnn_session.encoded)
    with pytest.raises(tw.DataError):
        cnn_session.set_data(np.zeros((4, 8, 8)), [0, 1, 2])
    with pytest.raises(tw.DataError, match="text"):
        cnn_session.set_data(["some text", "more"], ["a", "b"], validation_data=(["x", "y"], ["a", "b"]))
    with pytest.raises(tw.DataError, match="shape"):
        cnn_session.set_data(np.zeros((20, 5)), [0, 1] * 10)
    after = (cnn_session.train_data, cnn_session.validation_data, cnn_session.model, cnn_session.encoded)
    assert all(a is b for a, b in zip(before, after))


def test_shipped_datasets():
    tweets = tw.load_tweets()
    assert tweets.class_names == ("negative", "neutral", "positive")
    assert len(tweets) == len(set(tweets.examples)) > 37000  # duplicates removed
    subset = tw.load_tweets(n=90, seed=1)
    assert len(subset) == 90 and np.all(subset.class_counts >= 10)
    assert tw.load_tweets(n=90, seed=1).examples == subset.examples
    assert any("Ñ" in t or "é" in t for t in tweets.examples)  # read as latin-1
    digits = tw.load_digits()
    assert digits.examples.shape == (1797, 8, 8, 1) and digits.examples.max() == 255
