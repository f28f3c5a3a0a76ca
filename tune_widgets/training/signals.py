"""Layer signals: which layers learn during a fit, and how far each has moved since it was loaded.

`LayerSignals` samples, every few optimizer steps, each layer's update ratio ‖Δw‖ / ‖w‖ over
one step and its gradient norm on a fixed probe batch (held out: the first validation batch).
The probe gradient is taken in inference mode, so measuring draws no dropout randomness and
moves no BatchNorm statistics: a fit sampled at every step trains exactly as one sampled once. The interval widens by itself to keep the sampling under
COST_SHARE of the training time. Samples go into the run record's `layer_signals` (plain data,
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
from .callbacks import Callback, Order, Validation, packed

EVERY = 10  # batches between samples, at least
COST_SHARE = 0.04  # of the training time the sampling may take; the interval widens to keep under it
_COMPILED = weakref.WeakKeyDictionary()  # model: (what it was traced for, the gradient function)


def empty(names):
    """The `layer_signals` of a run before its first sample."""
    return {"layers": list(names), "samples": [], "drift": None, "seconds": 0.0}


class LayerSignals(Callback):
    """Samples the update ratio and gradient norm of every top-level layer of the session's model.

    every: batches between samples, widened to keep their cost under `cost_share` of the training
    time (None: never widened); the first batch is always sampled. Each sample holds, per layer,
    "update_ratio", "weight_norm", and on the probe batch "grad_norm" and "descent" (the step's
    first-order lowering of the loss); gradients=False leaves those two out (None).
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
        names = [layer.name for layer in trainer.whole.layers]
        trainer.run.layer_signals = empty(names)
        trained = {id(variable) for variable in self.model.trainable_variables}
        own = {layer.name: [v for v in layer.weights if id(v) in trained] for layer in self.model.layers}
        self.variables = [own.get(name, []) for name in names]  # [] for a layer this fit does not train
        self.measured = [i for i, variables in enumerate(self.variables) if variables]
        self.next_step, self.before, self.spent = 1, None, 0.0
        self.probe = self._probe_batch() if self.gradients else None
        self.compiled = None

    def on_train_batch_begin(self, batch, logs=None):
        if len(self.trainer.run.batches) + 1 < self.next_step:  # the step about to run is not due
            return
        started = time.perf_counter()
        self.before = [[tf.identity(v.value) for v in self.variables[i]] for i in self.measured]
        self.spent = time.perf_counter() - started

    def on_train_batch_end(self, batch, logs=None):
        if self.before is None:
            return
        started = time.perf_counter()
        run, count = self.trainer.run, len(self.variables)
        deltas = [[v.value - b for v, b in zip(self.variables[i], before)] for i, before in zip(self.measured, self.before)]
        self.before = None
        ratio, norm = [0.0] * count, [0.0] * count
        for i, delta in zip(self.measured, deltas):
            moved = math.sqrt(sum(float(tf.reduce_sum(tf.square(d))) for d in delta))
            size = math.sqrt(sum(float(tf.reduce_sum(tf.square(v.value))) for v in self.variables[i]))
            ratio[i], norm[i] = (moved / size if size else 0.0), size
        sample = {"step": len(run.batches), "epoch": run.batches[-1]["epoch"] if run.batches else 0,
                  "update_ratio": ratio, "weight_norm": norm, "grad_norm": None, "descent": None}
        if self.gradients:
            sample["grad_norm"], sample["descent"] = self._gradients(deltas)
        run.layer_signals["samples"].append({key: value if value is None or key in ("step", "epoch")
                                             else [_finite(v) for v in value] for key, value in sample.items()})
        self.spent += time.perf_counter() - started
        run.layer_signals["seconds"] += self.spent  # what sampling has cost this fit so far
        self.next_step = sample["step"] + self._gap(sample["step"])

    def on_train_end(self, logs=None):
        if self.starting_point is not None:
            started, signals = time.perf_counter(), self.trainer.run.layer_signals
            drift = self.starting_point.drift(self.trainer.whole)
            signals["drift"] = [_finite(drift.get(name, 0.0)) for name in signals["layers"]]
            signals["seconds"] += time.perf_counter() - started

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
        """(gradient norm, descent) per layer on the probe batch: descent is −⟨gradient, update⟩,
        how much the step lowered the probe batch's loss to first order."""
        if self.compiled is None:
            self.compiled = gradient_function(self.model, [self.variables[i] for i in self.measured])
        norms, descents = [0.0] * len(self.variables), [0.0] * len(self.variables)
        found = self.compiled(*self.probe, deltas)
        for i, norm, descent in zip(self.measured, *found):
            norms[i], descents[i] = float(norm), float(descent)
        return norms, descents


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



def drift(session):
    """{layer name: ‖w − w₀‖ / ‖w₀‖}: how far each layer of the model has moved from the weights
    `reset()` returns to (zero after it). `Session.drift` is this function."""
    return session.starting_point.drift(session.require_model())
