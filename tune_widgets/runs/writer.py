"""Writing a run as it trains: the run store's callback (metrics, status, weights) and the
optional TensorBoard event files."""

import contextlib
import functools
import math
import os
import shutil
import time
from pathlib import Path

import h5py
import numpy as np

from ..models import keras_internals
from ..models.snapshot import WeightSnapshot
from ..saving.atomic import fsync, fsync_folder, temporary_path
from ..training.callbacks import Callback, Order
from .config import signature
from .folder import BEST, config_file, dumps, read_json, status_file, unwritable, write_json
from .record import thinned

BATCH_ROWS_PER_EPOCH = 50  # batch rows kept per epoch on disk (evenly spaced, the last included)
SAVE_TIME_SHARE = 0.1  # weight saves may take this share of the training time (see RunWriter)
CHEAP_SAVE = 0.05  # seconds: a save this quick happens at every epoch end
WRITE_SPEED = 200e6  # bytes a second: a save's cost guessed from the model's size, until one is timed


def _writes(hook):
    """A hook of RunWriter whose OSError (a folder become read-only, a full disk) ends the fit
    with the store's RunError naming the folder, not a raw error from inside a file."""
    @functools.wraps(hook)
    def writing(self, *args, **kwargs):
        try:
            return hook(self, *args, **kwargs)
        except OSError as error:
            raise unwritable(self.folder, error) from None
    return writing


