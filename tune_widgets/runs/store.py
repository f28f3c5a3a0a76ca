"""Runs on disk: every fit in its own folder, written so that a crash costs at most the epoch
in progress, and read back after a kernel restart.

    <runs_dir>/<YYYYmmdd-HHMMSS>-<run_id>/
        config.json       {"format", "run_id", "started_at", "total_steps", "config"}
        status.json       status, epochs done, best epoch, the process writing the run
        metrics.jsonl     a JSON object a line: the epoch's batch rows (thinned), then its epoch row
        last.weights.h5   the weights at the latest save: each epoch end (spaced out for large
                          models, see RunWriter) and the fit's end
        best.weights.h5   the weights of the epoch with the lowest val_loss so far
        tensorboard/      TensorBoard event files (train/, validation/), with tensorboard=True

Every file except metrics.jsonl is replaced atomically: a temporary file in the same folder,
fsync, then `os.replace`, so a crash leaves the previous version whole. metrics.jsonl is
appended and fsynced before the weights are replaced, and each weights file records the step
it holds: readers keep the rows up to that step, so the history always matches the weights, and
a torn last line is ignored. The weights files are Keras' own (`model.load_weights` reads them).
JSON is strict: a NaN or infinite metric is written as null.
"""

import contextlib
import dataclasses
import json
import math
import os
import shutil
import socket
import time
import warnings
from pathlib import Path

import h5py
import numpy as np

from ..atomic import TEMPORARY, atomic_path, fsync, fsync_folder, temporary_path
from ..errors import RunError, TuneWidgetsWarning
from ..snapshot import WeightSnapshot
from ..training import Callback, RunRecord, thinned
from .describe import signature

FORMAT = 1
BATCH_ROWS_PER_EPOCH = 50  # batch rows kept per epoch on disk (evenly spaced, the last included)
BEST = "val_loss"  # lower is better
SAVE_TIME_SHARE = 0.1  # weight saves may take this share of the training time (see RunWriter)
CHEAP_SAVE = 0.05  # seconds: a save this quick happens at every epoch end
WRITE_SPEED = 200e6  # bytes a second: a save's cost guessed from the model's size, until one is timed
LIVE = ("running",)
RUNS_DIR_VARIABLE = "TUNE_WIDGETS_RUNS_DIR"
WEIGHTLESS = {"lr_find": "an LR finder sweep, whose weights were put back when it ended"}  # purposes keeping no weights


def default_runs_dir():
    """`tune_runs/` in the working directory (beside the notebook), or $TUNE_WIDGETS_RUNS_DIR."""
    return Path(os.environ.get(RUNS_DIR_VARIABLE) or "tune_runs").absolute()


def write_json(path, value):
    with atomic_path(path) as temporary:
        temporary.write_text(dumps(value, indent=1))


def dumps(value, **kwargs):
    """Strict JSON: NaN and infinities become null (json.dumps would write invalid tokens)."""
    return json.dumps(plain(value), allow_nan=False, **kwargs)


