"""Loading a pretrained model from any source, and putting a classification head on it.

`load_backbone` is the one entry point: a `keras.applications` name, a KerasHub or Hugging Face
checkpoint folder, a `.keras`/`.h5` file or a `keras.Model` all come back as a `Backbone`: a
functional Keras model that produces features, plus what it takes to feed it. `build_classifier`
adds the head described by a `HeadSpec` and returns a `FineTuneModel`: a classifier, or for
regression data a single linear output trained with mean squared error (`loss_and_metrics`).
"""

import contextlib
import dataclasses
import importlib
import json
import os
import tempfile
import warnings
from pathlib import Path

import keras

from .errors import (
    CheckpointError,
    ConfigError,
    ModelSourceError,
    TuneWidgetsWarning,
    UnknownModelError,
    WeightsUnavailableError,
    did_you_mean,
)
from .user_models import open_nested
from .validation import whole_number

APPLICATION_NAMES = tuple(sorted(n for n in dir(keras.applications) if n[0].isupper()))
POOLINGS = {"image": ("avg", "max", "flatten"), "text": ("cls", "mean")}


@keras.saving.register_keras_serializable(package="tune_widgets")
class FineTuneModel(keras.Model):
    """A functional model whose frozen layers always run in inference mode.

    Keras 3 passes the outer `training=True` to every layer of a functional graph, even one that
    was called with `training=False` when the graph was built, so the fine-tuning guide's
    `base_model(x, training=False)` no longer keeps dropout off. Frozen layers here are called
    with `training=False` explicitly: frozen dropout is off and frozen BatchNorm uses its moving
    statistics, which makes frozen features deterministic (and cacheable). A frozen layer
    that holds LoRA adapters runs in inference mode too: its adapters train with dropout off.
    """

    def call(self, inputs, training=None, mask=None, **kwargs):
        from keras.src.models.functional import operation_fn  # the one helper Functional uses

        frozen = {id(layer) for layer in self.layers if not layer.trainable}
        inputs = self._standardize_inputs(inputs)
        if mask is not None:
            for x, m in zip(inputs, keras.tree.flatten(mask)):
                if m is not None:
                    keras.src.backend.set_keras_mask(x, m)
        outputs = self._run_through_graph(
            inputs,
            operation_fn=lambda op: operation_fn(
                op, training=False if id(op) in frozen else training, **kwargs
            ),
        )
        return outputs[0] if isinstance(outputs, (list, tuple)) and len(outputs) == 1 else outputs

    def train_step(self, data):
        return self._for_workers(super().train_step(data))

    def test_step(self, data):
        return self._for_workers(super().test_step(data))

    def _for_workers(self, logs):
        """Scalar logs as one-element vectors when training on several workers: Keras averages
        them there with `strategy.reduce("MEAN", axis=0)`, which needs an axis to average over
        (keras-team/keras#20585). The average comes back a scalar."""
        strategy = self._distribute_strategy
        if strategy is None or strategy.num_replicas_in_sync <= len(strategy.extended.worker_devices):
            return logs
        return keras.tree.map_structure(lambda value: keras.ops.reshape(value, (1,)), logs)

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        """Build from one replica's share of the first batch under a tf.distribute strategy.

        Keras takes the batch's shapes from `strategy.reduce("MEAN", batch)`, which
        MultiWorkerMirroredStrategy refuses for an (x, y) batch, so `fit` fails on several
        workers (keras-team/keras#20585). Only the shapes and dtypes are used, so any replica's
        share serves, with no cross-worker reduction.
        """
        if self._distribute_strategy is None or iterator is None:
            return super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)
        import tensorflow as tf

        for _, _, batches in iterator:
            data_batch = keras.tree.map_structure(
                lambda x: self.distribute_strategy.experimental_local_results(x)[0]
                if isinstance(x, tf.distribute.DistributedValues) else x, next(batches))
            break
        with self.distribute_strategy.scope():
            self._symbolic_build(data_batch=data_batch)


@keras.saving.register_keras_serializable(package="tune_widgets")
class TokenPooling(keras.layers.Layer):
    """Pools a transformer's sequence output: the first ([CLS]) token, or the masked mean."""

    def __init__(self, mode="cls", **kwargs):
        super().__init__(**kwargs)
        if mode not in POOLINGS["text"]:
            raise ConfigError(f"Text pooling must be one of {POOLINGS['text']}, not {mode!r}.")
        self.mode = mode

    def call(self, sequence, padding_mask):
        if self.mode == "cls":
            return sequence[:, 0, :]
        weights = keras.ops.expand_dims(keras.ops.cast(padding_mask, sequence.dtype), -1)
        total = keras.ops.sum(sequence * weights, axis=1)
        return total / keras.ops.maximum(keras.ops.sum(weights, axis=1), 1.0)

    def compute_output_shape(self, sequence_shape, padding_mask_shape=None):
        return (sequence_shape[0], sequence_shape[-1])

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


