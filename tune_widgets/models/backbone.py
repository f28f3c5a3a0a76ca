"""Loading a pretrained model from any source.

`load_backbone` is the one entry point: a `keras.applications` name, a KerasHub or Hugging Face
checkpoint folder, a `.keras`/`.h5` file or a `keras.Model` all come back as a `Backbone`: a
functional Keras model that produces features, plus what it takes to feed it. `head.py` puts
the head on it.
"""

import contextlib
import dataclasses
import importlib
import json
import os
import tempfile
import warnings
import zipfile
from pathlib import Path

import keras

from ..errors import (CheckpointError, ModelSourceError, TuneWidgetsWarning, UnknownModelError, WeightsUnavailableError,
                      did_you_mean)
from ..validation import image_shape
from .head import input_names
from .user_models import open_nested

APPLICATION_NAMES = tuple(sorted(n for n in dir(keras.applications) if n[0].isupper()))
IN_MEMORY = "in-memory model"  # the source of a keras.Model given as it is


@dataclasses.dataclass
class Backbone:
    """A feature extractor and what it takes to feed it.

    kind: "image" (4-D float input), "text" (token ids from `tokenizer`) or "model" (a
    user model kept whole, head included, until a new head is asked for).
    """

    model: keras.Model
    kind: str
    source: str
    features: object  # the KerasTensor a new head is attached to
    input_shape: tuple | None = None
    tokenizer: object = None
    preprocessing: str | None = None  # images: the keras.applications module whose preprocess_input applies
    pooling: str | None = None  # the head's default pooling for this backbone
    weights: str | None = None  # keras.applications: the weights asked for ("imagenet", None or a file)

    @property
    def preprocess(self):
        """The image preprocessing function, or None. Only keras' own modules are imported."""
        if self.preprocessing is None:
            return None
        if not self.preprocessing.startswith("keras."):
            raise ModelSourceError(
                f"Preprocessing {self.preprocessing!r} is not a keras.applications module; only "
                f"keras' own preprocess_input functions are used."
            )
        return importlib.import_module(self.preprocessing).preprocess_input


def load_backbone(source, *, input_shape=None, weights="imagenet", sequence_length=64, allow_pickle=False):
    """Load a model from any source (see module docstring); nothing is kept if it fails.

    Files are untrusted: `.keras` files load with `safe_mode=True` (a Lambda layer's Python
    code is refused), and a checkpoint whose weights exist only as a pickle
    (`pytorch_model.bin`) is refused unless `allow_pickle=True` (see `_weights_folder`).
    """
    if isinstance(source, keras.Model):
        return _from_user_model(source, IN_MEMORY)
    if isinstance(source, Backbone):
        return source
    if not isinstance(source, (str, os.PathLike)):
        raise ModelSourceError(
            f"A model source must be a keras.applications name, a folder, a .keras/.h5 file or a "
            f"keras.Model, not {type(source).__name__}."
        )
    path = Path(source).expanduser()
    if path.is_dir():
        return _from_checkpoint(path, sequence_length, allow_pickle)
    if path.suffix in (".keras", ".h5", ".hdf5"):
        if not path.exists():
            raise ModelSourceError(f"No model file at {path}. Check the path.")
        return _from_file(path)
    if _looks_like_path(str(source)):
        raise ModelSourceError(f"No such folder or file: {path}"
                               + ("" if path.is_absolute() else f" (relative to {Path.cwd()})") + ". Check the path.")
    return _from_application(str(source), input_shape, weights)


def _looks_like_path(text):
    """Whether a source that exists nowhere was meant as a path, not a keras.applications name."""
    return any(sep in text for sep in ("/", os.sep)) or text.startswith(("~", "."))


def _from_application(name, input_shape, weights):
    lookup = {n.lower(): n for n in APPLICATION_NAMES}
    canonical = lookup.get(name.lower().replace("-", "").replace("_", ""))
    if canonical is None:
        raise UnknownModelError(
            f"{name!r} is not a keras.applications model, a folder or a model file."
            + (did_you_mean(name, APPLICATION_NAMES) or f" Known names: {', '.join(APPLICATION_NAMES)}.")
        )
    input_shape = image_shape(input_shape or (224, 224, 3), canonical)
    constructor = getattr(keras.applications, canonical)
    try:
        model = constructor(include_top=False, weights=weights, input_shape=input_shape)
    except Exception as error:  # keras raises a bare Exception for a failed download
        if "URL fetch failure" in str(error) or "fetch" in str(error).lower():
            raise WeightsUnavailableError(
                f"Could not download the {weights!r} weights for {canonical} (no network?). "
                f"Pass weights=None to start from random weights, or a local weights file path."
            ) from error
        raise ModelSourceError(f"{canonical} could not be built: {error}") from error
    module = importlib.import_module(constructor.__module__)
    preprocessing = module.__name__ if hasattr(module, "preprocess_input") else None
    return Backbone(model, "image", canonical, model.output, input_shape, preprocessing=preprocessing,
                    weights=None if weights is None else str(weights))


