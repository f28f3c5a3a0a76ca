"""Files are untrusted: `.keras` loads in safe mode, and pickle weights need an opt-in that warns."""

import sys
import types

import numpy as np
import pytest
from safetensors.numpy import load_file

import tune_widgets as tw

pytestmark = pytest.mark.reliability


@pytest.fixture
def pickle_only_checkpoint(minilm, tmp_path):
    """The MiniLM folder (as links) with its weights under the name pytorch_model.bin (the
    safetensors file's bytes: only the fake torch below reads them)."""
    folder = tmp_path / "minilm"
    folder.mkdir()
    for item in minilm.iterdir():
        name = "pytorch_model.bin" if item.name == "model.safetensors" else item.name
        (folder / name).symlink_to(item)
    return folder


def test_pickle_weights_are_refused_without_the_opt_in(pickle_only_checkpoint):
    with pytest.raises(tw.CheckpointError, match="pytorch_model.bin, a Python pickle: opening a pickle runs any code"):
        tw.Session().load_model(pickle_only_checkpoint)


def test_the_opt_in_warns_and_says_what_is_missing(pickle_only_checkpoint, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # PyTorch absent, whatever this machine has
    with pytest.warns(tw.TuneWidgetsWarning, match="allow_pickle=True: a pickle can run code"), \
            pytest.raises(tw.CheckpointError, match="needs PyTorch, which is not installed: pip install torch"):
        tw.Session().load_model(pickle_only_checkpoint, allow_pickle=True)


class FakeTensor:
    """What the conversion uses of a torch tensor."""

    def __init__(self, array):
        self.array = array

    def detach(self):
        return self

    def cpu(self):
        return self

    def is_floating_point(self):
        return self.array.dtype.kind == "f"

    def float(self):
        return FakeTensor(self.array.astype("float32"))

    def numpy(self):
        return self.array


def test_with_the_opt_in_the_weights_are_converted_and_loaded(pickle_only_checkpoint, minilm, monkeypatch):
    calls = []

    def load(path, map_location, weights_only):
        monkeypatch.delitem(sys.modules, "torch")  # read once: transformers must not find this fake later
        calls.append(weights_only)
        return {name: FakeTensor(array) for name, array in load_file(path).items()}

    monkeypatch.setitem(sys.modules, "torch", types.SimpleNamespace(load=load))
    with pytest.warns(tw.TuneWidgetsWarning):
        session = tw.Session().load_model(pickle_only_checkpoint, allow_pickle=True, sequence_length=16)
    assert calls == [True]  # torch's restricted unpickler, even when allowed
    assert session.backbone.tokenizer.folder == str(pickle_only_checkpoint)  # not the temporary copy
    reference = load_file(minilm / "model.safetensors")
    embedding = session.backbone.model.get_layer("token_embedding").embeddings
    assert np.array_equal(np.asarray(embedding), reference["embeddings.word_embeddings.weight"])


def test_a_keras_file_with_code_is_refused_in_safe_mode(tmp_path):
    import keras

    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Lambda(lambda x: x * 2)(inputs)))
    model.save(tmp_path / "code.keras")
    with pytest.raises(tw.ModelSourceError, match="holds Python code .* safe_mode=True") as raised:
        tw.Session().load_model(tmp_path / "code.keras")
    assert "keras.saving.load_model(path, safe_mode=False)" in str(raised.value)
