"""Training callbacks: the base every training feature extends, the order they run in, and
the callbacks every fit has (stop, record, validate).
"""

import math
import time

import keras
import tensorflow as tf

from ..data import bucketing


class Order:
    """When each callback runs within an event: lower first. Named here, in one place, so a new
    feature picks its slot between the ones it depends on."""

    STOP = 0  # the stop request becomes model.stop_training before anything else runs
    VALIDATION = 5  # adds val_* to the epoch's logs
    DIVERGENCE = 7  # sees val_loss, and ends a NaN run before its rows are recorded
    RECORDER = 10  # puts the batch and epoch rows into the run record
    RUN_WRITER = 20  # writes what the Recorder put in the record
    LR_FINDER = 25  # reads each batch's loss and may end the sweep: after the batch is written
    FEATURE = 50  # a training feature that does not need a slot of its own
    PROGRESS = 90  # the views hear of a step once everything else has run


class CancelFit(Exception):
    """Raised to end a fit early, on purpose: a stop during the cache pass ends the run as
    `status` "stopped". Subclasses end it otherwise (`divergence.Diverged`: "diverged"), with
    `error` saying why; a stop is not an error."""

    status = "stopped"

    @property
    def error(self):
        return ""


class Callback(keras.callbacks.Callback):
    """A training feature. `trainer` is set before the fit starts."""

    order = Order.FEATURE
    trainer = None

    def after_fit(self):
        """Called once the fit has ended, however it ended (completed, stopped or failed), while
        the session still counts as training: the place to undo what the fit changed."""


class StopControl(Callback):
    """Turns a stop request into `model.stop_training` at the next batch end."""

    order = Order.STOP

    def on_train_batch_end(self, batch, logs=None):
        if self.trainer.stop_requested.is_set():
            self.model.stop_training = True


class Recorder(Callback):
    """Writes batch and epoch metrics into the run record (before any callback that reads it)."""

    order = Order.RECORDER

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch, self.epoch_started = epoch, time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        run = self.trainer.run
        row = {"step": len(run.batches) + 1, "epoch": self.epoch}
        row.update({k: _finite(v) for k, v in (logs or {}).items()})
        row["time"] = time.perf_counter() - self.trainer.started
        run.batches.append(row)

    def on_epoch_end(self, epoch, logs=None):
        row = {"epoch": epoch, **{k: _finite(v) for k, v in (logs or {}).items()}}
        row["seconds"] = time.perf_counter() - self.epoch_started
        self.trainer.run.epochs.append(row)


def _finite(value):
    """A metric as a float, or None when it is NaN or inf: run records stay strict JSON (the
    losses never get here non-finite: `divergence.DivergenceGuard` ends the run first)."""
    value = float(value)
    return value if math.isfinite(value) else None


class Validation(Callback):
    """Evaluates on the validation data after each full epoch; skipped once a stop is asked.

    The data is batched into a cached tf.data pipeline once per fit: evaluating from numpy
    arrays rebuilds an input pipeline every epoch, which cost 5 % of a small model's epoch.
    """

    order = Order.VALIDATION

    def __init__(self, x, y, batch_size):
        super().__init__()
        if bucketing.lengths_of(x) is not None:  # text: batches of similar length, trimmed
            self.data = bucketing.Batches(x, y, batch_size, shuffle=False).dataset()
        else:
            self.data = tf.data.Dataset.from_tensor_slices((packed(x), y)).batch(batch_size).cache()

    def on_epoch_end(self, epoch, logs=None):
        if self.trainer.stop_requested.is_set() or not self.trainer.validate or logs is None:
            return
        results = self.model.evaluate(self.data, verbose=0, return_dict=True)
        logs.update({f"val_{name}": float(value) for name, value in results.items()})


def packed(x):
    """A model's inputs as Keras takes them: one array, or a tuple of several."""
    x = list(x) if isinstance(x, (list, tuple)) else [x]
    return x[0] if len(x) == 1 else tuple(x)
