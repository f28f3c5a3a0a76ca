import os
import shutil

os.environ.setdefault("TUNE_WIDGETS_QUICK", "1")

import tune_widgets as tw  # first: it sets TensorFlow's environment before TensorFlow runs

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from tests.families import MINILM_ID  # noqa: E402


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


@pytest.fixture(autouse=True)
def runs_dir(tmp_path, monkeypatch):
    """Every test's sessions (and the notebooks and servers it starts) write their runs here,
    never into the repository: the default tune_runs/ honours this variable."""
    folder = tmp_path / "tune_runs"
    monkeypatch.setenv("TUNE_WIDGETS_RUNS_DIR", str(folder))
    return folder


@pytest.fixture(autouse=True)
def no_disk_feature_cache(monkeypatch):
    """Sessions keep frozen-prefix features in memory only, as before the disk cache, so no test
    reads another's features or writes to ~/.cache; tests/core/test_disk_cache.py turns it on."""
    monkeypatch.setenv("TUNE_WIDGETS_FEATURE_CACHE", "off")


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


@pytest.fixture
def cnn_file(tmp_path):
    """small_cnn saved as a .keras file: a source config.json can name, so runs can be rebuilt."""
    path = tmp_path / "small_cnn.keras"
    keras.utils.set_random_seed(0)
    small_cnn().save(path)
    return path


@pytest.fixture
def file_session(cnn_file, digits, runs_dir):
    """A session on the saved small_cnn and 200 digits, built right after seeding (as a
    script exported from it rebuilds it)."""
    keras.utils.set_random_seed(0)
    session = tw.Session(runs_dir=runs_dir)
    session.load_model(cnn_file, head=tw.HeadSpec(dropout=0.0))
    session.set_data(digits, batch_size=32)
    session.freeze_to("conv1_relu")
    return session


@pytest.fixture(scope="session")
def minilm():
    return tw.minilm_folder()


@pytest.fixture
def hf_cache(tmp_path, monkeypatch, minilm):
    """The shipped MiniLM laid out in an empty Hugging Face cache under its real id, offline;
    KAGGLEHUB_CACHE points at an empty folder (fill it with tests.families.kagglehub_cache_with)."""
    repo = tmp_path / "hub" / f"models--{MINILM_ID.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0123abcd")
    shutil.copytree(minilm, repo / "snapshots" / "0123abcd")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("KAGGLEHUB_CACHE", str(tmp_path / "kagglehub"))
    return tmp_path / "hub"


def weights_of(layer):
    return [np.array(w) for w in layer.weights]
