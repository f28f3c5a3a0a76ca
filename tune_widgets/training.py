"""The training loop: one `model.fit`, with every feature around it a callback.

Callbacks are Keras callbacks with an `order` (lower runs first) and a `trainer`: the `Trainer`
of the fit in progress, which holds the run record and the stop request. Stopping is a flag
(`stop_requested`, a threading.Event set from any thread); `StopControl` turns it into
`model.stop_training` at the next batch end, so a fit ends within one batch and keeps its
weights. Validation runs in a
callback too, so a stopped fit does not pay for a last validation pass.
"""

import contextlib
import dataclasses
import math
import threading
import time
import uuid

import keras
import tensorflow as tf

from . import bucketing
from .errors import FitError, TuneWidgetsError


@dataclasses.dataclass
class RunRecord:
    """What one fit did: its configuration, its metrics per batch and per epoch, its timing.

    Plain data (`to_dict` is JSON-ready), so runs can be compared, shown and saved.
    """

    config: dict
    run_id: str = dataclasses.field(default_factory=lambda: uuid.uuid4().hex[:8])
    started_at: float = dataclasses.field(default_factory=time.time)
    status: str = "running"  # running, completed, stopped, failed, diverged
    batches: list = dataclasses.field(default_factory=list)  # {"step", "epoch", metrics…, "time"}
    epochs: list = dataclasses.field(default_factory=list)  # {"epoch", metrics…, "val_…", "seconds"}
    total_steps: int = 0
    duration: float = 0.0
    error: str = ""

    @property
    def final(self):
        """The last epoch's metrics, or {} before the first epoch ends."""
        return dict(self.epochs[-1]) if self.epochs else {}

    def to_dict(self):
        return dataclasses.asdict(self)

    def __repr__(self):
        final = ", ".join(f"{k}={v:.4g}" for k, v in self.final.items() if isinstance(v, float))
        return f"RunRecord({self.run_id}, {self.status}, {len(self.epochs)} epochs, {self.duration:.1f}s; {final})"


@contextlib.contextmanager
def fit_stage(run, doing, advice=""):
    """Ends `run` as failed on an error, and turns a foreign error into a FitError that says
    what the fit was doing. The toolkit's own errors and CancelFit pass through unchanged (the
    first stage to see an error records it: stages nest)."""
    try:
        yield
    except CancelFit:
        raise
    except TuneWidgetsError as error:
        if run.status == "running":
            run.status, run.error = "failed", f"{type(error).__name__}: {error}"
        raise
    except Exception as error:
        run.status, run.error = "failed", f"{type(error).__name__}: {error}"
        raise FitError(f"The fit failed while {doing}: {run.error}" + (f"\n{advice}" if advice else "")) from error
    except BaseException as interrupt:  # KeyboardInterrupt, SystemExit: the run ends, the interrupt goes on
        run.status, run.error = "stopped", type(interrupt).__name__
        raise


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

    order = 50
    trainer = None

    def after_fit(self):
        """Called once the fit has ended, however it ended (completed, stopped or failed), while
        the session still counts as training: the place to undo what the fit changed."""


class StopControl(Callback):
    """Turns a stop request into `model.stop_training` at the next batch end."""

    order = 0

    def on_train_batch_end(self, batch, logs=None):
        if self.trainer.stop_requested.is_set():
            self.model.stop_training = True


class Recorder(Callback):
    """Writes batch and epoch metrics into the run record (before any callback that reads it)."""

    order = 10

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

    order = 5

    def __init__(self, x, y, batch_size):
        super().__init__()
        if bucketing.lengths_of(x) is not None:  # text: batches of similar length, trimmed
            self.data = bucketing.Batches(x, y, batch_size, shuffle=False).dataset()
        else:
            self.data = tf.data.Dataset.from_tensor_slices((_packed(x), y)).batch(batch_size).cache()

    def on_epoch_end(self, epoch, logs=None):
        if self.trainer.stop_requested.is_set() or not self.trainer.validate or logs is None:
            return
        results = self.model.evaluate(self.data, verbose=0, return_dict=True)
        logs.update({f"val_{name}": float(value) for name, value in results.items()})


