"""explain: Grad-CAM finds the corner that decides an image task; occlusion finds the keyword that
decides a text task."""

import keras
import numpy as np
import pytest

import tune_widgets as tw
from tests.families import WORDS, keras_hub_image_preset, keras_hub_preset


def corner_images(n=320, seed=0):
    """16×16 noise; class "corner" has a bright 4×4 patch in the top-left corner."""
    rng = np.random.default_rng(seed)
    images = rng.uniform(0, 120, size=(n, 16, 16, 1)).astype("float32")
    labels = np.arange(n) % 2
    images[labels == 1, :4, :4] += 135
    return images, labels


def test_grad_cam_mass_lies_in_the_corner_that_decides_the_class():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((16, 16, 1), name="pixels")
    x = keras.layers.Rescaling(1 / 255.0, name="rescale")(inputs)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1_conv")(x)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv2_conv")(x)
    x = keras.layers.GlobalMaxPooling2D(name="pool")(x)
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax", name="predictions")(x))
    session = tw.Session(runs_dir=None).load_model(model, head=tw.HeadSpec(dropout=0.0), preprocessing=None)
    images, labels = corner_images()
    session.set_data(images, np.where(labels == 1, "corner", "plain"), batch_size=32)
    session.set_optimizer(learning_rate=1e-2)
    session.fit(epochs=4, seed=0)
    test, test_labels = corner_images(n=16, seed=1)
    found = session.explain(test[test_labels == 1])
    assert {item["layer"] for item in found} == {"conv2_conv"}  # the last convolutional block
    corner = [item["heatmap"][:8, :8].sum() / item["heatmap"].sum() for item in found if item["class"] == "corner"]
    assert len(corner) >= 6 and np.median(corner) > 0.6, corner  # a quarter of the picture holds most of it
    assert found[0]["heatmap"].shape == (16, 16) and 0 <= found[0]["heatmap"].min() <= found[0]["heatmap"].max() <= 1


def test_the_keyword_that_decides_a_text_class_has_the_top_attribution(tmp_path):
    rng = np.random.default_rng(0)
    others = [w for w in WORDS if w != "great"]
    texts, labels = [], []
    for i in range(400):
        words = list(rng.choice(others, size=rng.integers(3, 7)))
        if i % 2:
            words.insert(int(rng.integers(0, len(words) + 1)), "great")
        texts.append(" ".join(words))
        labels.append("great" if i % 2 else "other")
    folder = tmp_path / "bert"
    keras_hub_preset("bert", folder)
    session = tw.Session(runs_dir=None).load_model(folder, sequence_length=16, head=tw.HeadSpec(pooling="mean", dropout=0.0))
    session.set_data(texts, labels, batch_size=32)
    session.set_optimizer(learning_rate=1e-2)
    session.fit(epochs=3, seed=0)
    probes = ["i love great movie", "the day was great so", "great it was a bad day"]
    found = session.explain(probes)
    for text, item in zip(probes, found):
        assert item["class"] == "great", (text, item)
        tokens = dict(item["tokens"])
        assert max(tokens, key=tokens.get) == "great", (text, item["tokens"])
        assert len(tokens) == len(set(text.split()))


def test_explain_refuses_a_target_that_is_no_class(cnn_session):
    with pytest.raises(tw.TuneWidgetsError, match="one of the classes"):
        cnn_session.explain(np.zeros((1, 8, 8, 1)), target="cat")


def test_a_vit_is_explained_on_its_patch_grid(tmp_path):
    session = tw.Session(runs_dir=None).load_model(keras_hub_image_preset("vit", tmp_path / "vit"))
    faces = tw.load_faces(n=8, seed=0)
    session.set_data(faces, batch_size=8)
    found = session.explain(faces.examples[:2])
    assert {item["layer"] for item in found} == {"vit_encoder"}  # its patch tokens: a 4×4 grid of 8-pixel patches
    assert found[0]["heatmap"].shape == (25, 25) and found[0]["heatmap"].max() <= 1  # the picture's size, not the model's 32
