"""Frozen-prefix feature cache: run the frozen bottom of a model once, train the rest on its outputs.

When the frozen layers form a prefix of the graph they are deterministic (they run in inference
mode), so their outputs can be computed once per dataset instead of once per epoch. The prefix
extends over later weightless, deterministic layers (a pooling), so a fully frozen encoder caches
one vector per example. Text runs length-bucketed (see bucketing.py) and hidden states are
stored trimmed. Features that would take more than MEMORY_SHARE of the available memory go to a
memory-mapped file in a temporary folder instead; without the disk space either, the fit trains
uncached and says why. With the disk cache on (see disk_cache.py) the features are read from,
or written to, an entry there instead, and outlive the kernel.
"""

import dataclasses
import hashlib
import math
import shutil
import tempfile
import time

import keras
import numpy as np
import psutil

from ..data import bucketing
from ..models import keras_internals
from ..models.head import FineTuneModel, input_names
from . import disk_cache

STOCHASTIC = (keras.layers.Dropout, keras.layers.GaussianNoise, keras.layers.GaussianDropout,
              keras.layers.AlphaDropout, keras.layers.SpatialDropout1D, keras.layers.SpatialDropout2D)
MEMORY_SHARE = 0.5  # of the memory available when the cache is built; above it, features spill to disk


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
    layers = list(model.operations)  # layers, and the plain ops between them (Gemma scales its embeddings)
    own = {id(node) for node in keras_internals.graph_nodes(model)}  # not other models' uses
    input_layers = {layer.name for layer in layers if isinstance(layer, keras.layers.InputLayer)}
    prefix = set(input_layers)
    for layer in layers:
        if layer.name in prefix:
            continue
        parents = {parent.name for node in keras_internals.inbound_nodes(layer) if id(node) in own
                   for parent in _parents(node)}
        if not parents <= prefix:
            continue
        if type(layer).__name__.startswith("Random"):
            if not layer.trainable:
                return None, f"{layer.name} adds training-time randomness (augmentation) inside the frozen part"
            continue
        if (_fixed(layer) or (not _weights(layer) and not isinstance(layer, STOCHASTIC))) and _per_example(layer, own):
            prefix.add(layer.name)
    computed = [layer for layer in layers if layer.name in prefix and layer.name not in input_layers]
    if not any(_weights(layer) for layer in computed):
        return None, "no frozen layers at the bottom of the model: there is nothing to cache"
    if all(layer.name in prefix for layer in layers):
        return None, "every layer is frozen: there is nothing to train"
    cut, names = [], []
    for layer in layers:
        if layer.name in prefix:
            continue
        for node in keras_internals.inbound_nodes(layer):
            if id(node) not in own:
                continue
            for tensor in node.input_tensors:
                owner = keras_internals.producing_layer(tensor).name
                if owner in prefix and all(tensor is not t for t in cut):
                    cut.append(tensor)
                    names.append(owner)
    suffix = _suffix_model(model, cut)
    prefix_outputs = [t for t, n in zip(cut, names) if n not in input_layers]
    prefix_model = keras.Model(model.inputs, prefix_outputs)
    return CachePlan(prefix_model, suffix, names, [layer.name for layer in computed]), ""