def plain(value):
    """`value` with numpy scalars made Python ones and non-finite floats made None."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def read_json(path):
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as error:
        raise RunError(f"{path} is damaged ({type(error).__name__}: {error}): this run cannot be read. "
                       f"Its other files are untouched; delete the folder if it is of no use.") from None


# ---- the store ---------------------------------------------------------------------------------

class RunStore:
    """The runs of a folder (`root`), or of memory alone when `root` is None."""

    def __init__(self, root):
        self.root = None if root is None else Path(root).expanduser().absolute()
        self.folders = {}  # run_id -> folder, for the runs this store has seen
        if self.root is not None:
            _check_writable(self.root)

    def __repr__(self):
        return f"RunStore({str(self.root) if self.root else 'in memory'})"

    def records(self):
        """Every run on disk as a RunRecord, oldest first. A damaged folder is skipped with a
        warning and left as it is."""
        if self.root is None or not self.root.is_dir():
            return []
        runs = []
        for folder in sorted(self.root.iterdir()):
            if folder.name.startswith(TEMPORARY) or not (folder / "config.json").exists():
                continue
            try:
                stored = StoredRun.read(folder)
                runs.append(stored.record())
            except RunError as error:
                warnings.warn(f"Skipped the run folder {folder.name}: {error}", TuneWidgetsWarning, stacklevel=3)
                continue
            self.folders[stored.run_id] = folder
        return sorted(runs, key=lambda run: run.started_at)

    def begin(self, run):
        """Create the run's folder with its config and status, before the fit starts. An error
        leaves nothing behind."""
        if self.root is None:
            return
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(run.started_at))
        folder = self.root / f"{stamp}-{run.run_id}"
        try:
            folder.mkdir(parents=True)
            write_json(folder / "config.json", config_file(run))
            write_json(folder / "status.json", status_file(run))
        except OSError as error:
            shutil.rmtree(folder, ignore_errors=True)
            raise RunError(
                f"Cannot write the run to {folder}: {error}. Choose a writable folder with "
                f"Session(runs_dir=...), or runs_dir=None to keep runs in memory only."
            ) from None
        self.folders[run.run_id] = folder

    def callbacks(self, run, model, tensorboard=False):
        """The training callbacks that write `run` as it trains (none in memory)."""
        if run.run_id not in self.folders:
            return []
        keep_weights = run.config.get("purpose") not in WEIGHTLESS
        return [RunWriter(self.folders[run.run_id], model, tensorboard=tensorboard, keep_weights=keep_weights)]

    def end(self, run):
        """Write the run's final status. Never raises: the fit's own outcome comes first."""
        folder = self.folders.get(run.run_id)
        if folder is None:
            return
        try:
            write_json(folder / "status.json", {**_read_status(folder), **status_file(run)})
        except OSError as error:
            warnings.warn(f"Could not write the final status of run {run.run_id} to {folder}: {error}",
                          TuneWidgetsWarning, stacklevel=2)

    def open(self, run):
        """The StoredRun for a run id, a RunRecord, a run folder's name in runs_dir, or its path."""
        if isinstance(run, RunRecord):
            run = run.run_id
        if not isinstance(run, (str, os.PathLike)):
            raise RunError(f"A run is named by its id, its RunRecord or its folder, not a {type(run).__name__}.")
        if isinstance(run, str) and run in self.folders:
            return StoredRun.read(self.folders[run])
        if isinstance(run, str) and self.root is not None and (self.root / run / "config.json").is_file():
            return StoredRun.read(self.root / run)
        path = Path(run).expanduser()
        if isinstance(run, os.PathLike) or os.sep in str(run) or path.is_dir():
            if not (path / "config.json").is_file():
                raise RunError(f"No run folder at {path}: a run folder holds config.json. "
                               f"Check the path{f', or look in {self.root}' if self.root else ''}.")
            return StoredRun.read(path)
        if self.root is None:
            raise RunError(f"There is no run {run!r} on disk: this session keeps runs in memory only "
                           f"(runs_dir=None), without their weights.")
        matches = [f for f in self.root.iterdir() if f.name.endswith(f"-{run}") and (f / "config.json").is_file()
                   ] if self.root.is_dir() else []
        if not matches:
            known = ", ".join(sorted(self.folders)[-5:]) or "none"
            raise RunError(f"No run {run!r} in {self.root}. Known runs: {known}.")
        return StoredRun.read(matches[0])

    def delete(self, run_id):
        """Remove a run's folder: renamed away first (atomic), so it never looks half-deleted."""
        folder = self.folders.pop(run_id, None)
        if folder is None or not folder.exists():
            return
        doomed = folder.with_name(f"{TEMPORARY}deleted-{folder.name}")
        os.replace(folder, doomed)
        shutil.rmtree(doomed, ignore_errors=True)