@dataclasses.dataclass(frozen=True)
class HeadSpec:
    """The head: `num_classes=None` takes the count from the data. The data's task decides the
    kind: regression data (`set_data(..., task="regression")`) gets one linear output."""

    num_classes: int | None = None
    dropout: float = 0.1
    activation: str = "softmax"
    pooling: str | None = None  # None: the backbone's own ("mean" for sentence encoders), else "avg"/"cls"

    def __post_init__(self):
        if self.num_classes is not None:
            object.__setattr__(self, "num_classes", whole_number("num_classes", self.num_classes, minimum=2))
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"Head dropout must be in [0, 1), got {self.dropout!r}.")
        if self.activation not in ("softmax", "linear"):
            raise ConfigError(
                f"Head activation must be 'softmax' (probabilities) or 'linear' (logits), got {self.activation!r}."
            )


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
        return _from_user_model(source, "in-memory model")
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
    input_shape = tuple(input_shape or (224, 224, 3))
    if len(input_shape) != 3:
        raise ConfigError(f"input_shape for {canonical} must be (height, width, channels), got {input_shape}.")
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
    from .text import Tokenizer

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


def input_names(model):
    """The names `model` knows its inputs by: its InputLayers' names.

    Keras checks a dict of inputs against these, but maps it onto the graph by the input
    tensors' names, and the two differ for an `Input` made without a name (every
    `keras.applications` model: layer "input_layer", tensor "keras_tensor_12"). So data is
    keyed by these names here, and handed to a model as a list in `model.inputs` order.
    """
    return [tensor._keras_history.operation.name for tensor in model.inputs]


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


def loss_and_metrics(task, from_logits=False):
    """The founding document's two losses: cross-entropy for classes, mean squared error for
    numeric targets (reported with MAE and RMSE)."""
    if task == "regression":
        return keras.losses.MeanSquaredError(), [keras.metrics.MeanAbsoluteError(name="mae"),
                                                 keras.metrics.RootMeanSquaredError(name="rmse")]
    return keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits), ["accuracy"]


def build_classifier(backbone, head, num_classes, task="classification", target_mean=0.0):
    """backbone → pooling → dropout → Dense(num_classes), as one flat `FineTuneModel`; for
    task="regression", Dense(1) with a linear output whose bias starts at `target_mean`, so the
    untrained head starts from the baseline it has to beat."""
    if backbone.kind == "model" and head is None:
        model = backbone.model
        return FineTuneModel(_single(model.inputs), _single(model.outputs), name=model.name)
    head = head or HeadSpec()
    num_classes = head.num_classes or num_classes
    if not num_classes:
        raise ConfigError("The head needs a class count: set data first, or HeadSpec(num_classes=...).")
    x = backbone.features
    inputs = backbone.model.inputs
    names = input_names(backbone.model)
    kind = "text" if "token_ids" in names else "image"
    pooling = head.pooling or backbone.pooling or POOLINGS[kind][0]
    if pooling not in POOLINGS[kind]:
        raise ConfigError(f"Pooling for {kind} models must be one of {POOLINGS[kind]}, not {pooling!r}.")
    if kind == "text":
        mask = inputs[names.index("padding_mask")]
        x = TokenPooling(pooling, name="head_pooling")(x, mask)
    elif len(x.shape) == 4:
        layer = {"avg": keras.layers.GlobalAveragePooling2D, "max": keras.layers.GlobalMaxPooling2D,
                 "flatten": keras.layers.Flatten}[pooling]
        x = layer(name="head_pooling")(x)
    elif len(x.shape) > 2:
        x = keras.layers.Flatten(name="head_pooling")(x)
    if head.dropout:
        x = keras.layers.Dropout(head.dropout, name="head_dropout")(x)
    if task == "regression":
        outputs = keras.layers.Dense(1, bias_initializer=keras.initializers.Constant(target_mean),
                                     name="head_dense")(x)
    else:
        outputs = keras.layers.Dense(num_classes, activation=head.activation, name="head_dense")(x)
    return FineTuneModel(_single(inputs), outputs, name=f"{_slug(backbone.source)}_classifier")


def _single(tensors):
    return tensors[0] if len(tensors) == 1 else tensors


def _slug(source):
    return "".join(c if c.isalnum() else "_" for c in Path(str(source)).name.lower())[:40] or "model"