class RunWriter(Callback):
    """Writes the run into its folder as it trains: at each epoch end its metrics and status, and
    its weights whenever saving them keeps within SAVE_TIME_SHARE of the training time.

    A small model's weights are saved every epoch. A large one's (MiniLM: 90 MB, about a second)
    would cost more than a cached epoch, so they are spaced out; a best epoch in between is kept
    in memory (its unfrozen layers: frozen ones cannot change during a fit) and written with the
    next save. The fit's end always saves, but after the session is idle: `on_train_end` only
    copies the weights (a memory copy, not a 0.4 s file write on a Stop click) and `finish`
    writes them; the status says "saving", then "saved". `model` is the session's whole model:
    with the feature cache the fit trains only its suffix, whose weights file would be laid out
    otherwise.
    """

    order = Order.RUN_WRITER

    def __init__(self, folder, model, tensorboard=False, keep_weights=True):
        super().__init__()
        self.folder, self.whole, self.keep_weights = Path(folder), model, keep_weights
        self.signature = signature(model)
        self.written = 0  # batch rows of the run record already written
        self.signals_written = None  # signal samples already written (None: not even the layer names)
        self.saved_step = 0
        self.best, self.best_marks, self.pending_best = math.inf, None, None
        self.held = []  # the final saves' (path, weight values, marks), written by finish()
        self.save_seconds = sum(np.dtype(v.dtype).itemsize * math.prod(v.shape) for v in model.weights) / WRITE_SPEED
        self.tensorboard = TensorBoardLog(self.folder / "tensorboard") if tensorboard else None

    @_writes
    def on_train_begin(self, logs=None):
        write_json(self.folder / "config.json", config_file(self.trainer.run))  # now with the cache decision
        self.last_save = time.perf_counter()

    @_writes
    def on_epoch_end(self, epoch, logs=None):
        run = self.trainer.run
        self._append(run, run.epochs[-1] if run.epochs else None)
        row = run.epochs[-1] if run.epochs else {}
        score = row.get(BEST)
        improved = isinstance(score, float) and math.isfinite(score) and score < self.best
        if improved:
            self.best, self.best_marks = score, self._marks(run)
        if self.keep_weights and self._due():
            self._save(run, best_too=improved)
        elif self.keep_weights and improved:
            self.pending_best = WeightSnapshot.of_training_layers(self.whole)
        self._status(run)

    @_writes
    def on_train_end(self, logs=None):
        run = self.trainer.run
        if len(run.batches) > self.written:  # stopped inside an epoch
            self._append(run, None)
        self._append_signals(run, drift=True)
        if self.keep_weights and (self.saved_step != len(run.batches) or self.pending_best is not None):
            self._hold(run)
        run.weights = ("saving" if self.held else "saved") if self.keep_weights else ""
        self._status(run)
        if self.tensorboard is not None:
            self.tensorboard.close()

    def _hold(self, run):
        """Copy what the final save writes: the last weights and, when the best epoch is not the
        last, the best one (the last values with its trained layers' values over them)."""
        last, marks = WeightSnapshot.of(self.whole).values, self._marks(run)
        best = self.folder / "best.weights.h5"
        current_best = self.best_marks is not None and self.best_marks["step"] == marks["step"]
        self.held = [(self.folder / "last.weights.h5", last, marks, best if current_best else None)]
        if self.pending_best is not None and not current_best:
            self.held.append((best, {**last, **self.pending_best.values}, self.best_marks, None))
        self.pending_best = None

    @_writes
    def finish(self):
        """Write the weights `on_train_end` held, then the status saying they are on disk."""
        if not self.held:
            return
        for path, values, marks, also in self.held:
            save_weights(self.whole, path, marks, also=also, values=values)
        self.saved_step, self.held = self.held[0][2]["step"], []
        self.trainer.run.weights = "saved"
        write_json(self.folder / "status.json", {**read_json(self.folder / "status.json"), "step": self.saved_step,
                                                 "weights": "saved", "updated_at": time.time()})

    def _due(self):
        return self.save_seconds <= CHEAP_SAVE or time.perf_counter() - self.last_save >= self.save_seconds / SAVE_TIME_SHARE

    def _marks(self, run):
        return {"step": len(run.batches), "epochs": len(run.epochs), "signature": self.signature, "run_id": run.run_id}

    def _append(self, run, epoch_row):
        step = len(run.batches)
        rows = [{"type": "batch", **run.batches[self.written + i]}
                for i in thinned(step - self.written, BATCH_ROWS_PER_EPOCH)]
        if epoch_row is not None:
            rows.append({"type": "epoch", "step": step, **epoch_row})
        append_lines(self.folder / "metrics.jsonl", rows)
        if self.tensorboard is not None:
            self.tensorboard.write(rows)
        self.written = step
        self._append_signals(run)

    def _append_signals(self, run, drift=False):
        """signals.jsonl: the layer names once, then each new sample (see training/signals.py),
        and at the end the drift; TensorBoard gets each layer's figures under signals/."""
        signals = run.layer_signals
        if not signals:
            return
        rows = [] if self.signals_written is not None else [
            {"type": "layers", "layers": signals["layers"],
             "parts": {key: signals["parts"][key] for key in ("paths", "owners")}}]
        new = signals["samples"][self.signals_written or 0:]
        rows += [{"type": "sample", **sample} for sample in new]
        if drift and signals.get("drift") is not None:
            rows.append({"type": "drift", "step": len(run.batches), "drift": signals["drift"],
                         "loaded_norm": signals["loaded_norm"], "part_drift": signals["parts"]["drift"],
                         "seconds": signals["seconds"]})
        if rows:
            append_lines(self.folder / "signals.jsonl", rows)
        if self.tensorboard is not None:
            self.tensorboard.write_signals(signals["layers"], signals["parts"]["paths"], rows)
        self.signals_written = len(signals["samples"])

    def _save(self, run, best_too):
        """last.weights.h5 now (and best.weights.h5 with it when this is the best epoch), then a
        best epoch kept in memory, put back into the model just long enough to write it."""
        started = time.perf_counter()
        if self.pending_best is not None and self.best_marks["step"] == len(run.batches):
            best_too, self.pending_best = True, None  # the best epoch is the current state: one file, two names
        save_weights(self.whole, self.folder / "last.weights.h5", self._marks(run),
                     also=self.folder / "best.weights.h5" if best_too else None)
        if self.pending_best is not None and not best_too:
            now = WeightSnapshot.of_training_layers(self.whole)
            self.pending_best.restore(self.whole)
            try:
                save_weights(self.whole, self.folder / "best.weights.h5", self.best_marks)
            finally:
                now.restore(self.whole)
        self.pending_best = None
        self.saved_step = len(run.batches)
        self.last_save = time.perf_counter()
        self.save_seconds = self.last_save - started

    def _status(self, run):
        best = None if self.best_marks is None else {
            "epoch": self.best_marks["epochs"] - 1, BEST: self.best,
            **_validation(run.epochs, self.best_marks["epochs"] - 1)}
        run.duration = time.perf_counter() - self.trainer.started
        write_json(self.folder / "status.json", status_file(run, step=self.saved_step, best=best, weights=run.weights))


