"""Layer signals: which layers learn during a fit, and how far each has moved since it was loaded.

`LayerSignals` samples, every few optimizer steps, each layer's update ratio ‖Δw‖ / ‖w‖ over
one step and its gradient norm on a fixed probe batch (held out: the first validation batch),
and the same for each sublayer of a block (a transformer layer's query, key, value, ...): the
rows the layer map shows when a block is opened. The probe gradient is taken in inference mode,
so measuring draws no dropout randomness and moves no BatchNorm statistics: a fit sampled at
every step trains exactly as one sampled once. The interval widens by itself to keep the
sampling under COST_SHARE of the training time. Samples go into the run record's `layer_signals` (plain data,
written to the run folder by `runs/writer.py`); at the end of the fit each layer's drift from
its loaded weights is added (see `models/reset.py`).

A layer the fit does not train (frozen, or below the cached prefix) gets exactly zero: nothing
of it is measured, so nothing of it can be mistaken for learning.
"""

import math
import time
import weakref

import keras
import numpy as np
import tensorflow as tf

from ..data import bucketing
from ..errors import ConfigError
from ..models import keras_internals
from ..runs.record import empty_signals
from .callbacks import Callback, Order, Validation, packed

EVERY = 10  # batches between samples, at least
COST_SHARE = 0.04  # of the training time the sampling may take; the interval widens to keep under it
_COMPILED = weakref.WeakKeyDictionary()  # model: (what it was traced for, the gradient function)


def weight_parts(layer):
    """[(path, variables)]: the weights of `layer` grouped by the sublayer that made them, in the
    order they were made, keyed by that sublayer's Keras path (the path `Session.lora_targets`
    and the layer map give it). A plain layer is one part, itself."""
    made_by = {}
    for sub in keras_internals.sublayers(layer, include_self=True, recursive=True):
        for variable in (*keras_internals.own_trainable_variables(sub), *keras_internals.own_non_trainable_variables(sub)):
            made_by.setdefault(id(variable), sub.path or sub.name)
    found = {}
    for variable in layer.weights:
        found.setdefault(made_by.get(id(variable), layer.path or layer.name), []).append(variable)
    return list(found.items())