class FeatureCache:
    """The frozen prefix's outputs for the session's data, kept while the plan, the model and
    the encoded data stay the same, and recomputed (or refused, with the reason) otherwise.

    `budget`: bytes of features to hold in memory; None follows the machine (MEMORY_SHARE of
    the memory available when the features are computed). `folder`: the disk cache's (see
    disk_cache.open_cache; None: off).
    """

    def __init__(self, budget=None, folder=disk_cache.FROM_ENVIRONMENT):
        self.budget = budget
        self.disk = disk_cache.open_cache(folder)
        self.clear()

    def clear(self):
        """Forget the features (and where the prefix ends): the next fit computes them again."""
        self.key, self.features, self.info = None, None, {}
        self.cut_key, self.cut = None, (None, "")
        self._spill = None  # the temporary folder of spilled features, removed with them

    def prepare(self, model, freeze_plan, encoded, batch_size, report=None, strategy=None):
        """(model to train, its train inputs, its validation inputs, info for the run record).

        `encoded` holds the whole model's "train" and "validation" inputs. With a usable prefix
        the result is the suffix on cached features, else the whole model on `encoded` (as
        model inputs, see `bucketing.as_inputs`). `report(done, total)` is called as examples
        pass the prefix; it may raise to cancel.
        """
        names = input_names(model)
        whole = (model, bucketing.as_inputs(encoded["train"], names), bucketing.as_inputs(encoded["validation"], names))
        plan, reason = self.cut_for(model, freeze_plan)
        if plan is None:
            return (*whole, {"used": False, "reason": reason})
        key = self._key(plan, freeze_plan, model, encoded)
        if key != self.key:
            refusal = self._compute(plan, key, encoded, batch_size, report, strategy)
            if refusal:
                return (*whole, {"used": False, "reason": refusal})
        train, validation = self.features
        return plan.suffix, train, validation, dict(self.info)

    def cut_for(self, model, freeze_plan):
        """(CachePlan, "") for the model as frozen now, or (None, reason); one per plan, since
        each cut adds graph nodes to the model's layers."""
        if (freeze_plan, id(model)) != self.cut_key:
            self.cut_key, self.cut = (freeze_plan, id(model)), plan_cache(model)
        return self.cut

    def cached(self, model, freeze_plan, encoded):
        """(suffix, train features, validation features) when the cache holds this model,
        plan and data, else None: evaluation reuses them instead of rerunning the prefix."""
        plan, _ = self.cut_for(model, freeze_plan)
        if plan is None or self.key != self._key(plan, freeze_plan, model, encoded):
            return None
        return (plan.suffix, *self.features)

    @staticmethod
    def _key(plan, freeze_plan, model, encoded):
        """What the features depend on: the plan, the model, the data, and the prefix's weights
        (a restore or a reset can change frozen weights in place)."""
        return (freeze_plan, id(model), id(encoded["train"]), id(encoded["validation"]), fingerprint(plan.prefix))

    def _compute(self, plan, key, encoded, batch_size, report, strategy=None):
        """Run the prefix over both parts (or read them from the disk cache); returns a refusal
        reason, or "" once stored."""
        started = time.perf_counter()
        parts = [bucketing.as_inputs(encoded[part], input_names(plan.prefix)) for part in ("train", "validation")]
        size = sum(feature_bytes(plan, inputs) for inputs in parts)
        self.key, self.features, self._spill = None, None, None  # free the old features first
        no_disk = self.disk.room_for(size) if self.disk is not None else "off"
        if no_disk:
            refusal, features, spill, spilled = self._in_memory(plan, parts, size, batch_size, report, strategy)
            if refusal:
                return refusal
        else:
            spill, spilled = None, ""
            features, used = self._on_disk(plan, parts, key[-1], batch_size, report, strategy)
        self.key, self.features, self._spill = key, features, spill
        self.info = {"used": True, "cut": plan.cut_names, "cached_layers": len(plan.prefix_layers),
                     "seconds": round(time.perf_counter() - started, 3), "bytes": size,
                     "disk": no_disk or {"folder": str(self.disk.folder), "train": used[0], "validation": used[1]}}
        if spilled:
            self.info["spilled"] = spilled
        return ""

    def _in_memory(self, plan, parts, size, batch_size, report, strategy):
        """(refusal, features, spill folder, spill note): in memory within the budget, else in
        memory-mapped files in a temporary folder, else refused."""
        budget = self.budget if self.budget is not None else int(psutil.virtual_memory().available * MEMORY_SHARE)
        allocate, spill, spilled = None, None, ""
        if size > budget:
            spill = tempfile.TemporaryDirectory(prefix="tune-widgets-cache-")
            free = shutil.disk_usage(spill.name).free
            if size > free * 0.9:
                spill.cleanup()
                return (f"cached features would take {size / 1e9:.2f} GB: over the memory budget "
                        f"({budget / 1e9:.2f} GB) and the free disk ({free / 1e9:.2f} GB)", None, None, "")
            allocate = _memory_mapped(spill.name)
            spilled = (f"{size / 1e9:.2f} GB of features exceed the memory budget "
                       f"({budget / 1e9:.2f} GB): kept in a memory-mapped file in {spill.name}")
        total, done, features = sum(len(inputs[0]) for inputs in parts), 0, []
        for inputs in parts:
            progress = None if report is None else (lambda n, _count, base=done: report(base + n, total))
            features.append(compute_features(plan, inputs, batch_size * 2, progress, allocate, strategy))
            done += len(inputs[0])
        return "", features, spill, spilled

    def _on_disk(self, plan, parts, weights, batch_size, report, strategy):
        """(features, ["hit" or "written" per part]): each part's entry in the disk cache."""
        replicas = strategy.num_replicas_in_sync if strategy is not None else 1
        total, done, features, used = sum(len(inputs[0]) for inputs in parts), 0, [], []
        for inputs in parts:
            progress = None if report is None else (lambda n, _count, base=done: report(base + n, total))
            key = disk_cache.entry_key(plan.prefix, weights, plan.cut_names, inputs, batch_size * 2, replicas)
            outputs, how = self.disk.features(key, bucketing.lengths_of(inputs), lambda allocate: bucketing.infer(
                plan.prefix, inputs, batch_size * 2, progress, ragged=True, allocate=allocate, strategy=strategy))
            done += len(inputs[0])
            if how == "hit" and report is not None:
                report(done, total)
            features.append(_cut_inputs(plan, inputs, outputs))
            used.append(how)
        return features, used


