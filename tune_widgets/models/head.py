"""The head on a backbone: its spec, the pooling of token sequences, and the FineTuneModel
that joins them (frozen layers always in inference mode)."""

import dataclasses
from pathlib import Path

import keras

from ..errors import ConfigError
from ..validation import whole_number
from . import keras_internals
from .task import CLASSIFICATION, task_named


POOLINGS = {"image": ("avg", "max", "flatten"), "text": ("cls", "mean", "last")}


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
        frozen = {id(layer) for layer in self.layers if not layer.trainable}
        inputs = keras_internals.graph_inputs(self, inputs)
        if mask is not None:
            for x, m in zip(inputs, keras.tree.flatten(mask)):
                if m is not None:
                    keras_internals.set_mask(x, m)
        outputs = keras_internals.run_functional_graph(
            self,
            inputs,
            lambda op: keras_internals.operation_caller(
                op, training=False if id(op) in frozen else training, **kwargs
            ),
        )
        return outputs[0] if isinstance(outputs, (list, tuple)) and len(outputs) == 1 else outputs

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """Rebuilt as saved, then run once on a tiny batch if a sublayer is still unbuilt:
        some build their parts only when called (KerasHub DeBERTa's relative-embedding norm),
        and a .keras file's weights could not be loaded into them otherwise."""
        model = super().from_config(config, custom_objects=custom_objects)
        if any(not layer.built for layer in keras_internals.sublayers(model)):
            batch = [keras.ops.ones([1 if size is None else size for size in (1, *tensor.shape[1:])], tensor.dtype)
                     for tensor in model.inputs]
            model(batch if len(batch) > 1 else batch[0])
        return model

    def train_step(self, data):
        return self._for_workers(super().train_step(data))

    def test_step(self, data):
        return self._for_workers(super().test_step(data))

    def _for_workers(self, logs):
        """Scalar logs as one-element vectors when training on several workers: Keras averages
        them there with `strategy.reduce("MEAN", axis=0)`, which needs an axis to average over
        (keras-team/keras#20585). The average comes back a scalar."""
        strategy = keras_internals.scope_strategy(self)
        if strategy is None or strategy.num_replicas_in_sync <= len(strategy.extended.worker_devices):
            return logs
        return keras.tree.map_structure(lambda value: keras.ops.reshape(value, (1,)), logs)

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        """Build from one replica's share of the first batch under a tf.distribute strategy.

        Keras takes the batch's shapes from `strategy.reduce("MEAN", batch)`, which
        MultiWorkerMirroredStrategy refuses for an (x, y) batch, so `fit` fails on several
        workers (keras-team/keras#20585). Only the shapes and dtypes are used, so any replica's
        share serves, with no cross-worker reduction. (A Keras private method: listed in
        `keras_internals.OVERRIDDEN`.)
        """
        if keras_internals.scope_strategy(self) is None or iterator is None:
            return super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)
        import tensorflow as tf

        for _, _, batches in iterator:
            data_batch = keras.tree.map_structure(
                lambda x: self.distribute_strategy.experimental_local_results(x)[0]
                if isinstance(x, tf.distribute.DistributedValues) else x, next(batches))
            break
        with self.distribute_strategy.scope():
            keras_internals.symbolic_build(self, data_batch)


@keras.saving.register_keras_serializable(package="tune_widgets")
class TokenPooling(keras.layers.Layer):
    """Pools a transformer's sequence output: the first ([CLS]) token, the masked mean, or the
    last real token (a decoder's summary of the whole text; found from the mask, so left and
    right padding both work)."""

    def __init__(self, mode="cls", **kwargs):
        super().__init__(**kwargs)
        if mode not in POOLINGS["text"]:
            raise ConfigError(f"Text pooling must be one of {POOLINGS['text']}, not {mode!r}.")
        self.mode = mode

    def call(self, sequence, padding_mask=None):
        if self.mode == "cls":
            return sequence[:, 0, :]
        if self.mode == "last":
            positions = keras.ops.arange(keras.ops.shape(sequence)[1])
            last = keras.ops.max(keras.ops.where(keras.ops.cast(padding_mask, "bool"), positions, -1), axis=1)
            pick = keras.ops.one_hot(last, keras.ops.shape(sequence)[1], dtype=sequence.dtype)
            return keras.ops.sum(sequence * keras.ops.expand_dims(pick, -1), axis=1)
        if padding_mask is None:  # image tokens: all real
            return keras.ops.mean(sequence, axis=1)
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
    output layer (see `task.py`): regression targets get one linear output."""

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


def input_names(model):
    """The names `model` knows its inputs by: its InputLayers' names.

    Keras checks a dict of inputs against these, but maps it onto the graph by the input
    tensors' names, and the two differ for an `Input` made without a name (every
    `keras.applications` model: layer "input_layer", tensor "keras_tensor_12"). So data is
    keyed by these names here, and handed to a model as a list in `model.inputs` order.
    """
    return [keras_internals.producing_layer(tensor).name for tensor in model.inputs]


def build_classifier(backbone, head, num_classes, task=CLASSIFICATION, data=None):
    """backbone → pooling → dropout → the task's output layer (Dense(num_classes) for classes),
    as one flat `FineTuneModel`. `data`: the training data the output layer may start from."""
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
    elif len(x.shape) == 3:  # a vision transformer's tokens: the class token, or their mean
        x = TokenPooling("mean" if pooling in ("avg", "mean") else "cls", name="head_pooling")(x)
    elif len(x.shape) > 2:
        x = keras.layers.Flatten(name="head_pooling")(x)
    if head.dropout:
        x = keras.layers.Dropout(head.dropout, name="head_dropout")(x)
    outputs = task.output_layer(num_classes, head, data)(x)
    return FineTuneModel(_single(inputs), outputs, name=f"{_slug(backbone.source)}_classifier")


def classifier_for(backbone, head, keep_head, data, force=False):
    """The model a session holds: a user model with its own head (`keep_head`), or the backbone
    with `head` for `data`'s task; None while the head's width cannot be known (no data yet).
    force: a head was asked for, so not knowing its width is an error."""
    if keep_head:
        return build_classifier(backbone, None, None)
    task = task_named(data.task if data is not None else None)
    width = task.head_width(head, data, force)
    return None if width is None else build_classifier(backbone, head, width, task, data)


def model_for_data(backbone, head, keep_head, model, data):
    """The model a session holds once `data` is set: `model` itself, unless there is none yet or
    its head's width follows the data and the data needs another one."""
    if backbone is None:
        return model
    if model is not None:
        task = task_named(data.task)
        if keep_head or not task.follows_data(head) or model.output.shape[-1] == task.outputs(data.class_names):
            return model
    return classifier_for(backbone, head, keep_head, data)


def _single(tensors):
    return tensors[0] if len(tensors) == 1 else tensors


def _slug(source):
    return "".join(c if c.isalnum() else "_" for c in Path(str(source)).name.lower())[:40] or "model"