class Progress(Callback):
    """Calls `report(progress)` at most every `interval` seconds, and when the fit ends.

    progress: {"step", "total_steps", "epoch", "epochs", "eta", "elapsed", "status"}. This is what
    live views listen to (the session sends the final report, with the run's end status): throttled here, so a chart costs training nothing per batch and a
    browser on a small laptop is not flooded with redraws.
    """

    order = 90

    def __init__(self, report, interval=0.5):
        super().__init__()
        self.report, self.interval, self.last = report, interval, 0.0

    def _send(self):
        trainer = self.trainer
        step, total = len(trainer.run.batches), trainer.run.total_steps
        elapsed = time.perf_counter() - trainer.started
        eta = elapsed / step * (total - step) if step else None
        self.last = time.perf_counter()
        self.report({"step": step, "total_steps": total, "epoch": len(trainer.run.epochs),
                     "epochs": trainer.epochs, "elapsed": elapsed, "eta": eta, "status": "running"})

    def on_train_begin(self, logs=None):
        self._send()

    def on_train_batch_end(self, batch, logs=None):
        self._maybe_send()

    def on_epoch_end(self, epoch, logs=None):
        self._maybe_send()  # short epochs must not bypass the throttle: the browser pays for each

    def _maybe_send(self):
        if time.perf_counter() - self.last >= self.interval:
            self._send()


class Trainer:
    """Runs one fit: owns the run record, the stop flag and the ordered callbacks.

    `validate` (True) is a flag a callback may clear before the first epoch ends, for a fit
    whose epochs are not worth a validation pass (the LR finder's sweep). `guard_divergence`
    (True) likewise, for a fit that seeks divergence, ends itself on it and puts the weights
    back (the LR finder again): `divergence.DivergenceGuard` then stands aside.
    """

    validate = True
    guard_divergence = True

    def __init__(self, model, x, y, *, run, epochs, batch_size, validation=None, callbacks=(), seed=None,
                 stop_requested=None):
        self.model, self.x, self.y, self.run = model, x, y, run
        self.epochs, self.batch_size, self.seed = epochs, batch_size, seed
        self.stop_requested = stop_requested or threading.Event()
        extra = [Validation(*validation, batch_size)] if validation is not None else []
        self.callbacks = sorted([StopControl(), Recorder(), *extra, *callbacks], key=lambda c: c.order)
        for callback in self.callbacks:
            callback.trainer = self

    def fit(self):
        """Train; return the run record (status completed or stopped; an error propagates)."""
        self.started = time.perf_counter()
        try:
            if self.seed is not None:
                keras.utils.set_random_seed(self.seed)
            if bucketing.lengths_of(self.x) is not None:  # text: batches of similar length, trimmed
                feed = bucketing.Batches(self.x, self.y, self.batch_size, shuffle=True, seed=self.seed)
                self.model.fit(feed.dataset(), epochs=self.epochs, callbacks=self.callbacks, verbose=0, shuffle=False)
            else:
                self.model.fit(_packed(self.x), self.y, epochs=self.epochs, batch_size=self.batch_size,
                               callbacks=self.callbacks, verbose=0, shuffle=True)
            self.run.status = "stopped" if self.stop_requested.is_set() else "completed"
        finally:
            self.run.duration = time.perf_counter() - self.started
            for callback in self.callbacks:
                callback.after_fit()
        return self.run


def _packed(x):
    """A model's inputs as Keras takes them: one array, or a tuple of several."""
    x = list(x) if isinstance(x, (list, tuple)) else [x]
    return x[0] if len(x) == 1 else tuple(x)


def thinned(count, limit):
    """At most `limit` evenly spaced indices of range(count), the last one always included:
    long runs keep their shape in a chart or a metrics file at a bounded size."""
    stride = max(1, -(-count // limit))
    return list(range(count - 1, -1, -stride))[::-1]


def final_progress(run, last):
    """The last progress report of `run`, whatever stage it ended in (`last`: the one before)."""
    return {**last, "step": len(run.batches), "total_steps": run.total_steps, "epoch": len(run.epochs),
            "epochs": run.config.get("epochs", 0), "eta": None, "elapsed": run.duration, "status": run.status}