class LayerSignals(Callback):
    """Samples the update ratio and gradient norm of every top-level layer of the session's model,
    and of the sublayers of those that are blocks (in the sample's "parts").

    every: batches between samples, widened to keep their cost under `cost_share` of the training
    time (None: never widened); the first batch is always sampled. Each sample holds, per layer,
    "update_ratio", "weight_norm", and on the probe batch "grad_norm" and "descent" (the step's
    first-order lowering of the loss); gradients=False leaves those two out (None). A layer's
    figures are its sublayers' taken together (‖Δw‖ over all the weights it trains, and so on).
    `starting_point` (a models.reset.StartingPoint, set by the Fit) gives the drift at the end.
    """

    order = Order.SIGNALS

    def __init__(self, every=EVERY, gradients=True, cost_share=COST_SHARE):
        super().__init__()
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ConfigError(f"LayerSignals(every=...) takes a whole number of batches ≥ 1, got {every!r}.")
        self.every, self.gradients, self.cost_share = every, gradients, cost_share
        self.starting_point = None

    def on_train_begin(self, logs=None):
        trainer = self.trainer
        layers = trainer.whole.layers
        trained = {id(variable) for variable in self.model.trainable_variables}
        self.units, paths, owners = [], [], []  # unit: (layer index, part index or None, variables trained)
        self.loaded = [weight_parts(layer) for layer in layers]
        for index, parts in enumerate(self.loaded):
            block = len(parts) > 1 or any(path != (layers[index].path or layers[index].name) for path, _ in parts)
            for path, variables in parts:
                part = None
                if block:
                    part = len(paths)
                    paths.append(path)
                    owners.append(index)
                variables = [v for v in variables if id(v) in trained]
                if variables:
                    self.units.append((index, part, variables))
        trainer.run.layer_signals = empty_signals([layer.name for layer in layers], (paths, owners))
        self.next_step, self.before, self.spent = 1, None, 0.0
        self.probe = self._probe_batch() if self.gradients else None
        self.compiled = None

    def on_train_batch_begin(self, batch, logs=None):
        if len(self.trainer.run.batches) + 1 < self.next_step:  # the step about to run is not due
            return
        started = time.perf_counter()
        self.before = [[tf.identity(v.value) for v in variables] for _, _, variables in self.units]
        self.spent = time.perf_counter() - started

    def on_train_batch_end(self, batch, logs=None):
        if self.before is None:
            return
        started = time.perf_counter()
        run, signals = self.trainer.run, self.trainer.run.layer_signals
        deltas = [[v.value - b for v, b in zip(variables, before)] for (_, _, variables), before in zip(self.units, self.before)]
        self.before = None
        moved = [_squares(delta) for delta in deltas]
        sizes = [_squares([v.value for v in variables]) for _, _, variables in self.units]
        moved_by_layer, size_by_layer = self._per_layer(moved), self._per_layer(sizes)
        ratio = [math.sqrt(m / z) if z else 0.0 for m, z in zip(moved_by_layer, size_by_layer)]
        norm = [math.sqrt(z) for z in size_by_layer]
        parts = {"update_ratio": self._per_part([math.sqrt(m / z) if z else 0.0 for m, z in zip(moved, sizes)]),
                 "grad_norm": None}
        sample = {"step": len(run.batches), "epoch": run.batches[-1]["epoch"] if run.batches else 0,
                  "update_ratio": ratio, "weight_norm": norm, "grad_norm": None, "descent": None}
        if self.gradients:
            grads, descents = self._gradients(deltas)
            sample["grad_norm"] = [math.sqrt(g) for g in self._per_layer([g * g for g in grads])]
            sample["descent"] = self._per_layer(descents)
            parts["grad_norm"] = self._per_part(grads)
        sample["parts"] = {key: _finite_list(value) for key, value in parts.items()}
        signals["samples"].append({key: value if key in ("step", "epoch", "parts") else _finite_list(value)
                                   for key, value in sample.items()})
        self.spent += time.perf_counter() - started
        signals["seconds"] += self.spent  # what sampling has cost this fit so far
        self.next_step = sample["step"] + self._gap(sample["step"])

    def on_train_end(self, logs=None):
        if self.starting_point is not None:
            started, signals = time.perf_counter(), self.trainer.run.layer_signals
            found = self.starting_point.distances(
                [((index, path), variables) for index, parts in enumerate(self.loaded) for path, variables in parts])
            moved, loaded, by_path = [0.0] * len(self.loaded), [0.0] * len(self.loaded), {}
            for (index, path), (distance, size) in found:
                moved[index] += distance * distance
                loaded[index] += size * size
                by_path[path] = _ratio(distance, size)
            signals["drift"] = _finite_list(_ratio(math.sqrt(m), math.sqrt(z)) for m, z in zip(moved, loaded))
            signals["loaded_norm"] = _finite_list(math.sqrt(z) for z in loaded)
            signals["parts"]["drift"] = _finite_list(by_path.get(path, 0.0) for path in signals["parts"]["paths"])
            signals["seconds"] += time.perf_counter() - started

    def _per_layer(self, values):
        """Per-unit values summed into one per layer (zero for a layer with none)."""
        total = [0.0] * len(self.loaded)
        for (index, _, _), value in zip(self.units, values):
            total[index] += value
        return total

    def _per_part(self, values):
        """Per-unit values of the blocks' sublayers, in the order of `parts["paths"]` (zero for a
        sublayer this fit does not train)."""
        found = [0.0] * len(self.trainer.run.layer_signals["parts"]["paths"])
        for (_, part, _), value in zip(self.units, values):
            if part is not None:
                found[part] = value
        return found

    def _gap(self, step):
        """Batches to the next sample: `every`, or more when this sample cost more than
        `cost_share` of the training time the gap stands for (at the mean of the latest steps)."""
        times = [row["time"] for row in self.trainer.run.batches[-self.every - 1:]]
        step_seconds = (times[-1] - times[0]) / (len(times) - 1) if len(times) > 1 else None
        if not step_seconds or self.cost_share is None:
            return self.every
        return max(self.every, math.ceil(self.spent / (self.cost_share * step_seconds)))

    def _probe_batch(self):
        """(inputs, labels): the first validation batch, fixed for the whole fit, so that descent
        counts what generalises (a block memorising the training batches lowers no held-out
        loss); the first training batch when the fit has no validation data."""
        trainer = self.trainer
        held = next((c for c in trainer.callbacks if isinstance(c, Validation)), None)
        if held is not None:
            return next(iter(held.data))
        if bucketing.lengths_of(trainer.x) is not None:
            return next(iter(bucketing.Batches(trainer.x, trainer.y, trainer.batch_size, shuffle=False).dataset()))
        x = packed(trainer.x)
        first = tuple(part[:trainer.batch_size] for part in x) if isinstance(x, tuple) else x[:trainer.batch_size]
        return first, np.asarray(trainer.y[:trainer.batch_size])

    def _gradients(self, deltas):
        """(gradient norm, descent) per unit on the probe batch: descent is −⟨gradient, update⟩,
        how much the step lowered the probe batch's loss to first order."""
        if self.compiled is None:
            self.compiled = gradient_function(self.model, [variables for _, _, variables in self.units])
        norms, descents = self.compiled(*self.probe, deltas)
        return [float(n) for n in norms], [float(d) for d in descents]


