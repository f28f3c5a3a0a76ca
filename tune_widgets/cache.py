"""Frozen-prefix feature cache: run the frozen bottom of a model once, train the rest on its outputs.

When the frozen layers form a prefix of the graph they are deterministic (they run in inference
mode), so their outputs can be computed once per dataset instead of once per epoch. The prefix
extends over later weightless, deterministic layers (a pooling), so a fully frozen encoder caches
one vector per example. Text is run sorted by length, each batch trimmed to its longest row
(rounded up to a multiple of 8): attention under the padding mask gives the same values at real
tokens, and the positions past a row's length are masked out downstream.
"""

import dataclasses
import weakref

import keras
import numpy as np
import tensorflow as tf

from .models import FineTuneModel

STOCHASTIC = (keras.layers.Dropout, keras.layers.GaussianNoise, keras.layers.GaussianDropout,
              keras.layers.AlphaDropout, keras.layers.SpatialDropout1D, keras.layers.SpatialDropout2D)
MEMORY_BUDGET = 2 * 1024**3  # bytes of cached features; above it, train the normal way


@dataclasses.dataclass
class CachePlan:
    """Where the model is cut: `suffix` trains on `cut` tensors computed by `prefix`."""

    prefix: keras.Model
    suffix: FineTuneModel
    cut_names: list  # the suffix's inputs, in order: prefix outputs, then raw inputs passed through
    prefix_layers: list


def plan_cache(model):
    """A CachePlan for `model` as its layers are frozen now, or (None, reason) when caching
    cannot help or would not be exact."""
    layers = list(model.layers)
    own = {id(node) for nodes in model._nodes_by_depth.values() for node in nodes}  # not other models' uses
    input_layers = {layer.name for layer in layers if isinstance(layer, keras.layers.InputLayer)}
    prefix = set(input_layers)
    for layer in layers:
        if layer.name in prefix:
            continue
        parents = {parent.name for node in layer._inbound_nodes if id(node) in own for parent in _parents(node)}
        if not parents <= prefix:
            continue
        if type(layer).__name__.startswith("Random"):
            if not layer.trainable:
                return None, f"{layer.name} adds training-time randomness (augmentation) inside the frozen part"
            continue
        if not layer.trainable or (not layer.weights and not isinstance(layer, STOCHASTIC)):
            prefix.add(layer.name)
    computed = [layer for layer in layers if layer.name in prefix and layer.name not in input_layers]
    if not any(layer.weights for layer in computed):
        return None, "no frozen layers at the bottom of the model: there is nothing to cache"
    if all(layer.name in prefix for layer in layers):
        return None, "every layer is frozen: there is nothing to train"
    cut, names = [], []
    for layer in layers:
        if layer.name in prefix:
            continue
        for node in layer._inbound_nodes:
            if id(node) not in own:
                continue
            for tensor in node.input_tensors:
                owner = tensor._keras_history.operation.name
                if owner in prefix and all(tensor is not t for t in cut):
                    cut.append(tensor)
                    names.append(owner)
    suffix = FineTuneModel(cut, model.output, name=f"{model.name}_suffix")
    prefix_outputs = [t for t, n in zip(cut, names) if n not in input_layers]
    prefix_model = keras.Model(model.inputs, prefix_outputs)
    return CachePlan(prefix_model, suffix, names, [layer.name for layer in computed]), ""


def _parents(node):
    return [t._keras_history.operation for t in node.input_tensors]


def compute_features(cache_plan, x, batch_size=32, report=None):
    """The suffix's inputs for `x`: prefix outputs computed once, raw inputs passed through."""
    inputs = x if isinstance(x, dict) else {cache_plan.prefix.inputs[0].name: x}
    raw = {name: inputs[name] for name in cache_plan.cut_names if name in inputs}
    outputs = run_prefix(cache_plan.prefix, inputs, batch_size, report)
    computed = iter(outputs)
    return [raw[name] if name in raw else next(computed) for name in cache_plan.cut_names]


def run_prefix(prefix, inputs, batch_size=32, report=None):
    """Prefix outputs for every example, in the original order; text is length-bucketed."""
    count = len(next(iter(inputs.values())))
    mask = inputs.get("padding_mask")
    lengths = mask.sum(axis=1) if mask is not None else None
    order = np.argsort(lengths, kind="stable") if lengths is not None else np.arange(count)
    call = _inference_function(prefix)
    results = None
    for start in range(0, count, batch_size):
        index = order[start:start + batch_size]
        batch = {name: value[index] for name, value in inputs.items()}
        if lengths is not None:
            width = min(int(-(-lengths[index].max() // 8) * 8), mask.shape[1])
            batch = {name: value[:, :width] if value.ndim == 2 and value.shape[1] == mask.shape[1] else value
                     for name, value in batch.items()}
        outputs = [np.asarray(o) for o in keras.tree.flatten(call(batch))]
        if results is None:
            results = [np.zeros((count, *_full_shape(o, mask)), dtype=o.dtype) for o in outputs]
        for target, output in zip(results, outputs):
            target[(index, *[slice(0, s) for s in output.shape[1:]])] = output
        if report is not None:
            report(min(start + batch_size, count), count)
    return results


_INFERENCE = weakref.WeakKeyDictionary()


def _inference_function(prefix):
    """The prefix in inference mode, traced once for any batch size and sequence length."""
    if prefix not in _INFERENCE:
        signature = {t.name: tf.TensorSpec([None] * len(t.shape), t.dtype) for t in prefix.inputs}
        _INFERENCE[prefix] = tf.function(lambda batch: prefix(batch, training=False), input_signature=[signature])
    return _INFERENCE[prefix]


def _full_shape(output, mask):
    """Per-example shape with the sequence axis restored to the padded length."""
    shape = list(output.shape[1:])
    if mask is not None and output.ndim >= 3:
        shape[0] = mask.shape[1]
    return shape


def nbytes(features):
    return sum(int(np.asarray(f).nbytes) for f in features)