def _check_writable(root):
    existing = root
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        why = "is not a folder" if not existing.is_dir() else "is not writable"
        raise RunError(
            f"Runs cannot be written to {root}: {existing} {why}. Pass Session(runs_dir=...) a "
            f"writable folder, or runs_dir=None to keep runs in memory only."
        )


def config_file(run):
    return {"format": FORMAT, "run_id": run.run_id, "started_at": run.started_at,
            "total_steps": run.total_steps, "config": run.config}


def status_file(run, **extra):
    return {"status": run.status, "error": run.error, "epochs": len(run.epochs), "duration": run.duration,
            "pid": os.getpid(), "host": socket.gethostname(), "updated_at": time.time(), **extra}


def _read_status(folder):
    try:
        return read_json(folder / "status.json")
    except (FileNotFoundError, RunError):
        return {}


# ---- reading a run back ------------------------------------------------------------------------

@dataclasses.dataclass
class StoredRun:
    """A run folder as read from disk: its config.json and status.json."""

    folder: Path
    meta: dict
    status: dict

    @classmethod
    def read(cls, folder):
        folder = Path(folder)
        try:
            meta = read_json(folder / "config.json")
        except FileNotFoundError:
            raise RunError(f"No run folder at {folder}: a run folder holds config.json.") from None
        if not isinstance(meta, dict) or not isinstance(meta.get("config"), dict) or "run_id" not in meta:
            raise RunError(f"{folder / 'config.json'} is not a tune-widgets run config (no run_id or config): "
                           f"this run cannot be read.")
        return cls(folder, meta, _read_status(folder))

    @property
    def run_id(self):
        return self.meta["run_id"]

    @property
    def config(self):
        return self.meta["config"]

    @property
    def state(self):
        """The status, with a run whose writing process is gone reported as "interrupted"."""
        status = self.status.get("status", "interrupted")
        if status in LIVE and not _alive(self.status.get("pid"), self.status.get("host")):
            return "interrupted"
        return status

    def saved_step(self):
        """The step the last weights hold (0 when none were saved)."""
        return weights_marks(self.folder / "last.weights.h5").get("step", 0)

    def record(self):
        """The run as a RunRecord: its history up to the step its last weights hold."""
        weightless = self.config.get("purpose") in WEIGHTLESS
        step = self.saved_step() if self.state not in LIVE and not weightless else None
        if self.state != "running":
            self.clean()
        batches, epochs = [], []
        for row in read_metrics(self.folder / "metrics.jsonl"):
            kind = row.pop("type", None)
            if step is not None and row.get("step", 0) > step:
                break
            if kind == "batch":
                batches.append(row)
            elif kind == "epoch":
                row.pop("step", None)
                epochs.append(row)
        return RunRecord(config=self.config, run_id=self.run_id, started_at=self.meta.get("started_at", 0.0),
                         status=self.state, batches=batches, epochs=epochs,
                         total_steps=self.meta.get("total_steps", 0), duration=self.status.get("duration", 0.0),
                         error=self.status.get("error", ""))

    def clean(self):
        """Remove temporary files a crashed writer left (the run's own files are never touched)."""
        for leftover in self.folder.glob(f"{TEMPORARY}*"):
            with contextlib.suppress(OSError):
                leftover.unlink()

    def weights(self, which="last"):
        """The path of the `which` ("last" or "best") weights, checked to be readable and marked."""
        if which not in ("last", "best"):
            raise RunError(f"Restore the 'last' or the 'best' weights of a run, not {which!r}.")
        if self.config.get("purpose") in WEIGHTLESS:
            raise RunError(f"Run {self.run_id} is {WEIGHTLESS[self.config['purpose']]}: it keeps no weights to restore.")
        path = self.folder / f"{which}.weights.h5"
        if not path.exists():
            why = ("no epoch ended with a validation loss" if which == "best"
                   else "it ended before its first epoch")
            raise RunError(f"Run {self.run_id} has no {path.name}: {why}.")
        marks = weights_marks(path)
        if not marks:
            raise RunError(f"{path} is damaged or not a tune-widgets weights file: it cannot be restored.")
        if marks.get("signature") != self.config.get("signature"):
            raise RunError(f"{path} holds the weights of a different model than run {self.run_id}'s config.json "
                           f"describes: it cannot be restored.")
        return path