def gradient_function(model, groups):
    """A compiled function of (inputs, labels, updates per group) giving, per group of variables,
    the loss gradient's norm and −⟨gradient, update⟩, in inference mode. Kept with the model for
    the next fit of the same variables and loss: tracing it costs about a second for two MiniLM
    blocks, which a short fit (a sweep point, the probe) would pay every time."""
    key = (tuple(id(v) for group in groups for v in group), tuple(len(group) for group in groups),
           type(model.loss).__name__, repr(_config(model.loss)))
    kept = _COMPILED.get(model)
    if kept is not None and kept[0] == key:
        return kept[1]
    measure = _trace(model, groups)
    _COMPILED[model] = (key, measure)
    return measure


def _config(loss):
    return loss.get_config() if hasattr(loss, "get_config") else loss


def _trace(model, groups):
    loss = keras.losses.get(model.loss) if isinstance(model.loss, str) else model.loss
    flat = [v for group in groups for v in group]
    held = weakref.ref(model)  # the function is kept with the model, so it must not keep the model alive

    @tf.function(reduce_retracing=True)
    def measure(inputs, labels, deltas):
        with tf.GradientTape() as tape:
            value = loss(labels, held()(inputs, training=False))
        grads = tape.gradient(value, flat)
        norms, descents, start = [], [], 0
        for group, delta in zip(groups, deltas):
            pairs = list(zip(grads[start:start + len(group)], delta))
            start += len(group)
            norms.append(tf.sqrt(tf.add_n([tf.reduce_sum(tf.square(g)) for g, _ in pairs if g is not None]
                                          or [tf.constant(0.0)])))
            descents.append(-tf.add_n([tf.reduce_sum(g * d) for g, d in pairs if g is not None] or [tf.constant(0.0)]))
        return norms, descents

    return measure


def _finite(value):
    value = float(value)
    return value if math.isfinite(value) else None


def _finite_list(values):
    return None if values is None else [_finite(value) for value in values]


def _squares(tensors):
    """Σ of squares over the tensors, as one float."""
    return sum(float(tf.reduce_sum(tf.square(t))) for t in tensors)


def _ratio(distance, size):
    return distance / size if size else distance


def drift(session):
    """{layer name: ‖w − w₀‖ / ‖w₀‖}: how far each layer of the model has moved from the weights
    `reset()` returns to (zero after it). `Session.drift` is this function."""
    return session.starting_point.drift(session.require_model())
