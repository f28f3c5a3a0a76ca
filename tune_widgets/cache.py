"""Frozen-prefix feature cache: run the frozen bottom of a model once, train the rest on its outputs.

When the frozen layers form a prefix of the graph they are deterministic (they run in inference
mode), so their outputs can be computed once per dataset instead of once per epoch. The prefix
extends over later weightless, deterministic layers (a pooling), so a fully frozen encoder caches
one vector per example. Text is run sorted by length, each batch trimmed to its longest row
(rounded up to a multiple of 8): attention under the padding mask gives the same values at real
tokens, and the positions past a row's length are masked out downstream.
"""

import dataclasses
import time
import weakref

import keras
import numpy as np
import tensorflow as tf

from .models import FineTuneModel, input_names

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
    suffix = _suffix_model(model, cut)
    prefix_outputs = [t for t, n in zip(cut, names) if n not in input_layers]
    prefix_model = keras.Model(model.inputs, prefix_outputs)
    return CachePlan(prefix_model, suffix, names, [layer.name for layer in computed]), ""


class FeatureCache:
    """The frozen prefix's outputs for the session's data, kept while the plan, the model and
    the encoded data stay the same, and recomputed (or refused, with the reason) otherwise."""

    def __init__(self, budget=MEMORY_BUDGET):
        self.budget = budget
        self.key, self.features, self.seconds, self.bytes = None, None, 0.0, 0
        self.cut_key, self.cut = None, (None, "")

    def prepare(self, model, freeze_plan, encoded, batch_size, report=None):
        """(model to train, its train inputs, its validation inputs, info for the run record).

        `encoded` holds the whole model's "train" and "validation" inputs. With a usable prefix
        the result is the suffix on cached features, else the whole model on `encoded`.
        `report(done, total)` is called as examples pass the prefix; it may raise to cancel.
        """
        whole = (model, encoded["train"], encoded["validation"])
        if (freeze_plan, id(model)) != self.cut_key:  # each plan_cache adds graph nodes: one per plan
            self.cut_key, self.cut = (freeze_plan, id(model)), plan_cache(model)
        plan, reason = self.cut
        if plan is None:
            return (*whole, {"used": False, "reason": reason})
        key = (freeze_plan, id(model), id(encoded["train"]), id(encoded["validation"]))
        if key != self.key:
            started = time.perf_counter()
            counts = [_count(encoded[part]) for part in ("train", "validation")]
            features, offset = [], 0
            for part, count in zip(("train", "validation"), counts):
                progress = None if report is None else (lambda done, _n, base=offset: report(base + done, sum(counts)))
                features.append(compute_features(plan, encoded[part], batch_size * 2, progress))
                offset += count
            size = sum(nbytes(f) for f in features)
            if size > self.budget:
                return (*whole, {"used": False, "reason": f"cached features would take {size / 1e9:.1f} GB, "
                                                          f"over the {self.budget / 1e9:.1f} GB budget"})
            self.key, self.features = key, features
            self.seconds, self.bytes = time.perf_counter() - started, size
        train, validation = self.features
        return plan.suffix, train, validation, {
            "used": True, "cut": plan.cut_names, "cached_layers": len(plan.prefix_layers),
            "seconds": round(self.seconds, 3), "bytes": self.bytes}


def _count(x):
    return len(next(iter(x.values())) if isinstance(x, dict) else x)


def _suffix_model(model, cut):
    """The model from the `cut` tensors to the output, sharing the model's layers.

    Keras clones the graph between intermediate inputs and the output, and while doing so it
    re-points the history of a real `Input` used as is (the padding mask) at the cloned node.
    The model's own input would then name a node the model does not have, and saving the model
    fails ("could not find node key"). The histories are put back once the suffix is built.
    """
    histories = [(tensor, tensor._keras_history) for tensor in model.inputs]
    try:
        return FineTuneModel(cut, model.output, name=f"{model.name}_suffix")
    finally:
        for tensor, history in histories:
            tensor._keras_history = history


def _parents(node):
    return [t._keras_history.operation for t in node.input_tensors]


def compute_features(cache_plan, x, batch_size=32, report=None):
    """The suffix's inputs for `x`: prefix outputs computed once, raw inputs passed through."""
    inputs = x if isinstance(x, dict) else {input_names(cache_plan.prefix)[0]: x}
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
    call, names = _inference_function(prefix), input_names(prefix)
    results = None
    for start in range(0, count, batch_size):
        index = order[start:start + batch_size]
        batch = {name: value[index] for name, value in inputs.items()}
        if lengths is not None:
            width = min(int(-(-lengths[index].max() // 8) * 8), mask.shape[1])
            batch = {name: value[:, :width] if value.ndim == 2 and value.shape[1] == mask.shape[1] else value
                     for name, value in batch.items()}
        outputs = [np.asarray(o) for o in keras.tree.flatten(call([batch[name] for name in names]))]
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
        signature = [tf.TensorSpec([None] * len(t.shape), t.dtype) for t in prefix.inputs]
        _INFERENCE[prefix] = tf.function(lambda inputs: prefix(inputs, training=False), input_signature=[signature])
    return _INFERENCE[prefix]


def _full_shape(output, mask):
    """Per-example shape with the sequence axis restored to the padded length."""
    shape = list(output.shape[1:])
    if mask is not None and output.ndim >= 3:
        shape[0] = mask.shape[1]
    return shape


def nbytes(features):
    return sum(int(np.asarray(f).nbytes) for f in features)
