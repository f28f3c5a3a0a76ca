"""Runs on disk: every fit in its own folder, written so that a crash costs at most the epoch
in progress, and read back after a kernel restart.

    <runs_dir>/<YYYYmmdd-HHMMSS>-<run_id>/
        config.json       {"format", "run_id", "started_at", "total_steps", "config"}
        status.json       status, epochs done, best epoch, the process writing the run
        metrics.jsonl     a JSON object a line: the epoch's batch rows (thinned), then its epoch row
        signals.jsonl     the layer names, then each sample of the layer signals, then the drift
                          (see training/signals.py)
        last.weights.h5   the weights at the latest save: each epoch end (spaced out for large
                          models, see RunWriter) and the fit's end
        best.weights.h5   the weights of the epoch with the lowest val_loss so far
        tensorboard/      TensorBoard event files (train/, validation/), with tensorboard=True
        model.keras       an in-memory keras.Model's architecture, written once (see architecture.py)

Every file except the .jsonl ones is replaced atomically: a temporary file in the same folder,
fsync, then `os.replace`, so a crash leaves the previous version whole. They are
appended and fsynced before the weights are replaced, and each weights file records the step
it holds: readers keep the rows up to that step, so the history always matches the weights, and
a torn last line is ignored. The weights files are Keras' own (`model.load_weights` reads them).
JSON is strict: a NaN or infinite metric is written as null.
"""

import contextlib
import dataclasses
import json
import os
import shutil
import socket
import time
import warnings
from pathlib import Path

import h5py
import numpy as np

from ..errors import RunError, StateError, TuneWidgetsWarning
from ..saving.atomic import TEMPORARY
from . import architecture
from .folder import (FORMAT, config_file, read_json, status_file, unwritable,  # noqa: F401 (FORMAT: the store's format)
                     write_json)
from .record import RunRecord, empty_signals
from .writer import RunWriter

LIVE = ("running",)
RUNS_DIR_VARIABLE = "TUNE_WIDGETS_RUNS_DIR"
WEIGHTLESS = {  # purposes keeping no weights
    "lr_find": "an LR finder sweep, whose weights were put back when it ended",
    "suggest_freeze": "suggest_freeze's probe, whose weights were put back when it ended"}


def default_runs_dir():
    """`tune_runs/` in the working directory (beside the notebook), or $TUNE_WIDGETS_RUNS_DIR."""
    return Path(os.environ.get(RUNS_DIR_VARIABLE) or "tune_runs").absolute()


DEFAULT = object()  # a runs_dir not given: default_runs_dir(), as None means "in memory only"


def store_for(runs_dir=DEFAULT):
    """The RunStore a session writes to: `default_store()` unless a runs_dir (or None) is given."""
    return default_store() if runs_dir is DEFAULT else RunStore(runs_dir)


def default_store():
    """The store of `default_runs_dir()`; where that cannot be written (a read-only folder),
    runs stay in memory with a warning rather than the session failing to start."""
    try:
        return RunStore(default_runs_dir())
    except RunError as error:
        warnings.warn(f"{error} Runs are kept in memory only.", TuneWidgetsWarning, stacklevel=3)
        return RunStore(None)


# ---- the store ---------------------------------------------------------------------------------

class RunStore:
    """The runs of a folder (`root`), or of memory alone when `root` is None."""

    def __init__(self, root):
        self.root = None if root is None else Path(root).expanduser().absolute()
        self.folders = {}  # run_id -> folder, for the runs this store has seen
        self.writers = {}  # run_id -> the RunWriter of a run being trained, until finish()
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

    def begin(self, run, model=None):
        """Create the run's folder with its config and status, before the fit starts, and keep
        `model` (the backbone's) when the config says the run keeps its architecture. An error
        leaves nothing behind."""
        if self.root is None:
            return
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(run.started_at))
        folder = self.root / f"{stamp}-{run.run_id}"
        try:
            folder.mkdir(parents=True)
            write_json(folder / "config.json", config_file(run))
            write_json(folder / "status.json", status_file(run))
            keeps = model is not None and run.config["backbone"].get("architecture") == architecture.FILE
            if keeps and run.config.get("purpose") not in WEIGHTLESS:
                architecture.write(folder, model)
        except OSError as error:
            shutil.rmtree(folder, ignore_errors=True)
            raise unwritable(folder, error) from None
        self.folders[run.run_id] = folder

    def callbacks(self, run, model, tensorboard=False):
        """The training callbacks that write `run` as it trains (none in memory)."""
        if run.run_id not in self.folders:
            return []
        keep_weights = run.config.get("purpose") not in WEIGHTLESS
        self.writers[run.run_id] = RunWriter(self.folders[run.run_id], model, tensorboard=tensorboard,
                                             keep_weights=keep_weights)
        return [self.writers[run.run_id]]

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

    def finish(self, run):
        """The run's final weight save, once the session is idle (see RunWriter). Never raises:
        a write that fails warns, and the status keeps saying "saving" with the older weights."""
        writer = self.writers.pop(run.run_id, None)
        if writer is None:
            return
        try:
            writer.finish()
        except RunError as error:
            warnings.warn(f"The final weights of run {run.run_id} were not saved: {error}", TuneWidgetsWarning,
                          stacklevel=2)

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
        saving = self.status.get("weights") == "saving" and _alive(self.status.get("pid"), self.status.get("host"))
        if self.state != "running" and not saving:  # a final save still writing keeps its temporary file
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
                         status=self.state, batches=batches, epochs=epochs, layer_signals=self._signals(step),
                         total_steps=self.meta.get("total_steps", 0), duration=self.status.get("duration", 0.0),
                         error=self.status.get("error", ""), ended_early=self.status.get("ended_early", ""),
                         weights=self.status.get("weights", ""))

    def _signals(self, step):
        """The run's `layer_signals` from signals.jsonl, up to `step` as the metrics are ({} for a
        run written before signals were recorded)."""
        signals = {}
        for row in read_metrics(self.folder / "signals.jsonl"):
            kind = row.pop("type", None)
            if kind == "layers":
                parts = row.get("parts") or {}  # none in a run written before sublayers were sampled
                signals = empty_signals(row["layers"], (parts.get("paths", ()), parts.get("owners", ())))
            elif signals and step is not None and row.get("step", 0) > step:
                break
            elif signals and kind == "sample":
                signals["samples"].append(row)
            elif signals and kind == "drift":
                signals["drift"], signals["seconds"] = row["drift"], row.get("seconds", 0.0)
                signals["loaded_norm"], signals["parts"]["drift"] = row.get("loaded_norm"), row.get("part_drift")
        return signals

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


def delete_run(session, run):
    """Delete a run (its id or RunRecord): its folder and its record. `Session.delete_run` is
    this function."""
    run_id = run.run_id if isinstance(run, RunRecord) else run
    record = next((r for r in session.runs if r.run_id == run_id), None)
    if record is None:
        raise StateError(f"There is no run {run_id!r} in this session.")
    if record.status == "running":
        raise StateError(f"Run {run_id} is still training: stop it before deleting it.")
    session.run_store.delete(run_id)
    session.runs = [r for r in session.runs if r is not record]
    return session
