"""Loading a pretrained model from any source.

`load_backbone` is the one entry point. `sources.resolve` says what kind of source it was given
(a keras.Model, a path, a hub handle, a KerasHub preset, a Hugging Face id, a keras.applications
name), and the loader for that kind (`LOADERS`) returns a `Backbone`: a functional Keras model
that produces features, plus what it takes to feed it. Hub sources load from a local folder
(`hub.py`: the cache, or a download), through the same loader as a checkpoint folder, so an id
and its folder give the same model. `head.py` puts the head on it.
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
import numpy as np

from ..errors import CheckpointError, ModelSourceError, TuneWidgetsWarning, WeightsUnavailableError
from ..validation import image_shape
from . import hub, sources, upstream_fixes
from .families import family_of, known_families, sequence_output
from .head import input_names
from .user_models import open_nested

APPLICATION_NAMES = sources.APPLICATION_NAMES
KERAS_HUB = "keras_hub:"  # preprocessing by a preset's ImageConverter
IN_MEMORY = "in-memory model"  # the source of a keras.Model given as it is


def image_converter(folder):
    """A checkpoint folder's own image preprocessing, as a function of a batch of pictures: a
    KerasHub preset's ImageConverter, or one built from a Hugging Face folder's
    preprocessor_config.json (rescale, then normalise by its mean and std)."""
    import keras_hub

    folder = Path(folder)
    hf_config = folder / "preprocessor_config.json"
    if (folder / "image_converter.json").exists() or not hf_config.exists():
        converter = keras_hub.layers.ImageConverter.from_preset(str(folder))
    else:
        config = json.loads(hf_config.read_text())
        mean = np.asarray(config.get("image_mean", [0.0, 0.0, 0.0]) if config.get("do_normalize", True) else [0.0] * 3)
        std = np.asarray(config.get("image_std", [1.0, 1.0, 1.0]) if config.get("do_normalize", True) else [1.0] * 3)
        rescale = config.get("rescale_factor", 1 / 255) if config.get("do_rescale", True) else 1.0
        converter = keras_hub.layers.ImageConverter(scale=list(rescale / std), offset=list(-mean / std))
    return lambda images: keras.ops.convert_to_numpy(converter(images))


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
    family: str | None = None  # a KerasHub backbone's family ("bert", "gpt2", "vit"; see families.py)

    @property
    def preprocess(self):
        """The image preprocessing function, or None. Only keras' own modules are imported, and
        KerasHub's ImageConverter of a preset folder ("keras_hub:<folder>")."""
        if self.preprocessing is None:
            return None
        if self.preprocessing.startswith(KERAS_HUB):
            return image_converter(self.preprocessing.removeprefix(KERAS_HUB))
        if not self.preprocessing.startswith("keras."):
            raise ModelSourceError(
                f"Preprocessing {self.preprocessing!r} is not a keras.applications module; only "
                f"keras' own preprocess_input functions are used."
            )
        return importlib.import_module(self.preprocessing).preprocess_input


def load_backbone(source, *, input_shape=None, weights="imagenet", sequence_length=64, allow_pickle=False,
                  progress=None):
    """Load a model from any source (see `sources.py` for the kinds and their order); nothing is
    kept if it fails. progress(done_bytes, total_bytes) follows a hub download.

    Files are untrusted: `.keras` files load with `safe_mode=True` (a Lambda layer's Python
    code is refused), and a checkpoint whose weights exist only as a pickle
    (`pytorch_model.bin`) is refused unless `allow_pickle=True` (see `_weights_folder`).
    """
    if isinstance(source, Backbone):
        return source
    resolved = sources.resolve(source)
    options = {"input_shape": input_shape, "weights": weights, "sequence_length": sequence_length,
               "allow_pickle": allow_pickle, "progress": progress}
    return LOADERS[resolved.kind](resolved, **options)


def _from_model(source, **options):
    return _from_user_model(source.location, IN_MEMORY)


def _from_path(source, *, sequence_length, allow_pickle, **options):
    path = source.location
    if path.is_dir():
        return _from_checkpoint(path, sequence_length, allow_pickle)
    if path.suffix in (".keras", ".h5", ".hdf5"):
        return _from_file(path)
    raise ModelSourceError(f"{path} is neither a checkpoint folder nor a .keras/.h5 model file.")


def _from_hub(source, *, sequence_length, allow_pickle, progress, **options):
    """A hub source, from its cached or downloaded folder, named by its id in runs and saves."""
    return _from_checkpoint(hub.local_folder(source, progress), sequence_length, allow_pickle, name=source.name)


def _from_application(source, *, input_shape, weights, **options):
    canonical = source.location
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


def _from_checkpoint(folder, sequence_length, allow_pickle=False, name=None):
    """A KerasHub preset folder or a Hugging Face checkpoint folder (which KerasHub converts)."""
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
            f"KerasHub: {error}. Supported families: {known_families()}."
        ) from error
    family = family_of(model)
    if family is None:
        raise CheckpointError(
            f"The checkpoint in {folder} is a {type(model).__name__} ({architecture!r}), which tune-widgets does not "
            f"fine-tune yet. Supported families: {known_families()}."
        )
    if family.modality == "image":
        return _image_backbone(model, folder, name or str(folder), family.name)
    from ..data.tokenizer import Tokenizer

    tokenizer = Tokenizer.from_folder(folder, sequence_length=sequence_length)
    return Backbone(model, "text", name or str(folder), sequence_output(model), tokenizer=tokenizer,
                    pooling="last" if family.decoder else _trained_pooling(folder), family=family.name)


def _image_backbone(model, folder, name, family):
    """A KerasHub image backbone, fed as its preset's ImageConverter scales pictures (recorded
    as "keras_hub:<folder>", as a keras.applications module is for its preprocess_input)."""
    shape = tuple(model.inputs[0].shape[1:])
    if None in shape[:2]:  # a fully convolutional backbone: the converter's size, else ImageNet's
        shape = (*_converter_size(folder), shape[2])
    return Backbone(model, "image", name, sequence_output(model), shape, preprocessing=f"{KERAS_HUB}{folder}",
                    family=family)


def _converter_size(folder):
    converter = folder / "image_converter.json"
    size = json.loads(converter.read_text())["config"].get("image_size") if converter.exists() else None
    return tuple(size) if size else (224, 224)


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
        model = keras.saving.load_model(path, compile=False, safe_mode=True, custom_objects=upstream_fixes.custom_objects())
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


# One loader per kind of source (see sources.KINDS), as KerasHub picks a preset loader.
LOADERS = {"model": _from_model, "path": _from_path, "handle": _from_hub, "preset": _from_hub,
           "hugging_face": _from_hub, "application": _from_application}