def _from_checkpoint(folder, sequence_length, allow_pickle=False):
    config_path = folder / "config.json"
    if not config_path.exists():
        raise CheckpointError(
            f"{folder} has no config.json, so it is not a Hugging Face or KerasHub checkpoint. "
            f"Point to the folder that holds config.json and the weights."
        )
    import keras_hub

    config = json.loads(config_path.read_text())
    architecture = config.get("model_type") or config.get("class_name") or "unknown"
    try:
        with _weights_folder(folder, allow_pickle) as weights_folder:
            model = keras_hub.models.Backbone.from_preset(str(weights_folder))
    except CheckpointError:
        raise
    except Exception as error:
        raise CheckpointError(
            f"The checkpoint in {folder} (architecture {architecture!r}) could not be loaded by "
            f"KerasHub: {error}. Supported text encoders include BERT-family models (bert, "
            f"distil_bert, roberta, deberta_v3, albert, electra)."
        ) from error
    if not isinstance(model.output, dict) or "sequence_output" not in model.output:
        raise CheckpointError(
            f"The checkpoint in {folder} is a {architecture!r} model without a sequence output; "
            f"tune-widgets fine-tunes text encoders (BERT family) from checkpoint folders."
        )
    from ..data.tokenizer import Tokenizer

    tokenizer = Tokenizer.from_folder(folder, sequence_length=sequence_length)
    return Backbone(model, "text", str(folder), model.output["sequence_output"], tokenizer=tokenizer,
                    pooling=_trained_pooling(folder))


SAFE_WEIGHTS = ("model.safetensors", "model.safetensors.index.json", "model.weights.h5")
PICKLE_WEIGHTS = "pytorch_model.bin"


@contextlib.contextmanager
def _weights_folder(folder, allow_pickle):
    """The folder to load weights from: `folder` itself, unless its only weights are a pickle.

    Unpickling runs whatever code the file holds, so such a checkpoint is refused, naming the
    file. With `allow_pickle=True` (a documented opt-in, for files you trust) it warns, reads the
    tensors with PyTorch and converts them to safetensors in a temporary copy of the folder,
    which KerasHub then loads. The tokenizer is still read from `folder`.
    """
    pickle_file = folder / PICKLE_WEIGHTS
    if any((folder / name).exists() for name in SAFE_WEIGHTS) or not pickle_file.exists():
        yield folder
        return
    if not allow_pickle:
        raise CheckpointError(
            f"{folder} holds its weights only as {pickle_file.name}, a Python pickle: opening a pickle runs "
            f"any code it contains, so tune-widgets does not. Use a copy of the checkpoint with "
            f"model.safetensors (most Hugging Face models have one), or, for a file you trust, "
            f"load_model(..., allow_pickle=True)."
        )
    warnings.warn(f"Reading {pickle_file} because allow_pickle=True: a pickle can run code when it is opened; "
                  f"do this only for files you trust.", TuneWidgetsWarning, stacklevel=4)
    try:
        import torch
    except ImportError:
        raise CheckpointError(
            f"Reading {pickle_file.name} needs PyTorch, which is not installed: pip install torch (the CPU "
            f"build is enough), or convert it to model.safetensors where PyTorch is installed."
        ) from None
    from safetensors.numpy import save_file

    state = torch.load(pickle_file, map_location="cpu", weights_only=True)
    with tempfile.TemporaryDirectory(prefix="tune-widgets-checkpoint-") as copy:
        for item in folder.iterdir():
            if item.name != PICKLE_WEIGHTS:
                (Path(copy) / item.name).symlink_to(item.resolve())
        save_file({name: _numpy(tensor) for name, tensor in state.items()}, str(Path(copy) / "model.safetensors"))
        yield Path(copy)


def _numpy(tensor):
    """A torch tensor as a numpy array (half and bfloat16 as float32, which numpy can hold)."""
    tensor = tensor.detach().cpu()
    return (tensor.float() if tensor.is_floating_point() else tensor).numpy()


def _trained_pooling(folder):
    """"mean" for sentence-transformers checkpoints trained with mean pooling, else "cls"."""
    pooling_config = folder / "1_Pooling" / "config.json"
    if pooling_config.exists() and json.loads(pooling_config.read_text()).get("pooling_mode_mean_tokens"):
        return "mean"
    return "cls"


def _from_file(path):
    if path.suffix == ".keras" and os.access(path, os.R_OK) and not zipfile.is_zipfile(path):
        raise ModelSourceError(f"{path} is not a Keras archive: a .keras file is a zip archive (model.save writes "
                               f"one), and this file is not. Check that it is the file you meant, or save the model "
                               f"again.")
    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as error:
        if "safe_mode" in str(error):
            raise ModelSourceError(
                f"{path} is refused: it holds Python code (a Lambda layer) that would run on loading, and "
                f"tune-widgets loads files with safe_mode=True. For a file you trust, load it yourself "
                f"(keras.saving.load_model(path, safe_mode=False)) and pass the keras.Model. Keras: {error}"
            ) from error
        raise ModelSourceError(f"{path} could not be loaded as a Keras model: {error}") from error
    return _from_user_model(model, str(path))


def _from_user_model(model, source):
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        inputs = None
    if not inputs:
        raise ModelSourceError(
            "Only functional or Sequential models with known inputs can be fine-tuned layer by "
            "layer. Build it with keras.Input (or give a Sequential model an input shape)."
        )
    model, preprocessing = open_nested(model)
    names = [layer.name for layer in model.layers]
    if "head_pooling" in names:  # one of ours, saved earlier: a new head replaces the old one
        features = keras.tree.flatten(model.get_layer("head_pooling").input)[0]
    else:
        features = _penultimate(model)
    if "token_ids" in input_names(model):
        return Backbone(model, "model", source, features)
    return Backbone(model, "model", source, features, input_shape=tuple(inputs[0].shape[1:]),
                    preprocessing=preprocessing)


def _penultimate(model):
    """The input of the trailing Dense (and Activation/Dropout) layers: where a new head goes."""
    layers = list(model.layers)
    index = len(layers) - 1
    while index > 0 and isinstance(layers[index], (keras.layers.Activation, keras.layers.Softmax)):
        index -= 1
    if not isinstance(layers[index], keras.layers.Dense):
        return keras.tree.flatten(model.output)[0]
    index -= 1
    while index > 0 and isinstance(layers[index], keras.layers.Dropout):
        index -= 1
    return keras.tree.flatten(layers[index].output)[0]