def read_metrics(path):
    """The rows of a metrics.jsonl; a torn or damaged line ends the reading (a crash mid-append)."""
    rows = []
    try:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                if not line.endswith("\n"):
                    break
                try:
                    rows.append(json.loads(line))
                except ValueError:
                    break
    except FileNotFoundError:
        pass
    return rows


def weights_marks(path):
    """{"step", "epochs", "signature", "run_id"} recorded in a weights file, or {} when the file
    is missing or unreadable."""
    try:
        with h5py.File(path, "r") as handle:
            return {key[len("tune_widgets_"):]: _scalar(value) for key, value in handle.attrs.items()
                    if key.startswith("tune_widgets_")}
    except (OSError, ValueError):
        return {}


def _scalar(value):
    value = value.item() if isinstance(value, np.generic) else value
    return value.decode() if isinstance(value, bytes) else value


def _alive(pid, host):
    """Whether the process that writes a run still runs (a run written on another machine is
    assumed to)."""
    if host != socket.gethostname():
        return host is not None
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# ---- writing a run as it trains ----------------------------------------------------------------

class RunWriter(Callback):
    """Writes the run into its folder as it trains: at each epoch end its metrics and status, and
    its weights whenever saving them keeps within SAVE_TIME_SHARE of the training time.

    A small model's weights are saved every epoch. A large one's (MiniLM: 90 MB, about a second)
    would cost more than a cached epoch, so they are spaced out; a best epoch in between is kept
    in memory (its unfrozen layers: frozen ones cannot change during a fit) and written with the
    next save. The fit's end always saves. `model` is the session's whole model: with the
    feature cache the fit trains only its suffix, whose weights file would be laid out otherwise.
    """

    order = 20  # after the Recorder (10), which has put the epoch's row into the run record

    def __init__(self, folder, model, tensorboard=False, keep_weights=True):
        super().__init__()
        self.folder, self.whole, self.keep_weights = Path(folder), model, keep_weights
        self.signature = signature(model)
        self.written = 0  # batch rows of the run record already written
        self.saved_step = 0
        self.best, self.best_marks, self.pending_best = math.inf, None, None
        self.save_seconds = sum(np.dtype(v.dtype).itemsize * math.prod(v.shape) for v in model.weights) / WRITE_SPEED
        self.tensorboard = TensorBoardLog(self.folder / "tensorboard") if tensorboard else None

    def on_train_begin(self, logs=None):
        write_json(self.folder / "config.json", config_file(self.trainer.run))  # now with the cache decision
        self.last_save = time.perf_counter()

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

    def on_train_end(self, logs=None):
        run = self.trainer.run
        if len(run.batches) > self.written:  # stopped inside an epoch
            self._append(run, None)
        if self.keep_weights and (self.saved_step != len(run.batches) or self.pending_best is not None):
            self._save(run, best_too=False)
        self._status(run)
        if self.tensorboard is not None:
            self.tensorboard.close()

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
        write_json(self.folder / "status.json", status_file(run, step=self.saved_step, best=best))


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


def save_weights(model, path, marks, also=None):
    """`model.save_weights` to `path` atomically, marked with `marks`; `also`, when given, gets
    the same file (a hard link where the file system allows, else a copy)."""
    path = Path(path)
    temporary = temporary_path(path)
    copies = []
    try:
        model.save_weights(temporary)
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

    def close(self):
        for writer in self.writers.values():
            writer.close()
