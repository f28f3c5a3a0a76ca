import os

os.environ.setdefault("TUNE_WIDGETS_QUICK", "1")

import tune_widgets as tw  # first: it sets TensorFlow's environment before TensorFlow runs

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402


def small_cnn(num_classes=10, name="small_cnn"):
    """A functional CNN with BatchNorm and Dropout: quick to train, and has both traps."""
    inputs = keras.Input((8, 8, 1), name="pixels")
    x = keras.layers.Rescaling(1 / 255.0, name="rescale")(inputs)
    x = keras.layers.Conv2D(8, 3, padding="same", name="conv1_conv")(x)
    x = keras.layers.BatchNormalization(name="conv1_bn")(x)
    x = keras.layers.Activation("relu", name="conv1_relu")(x)
    x = keras.layers.Conv2D(16, 3, padding="same", name="conv2_conv")(x)
    x = keras.layers.BatchNormalization(name="conv2_bn")(x)
    x = keras.layers.Activation("relu", name="conv2_relu")(x)
    x = keras.layers.Dropout(0.5, name="conv2_dropout")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name=name)


@pytest.fixture
def digits():
    return tw.load_digits(n=200, seed=0)


@pytest.fixture
def cnn_session(digits):
    keras.utils.set_random_seed(0)
    session = tw.Session()
    session.load_model(small_cnn(), head=tw.HeadSpec(dropout=0.0))
    session.set_data(digits, batch_size=32)
    return session


@pytest.fixture(scope="session")
def minilm():
    return tw.minilm_folder()


def weights_of(layer):
    return [np.array(w) for w in layer.weights]