def _validation(epochs, epoch):
    row = next((r for r in epochs if r.get("epoch") == epoch), {})
    return {k: v for k, v in row.items() if k.startswith("val_") and k != BEST}


def append_lines(path, rows):
    """Append JSON lines and fsync them: on disk before the weights that follow them."""
    text = "".join(dumps(row) + "\n" for row in rows)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


def save_weights(model, path, marks, also=None, values=None):
    """`model.save_weights` to `path` atomically, marked with `marks`; `also`, when given, gets
    the same file (a hard link where the file system allows, else a copy). `values` ({variable
    path: array}): the weights to write instead of the model's current ones."""
    path = Path(path)
    temporary = temporary_path(path)
    copies = []
    try:
        if values is None:
            model.save_weights(temporary)
        else:
            keras_internals.save_weights_as_of(model, values, temporary)
        with h5py.File(temporary, "r+") as handle:
            for key, value in marks.items():
                handle.attrs[f"tune_widgets_{key}"] = value
        fsync(temporary)
        if also is not None:
            copy = temporary_path(also)
            copies.append(copy)
            try:
                os.link(temporary, copy)
            except OSError:
                shutil.copyfile(temporary, copy)
                fsync(copy)
        os.replace(temporary, path)  # last first: a crash between the two keeps the history's match
        for copy in copies:
            os.replace(copy, also)
    except BaseException:
        for leftover in (temporary, *copies):
            with contextlib.suppress(OSError):
                leftover.unlink()
        raise
    fsync_folder(path.parent)


class TensorBoardLog:
    """TensorBoard event files for a run: train/ and validation/ writers, as Keras lays them out
    (so `val_loss` draws over `loss` as "epoch_loss"). Written with TensorFlow alone: viewing
    them takes the tensorboard package, writing them does not."""

    def __init__(self, folder):
        import tensorflow as tf
        from tensorflow.core.framework import summary_pb2

        self.tf = tf
        self.scalar = summary_pb2.SummaryMetadata(plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"))
        self.writers = {part: tf.summary.create_file_writer(str(folder / part)) for part in ("train", "validation")}

    def write(self, rows):
        for row in rows:
            kind, step = row["type"], row["step"] if row["type"] == "batch" else row["epoch"] + 1
            for key, value in row.items():
                if key in ("type", "step", "epoch", "time", "seconds") or not isinstance(value, (int, float)):
                    continue
                part = "validation" if key.startswith("val_") else "train"
                name = key[4:] if part == "validation" else key
                with self.writers[part].as_default():
                    self.tf.summary.write(f"{kind}_{name}", self.tf.constant(float(value)), step=step,
                                          metadata=self.scalar)
        for writer in self.writers.values():
            writer.flush()

    def write_signals(self, layers, paths, rows):
        """Each layer's and block sublayer's (by path) update ratio and gradient norm at its
        sampled steps, and its drift at the end."""
        with self.writers["train"].as_default():
            for row in rows:
                parts = {**(row.get("parts") or {}), "drift": row.get("part_drift")}  # a sample's, or the end's
                for key in ("update_ratio", "grad_norm", "drift"):
                    for name, value in (*zip(layers, row.get(key) or ()), *zip(paths, parts.get(key) or ())):
                        if value is not None:
                            self.tf.summary.write(f"signals/{key}/{name}", self.tf.constant(float(value)),
                                                  step=row["step"], metadata=self.scalar)
        self.writers["train"].flush()

    def close(self):
        for writer in self.writers.values():
            writer.close()
