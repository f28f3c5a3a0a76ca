"""Training callbacks: the base every training feature extends, the order they run in, the
callbacks every fit has (stop, record, validate), and the one that runs plain Keras callbacks.
"""

import math
import time

import keras
import tensorflow as tf

from ..data import bucketing
from ..models import keras_internals
from ..errors import ConfigError

RATE_SETTERS = (keras.callbacks.ReduceLROnPlateau, keras.callbacks.LearningRateScheduler)


class Order:
    """When each callback runs within an event: lower first. Named here, in one place, so a new
    feature picks its slot between the ones it depends on."""

    STOP = 0  # the stop request becomes model.stop_training before anything else runs
    VALIDATION = 5  # adds val_* to the epoch's logs
    DIVERGENCE = 7  # sees val_loss, and ends a NaN run before its rows are recorded
    RECORDER = 10  # puts the batch and epoch rows into the run record
    SIGNALS = 15  # samples the layer signals into the record after the step's row, before the writer
    RUN_WRITER = 20  # writes what the Recorder put in the record
    LR_FINDER = 25  # reads each batch's loss and may end the sweep: after the batch is written
    FEATURE = 50  # a training feature that does not need a slot of its own
    PROGRESS = 90  # the views hear of a step once the rest of ours has run
    KERAS = 100  # plain keras.callbacks.Callbacks (EarlyStopping, a user's own): after all of ours


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


def check_callbacks(callbacks, optimizer):
    """The callbacks of a fit as a list, refused with the fix before it starts: anything but
    callback instances, and one that sets the learning rate while a schedule (`optimizer`, an
    OptimizerSpec) sets it every step, which Keras refuses mid-fit."""
    if isinstance(callbacks, keras.callbacks.Callback):
        raise ConfigError(f"callbacks takes a list: callbacks=[{type(callbacks).__name__}(...)].")
    for callback in callbacks:
        if isinstance(callback, type) and issubclass(callback, keras.callbacks.Callback):
            raise ConfigError(f"callbacks holds the class {callback.__name__}, not an instance of it: pass "
                              f"{callback.__name__}(...).")
        if not isinstance(callback, keras.callbacks.Callback):
            raise ConfigError(f"callbacks must be keras.callbacks.Callback instances, not {type(callback).__name__} "
                              f"({callback!r}): subclass keras.callbacks.Callback and pass an instance.")
        name = type(callback).__name__
        if isinstance(callback, RATE_SETTERS) and optimizer.schedule != "constant":
            raise ConfigError(f"{name} sets the learning rate, but the {optimizer.schedule} schedule sets it at every "
                              f"step. Choose session.set_optimizer(schedule='constant') to let {name} set it, or "
                              f"leave {name} out.")
    return list(callbacks)


class KerasCallbacks(Callback):
    """A fit's plain Keras callbacks (EarlyStopping, ReduceLROnPlateau, a user's own), in their
    given order, after all of ours: they see the epoch's logs whole (val_* too).

    They see the session's whole model, as in plain Keras, also where the fit trains only its
    suffix over cached features (`trainer.whole` is then not `self.model`): for the fit, the
    whole model holds the suffix's optimizer, and what a callback sets on it (stop_training,
    BackupAndRestore's first epoch) reaches the model that trains. A stop that one of them
    asks for ends the run as "completed", the callback named in its record's `ended_early`.
    The validation pass is ours, so their on_test_* hooks are not called.
    """

    order = Order.KERAS

    def __init__(self, callbacks):
        super().__init__()
        self.callbacks, self.epoch = list(callbacks), 0
        self.lent = None  # (the whole model, its own optimizer or None) while it holds the fit's

    def set_params(self, params):
        super().set_params(params)
        for callback in self.callbacks:
            callback.set_params(params)

    def set_model(self, model):
        super().set_model(model)
        whole = self.trainer.whole
        if whole is not model:
            self.lent = (whole, getattr(whole, "optimizer", None))
            whole.optimizer = model.optimizer
        for callback in self.callbacks:
            callback.set_model(whole)

    def on_train_begin(self, logs=None):
        self.trainer.whole.stop_training = False  # asked in an earlier fit: not this one's
        self._each("on_train_begin", logs)

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        self._each("on_epoch_begin", epoch, logs)

    def on_train_batch_begin(self, batch, logs=None):
        self._each("on_train_batch_begin", batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        self._each("on_train_batch_end", batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._each("on_epoch_end", epoch, logs)

    def on_train_end(self, logs=None):
        self._each("on_train_end", logs)

    def _each(self, hook, *args):
        trained, whole, trainer = self.model, self.trainer.whole, self.trainer
        for callback in self.callbacks:
            stopping = trained.stop_training
            getattr(callback, hook)(*args)
            if whole is not trained:
                trained.stop_training = trained.stop_training or whole.stop_training
                keras_internals.set_initial_epoch(trained, keras_internals.initial_epoch(whole))
            if trained.stop_training and not stopping and not trainer.stop_requested.is_set() \
                    and not trainer.run.ended_early:
                trainer.run.ended_early = f"{type(callback).__name__} stopped the fit in epoch {self.epoch + 1}"

    def after_fit(self):
        if self.lent is not None:
            whole, own = self.lent
            if own is None:
                del whole.optimizer
            else:
                whole.optimizer = own
        for model in (self.trainer.whole, self.model):
            if model is not None:
                keras_internals.set_initial_epoch(model, None)  # Keras keeps BackupAndRestore's: the next fit would start there too


def packed(x):
    """A model's inputs as Keras takes them: one array, or a tuple of several."""
    x = list(x) if isinstance(x, (list, tuple)) else [x]
    return x[0] if len(x) == 1 else tuple(x)