def compute_features(cache_plan, inputs, batch_size=32, report=None, allocate=None, strategy=None):
    """The suffix's inputs: prefix outputs computed once, raw inputs passed through.

    `inputs` are the whole model's inputs in order (see `bucketing.as_inputs`). With a
    tf.distribute `strategy`, each batch of the pass is split across its replicas.
    """
    return _cut_inputs(cache_plan, inputs, bucketing.infer(cache_plan.prefix, inputs, batch_size, report, ragged=True,
                                                           allocate=allocate, strategy=strategy))


def _cut_inputs(cache_plan, inputs, outputs):
    """The suffix's inputs in order: the prefix's `outputs`, and raw `inputs` passed through."""
    raw, outputs = dict(zip(input_names(cache_plan.prefix), inputs)), iter(outputs)
    return [raw[name] if name in raw else next(outputs) for name in cache_plan.cut_names]


def feature_bytes(cache_plan, inputs):
    """Bytes the prefix's outputs for `inputs` will take, known before running it."""
    count, lengths = len(inputs[0]), bucketing.lengths_of(inputs)
    total = 0
    for tensor, known in zip(cache_plan.prefix.outputs, _output_shapes(cache_plan.prefix, inputs)):
        tail, dtype = tuple(known[1:]), tensor.dtype
        if lengths is not None and bucketing.is_per_token(tensor, cache_plan.prefix):
            limit = max(v.array.shape[1] for v in inputs if isinstance(v, bucketing.Padded))
            total += bucketing.Ragged.size(lengths, limit, tail[1:], dtype)
        else:
            total += count * math.prod(tail) * np.dtype(dtype).itemsize
    return total


def _output_shapes(prefix, inputs):
    """The prefix's output shapes for these inputs: a fully convolutional backbone (KerasHub's
    ResNet) leaves its spatial sizes unknown until it sees the pictures' size."""
    if all(None not in tensor.shape[1:] for tensor in prefix.outputs) or bucketing.lengths_of(inputs) is not None:
        return [tensor.shape for tensor in prefix.outputs]
    sample = [keras.KerasTensor((1, *np.shape(value)[1:]), tensor.dtype) for value, tensor in zip(inputs, prefix.inputs)]
    return [spec.shape for spec in keras.tree.flatten(prefix.compute_output_spec(sample if len(sample) > 1 else sample[0]))]


def fingerprint(model):
    """A digest of every weight of `model`, bit for bit (about 60 ms for 60 MB here)."""
    digest = hashlib.blake2b(digest_size=16)
    for weight in model.weights:
        value = np.ascontiguousarray(weight.numpy())
        digest.update(f"{value.shape}{value.dtype}".encode())
        digest.update(value.data)
    return digest.hexdigest()


def _memory_mapped(folder):
    """An allocator of zero-filled arrays backed by files in `folder`."""
    serial = iter(range(1 << 30))

    def allocate(shape, dtype):
        path = f"{folder}/features-{next(serial)}.npy"
        return np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=tuple(shape))

    return allocate


def _suffix_model(model, cut):
    """The model from the `cut` tensors to the output, sharing the model's layers.

    Keras clones the graph between intermediate inputs and the output, and while doing so it
    re-points the history of a real `Input` used as is (the padding mask) at the cloned node.
    The model's own input would then name a node the model does not have, and saving the model
    fails ("could not find node key"). The histories are put back once the suffix is built.
    """
    with keras_internals.histories_kept(model.inputs):
        return FineTuneModel(cut, model.output, name=f"{model.name}_suffix")


def _fixed(layer):
    """Frozen, with nothing inside that trains: a frozen block holding LoRA adapters is not."""
    return not getattr(layer, "trainable", True) and not any(weight.trainable for weight in _weights(layer))


def _weights(operation):
    """A layer's weights; a plain op (keras.ops.multiply in a graph) has none."""
    return getattr(operation, "weights", ())


def _per_example(layer, own):
    """Whether each output of `layer` has a row per example: what the cache stores. An output
    without a batch axis (DeBERTa's relative-position table) stays in the trained part."""
    return all(tensor.shape and tensor.shape[0] is None for node in keras_internals.inbound_nodes(layer)
               if id(node) in own for tensor in keras.tree.flatten(node.output_tensors))


def _parents(node):
    return [keras_internals.producing_layer(t) for t in node.input_tensors]
