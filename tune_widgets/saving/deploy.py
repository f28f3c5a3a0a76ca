"""`export_model`: one entry point for every deploy format, each a module of its own here
(`savedmodel`, `litert`, `onnx`; "keras" is `model_files.save`).

An export is checked before it is trusted: the artifact is loaded in a fresh process that imports
neither tune-widgets nor Keras (`runtime_check.py`: TensorFlow, ai-edge-litert or onnxruntime),
its predictions on up to 32 validation examples are compared with `session.predict`, and the
largest difference is reported; past the tolerance the export is marked failed, with the figure.

Safe as `save` is: a format that cannot apply is refused before anything is written, with the
reason; the artifact, `labels.txt` and a model card (`README.md`) are written into a temporary
folder beside `path` and renamed at the end; OS errors become `SaveError`. The session is only
read: LoRA adapters are merged into a copy (the .keras round trip `save` makes), never into it.
"""

import contextlib
import dataclasses
import datetime
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

from ..errors import ExportError, SaveError, StateError
from . import litert, model_files, onnx, savedmodel
from .atomic import TEMPORARY, fsync_folder

FORMATS = {module.NAME: module for module in (savedmodel, litert, onnx)}
FORMATS["keras"] = None  # model_files.save
TOLERANCE = 1e-4  # float32 runtimes agree with Keras to this, probabilities or scores
# int8 weights (and the activations dynamic-range kernels quantize on the fly) move a fresh
# MobileNetV2 head's probabilities by up to 0.13 on the shipped faces: the accuracy change is
# the figure to read for a quantized export; this only catches a broken one.
QUANTIZED_TOLERANCE = 0.25
CHECK_EXAMPLES = 32
CHECK_TIMEOUT = 300  # seconds for the runtime's process
MARKER = "export.json"  # what makes a folder an export that a later one may replace


@dataclasses.dataclass(frozen=True)
class Parity:
    """The artifact's predictions in its runtime against `session.predict`'s."""

    runtime: str
    examples: int
    max_difference: float
    tolerance: float
    latency_s: float  # one example, in the runtime
    accuracy_change: float | None = None  # quantized: the artifact's accuracy minus the model's

    @property
    def passed(self):
        return self.max_difference <= self.tolerance

    def __str__(self):
        verdict = "passed" if self.passed else "FAILED"
        text = (f"{verdict}: max difference {self.max_difference:.2e} on {self.examples} validation examples in "
                f"{self.runtime} (tolerance {self.tolerance:g})")
        if self.accuracy_change is not None:
            text += f", accuracy change {self.accuracy_change:+.3f}"
        return text


@dataclasses.dataclass(frozen=True)
class ExportResult:
    """What `export_model` wrote. ok: the runtime check passed (format="keras" has none)."""

    path: Path
    format: str
    artifact: Path
    size_bytes: int
    seconds: float
    parity: Parity | None
    notes: str = ""

    @property
    def ok(self):
        return self.parity is None or self.parity.passed

    def __str__(self):
        size = f"{self.size_bytes / 1e6:.1f} MB"
        check = str(self.parity) if self.parity else "no runtime check (a .keras file runs in Keras itself)"
        return f"{self.format} export at {self.artifact} ({size}, {self.seconds:.1f} s); {check}"


def export_model(session, path, format="savedmodel", *, quantize=None, progress=None):
    """Export the model for use without Python or tune-widgets, into the folder `path`; returns
    an ExportResult (size, parity). format: "savedmodel" (TF Serving, raw inputs), "litert"
    (quantize="int8" for int8 weights), "onnx" or "keras".
    progress(fraction, words) follows the steps (the Export panel's bar)."""
    step = progress or (lambda fraction, words: None)
    path, module, options = _checked(session, path, format, quantize)
    start = time.perf_counter()
    temporary = path.with_name(f"{TEMPORARY}{uuid.uuid4().hex[:8]}-{path.name}")
    try:
        temporary.mkdir()
        step(0.1, "Writing the artifact")
        with _plain_model(session) as model:
            if module is None:
                artifact = model_files.save(session, temporary / "model.keras")
                notes = "Load with session.load_model(path) (its .tune.json beside it) or keras.saving.load_model."
            else:
                artifact, notes = _converted(module, session, model, temporary, options)
        parity = None
        if module is not None:
            step(0.6, f"Checking it in {module.RUNTIME}")
            parity = verify(session, module, artifact, options)
        step(0.9, "Writing the model card")
        (temporary / "labels.txt").write_text("".join(f"{name}\n" for name in session.class_names or ()))
        (temporary / "README.md").write_text(model_card(session, format, artifact.relative_to(temporary), notes, parity))
        (temporary / MARKER).write_text(json.dumps({"format": format, "artifact": str(artifact.relative_to(temporary)),
                                                    "parity": str(parity) if parity else None}))
        _publish(temporary, path)
    except SaveError:  # save's own, already naming the path and the cause
        raise
    except OSError as error:
        raise SaveError(f"Could not export to {path}: {error.strerror or error}. Nothing was written; export into "
                        f"a folder you can write to, with free space.") from error
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    artifact = path / artifact.relative_to(temporary)
    step(1.0, "Done")
    return ExportResult(path, format, artifact, _size(artifact), time.perf_counter() - start, parity, notes)


def _checked(session, path, format, quantize):
    """(path, format module, options), or the refusal: nothing is written before this passes."""
    if session.training:
        raise StateError("A fit is running: wait for it (or stop it) before exporting.")
    session.require_model()
    if session.class_names is None and session.task != "regression":
        raise StateError("There is no data yet, so no class names: call set_data(...) before exporting.")
    if format not in FORMATS:
        raise ExportError(f"Unknown export format {format!r}: choose one of {', '.join(FORMATS)}.")
    module, options = FORMATS[format], {"quantize": quantize}
    if quantize is not None and format != "litert":
        raise ExportError(f"quantize applies to format='litert' only, not {format!r}.")
    if module is not None:
        reason = module.refusal(session, options)
        if reason:
            raise ExportError(f"Cannot export as {format}: {reason}")
    path = Path(path).expanduser().absolute()
    if not path.parent.is_dir():
        raise SaveError(f"Could not export to {path}: {path.parent} does not exist. Create the folder or choose another path.")
    if path.is_file() or (path.is_dir() and any(path.iterdir()) and not (path / MARKER).exists()):
        raise SaveError(f"Could not export to {path}: it is a file or a folder that holds something other than an "
                        f"export. Choose a new folder name.")
    return path, module, options


def _converted(module, session, model, folder, options):
    """The format's writer; a converter's own failure becomes an ExportError naming it."""
    try:
        return module.write(session, model, folder, options)
    except (OSError, ExportError):
        raise
    except Exception as error:
        raise ExportError(f"The {module.NAME} converter failed on this model: {type(error).__name__}: {error}. "
                          f"Nothing was written; format='keras' saves it as it is.") from error


@contextlib.contextmanager
def _plain_model(session):
    """The session's model, or with LoRA adapters a merged copy of it (save's .keras round trip)."""
    if not session.lora:
        yield session.model
        return
    import keras

    from ..models import upstream_fixes

    with tempfile.TemporaryDirectory() as scratch:
        file = model_files.save(session, Path(scratch) / "merged.keras")
        yield keras.saving.load_model(file, custom_objects=upstream_fixes.custom_objects(), safe_mode=True)


def verify(session, module, artifact, options):
    """Parity of `artifact` in its own runtime against session.predict on validation examples."""
    examples, labels = check_examples(session)
    expected = np.asarray(session.predict(examples), dtype="float32")
    inputs = module.runtime_inputs(session, examples)
    with tempfile.TemporaryDirectory() as scratch:
        feed, output = Path(scratch) / "inputs.npz", Path(scratch) / "outputs.npz"
        np.savez(feed, **{name: np.asarray(value) for name, value in inputs.items()})
        script = Path(__file__).with_name("runtime_check.py")
        environment = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
        environment.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        try:
            done = subprocess.run([sys.executable, "-I", str(script), module.NAME, str(artifact), str(feed), str(output)],
                                  capture_output=True, text=True, timeout=CHECK_TIMEOUT, env=environment)
        except subprocess.TimeoutExpired:
            raise ExportError(f"The {module.NAME} artifact did not answer in {module.RUNTIME} within {CHECK_TIMEOUT} s. "
                              f"Nothing was written.") from None
        if done.returncode or not output.exists():
            raise ExportError(f"The {module.NAME} artifact did not run in {module.RUNTIME}: "
                              f"{done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}. "
                              f"Nothing was written.")
        with np.load(output) as result:
            got, latency, loaded = result["outputs"], float(result["latency"]), list(result["loaded"])
    if loaded:
        raise ExportError(f"The {module.NAME} runtime check imported {', '.join(loaded)}: it must run without them.")
    got = got.reshape(expected.shape)
    quantized = options.get("quantize") is not None
    change = None
    if quantized and session.task != "regression":
        change = float(np.mean(got.argmax(-1) == labels) - np.mean(expected.argmax(-1) == labels))
    return Parity(module.RUNTIME, len(expected), float(np.max(np.abs(got - expected))),
                  QUANTIZED_TOLERANCE if quantized else TOLERANCE, latency, change)


def check_examples(session):
    """Up to 32 validation examples as a deployed model gets them (uint8 pictures), and labels."""
    held = session.validation_data
    if held is None:
        raise StateError("There is no validation data to check the export on: call set_data(...) first.")
    count = min(CHECK_EXAMPLES, len(held))
    if held.kind == "text":
        return list(held.examples[:count]), held.labels[:count]
    pictures = np.clip(np.round(np.asarray(held.examples[:count], dtype="float32")), 0, 255).astype("uint8")
    channels = session.backbone.input_shape[-1]
    if pictures.shape[-1] == 1 and channels == 3:
        pictures = np.repeat(pictures, 3, axis=-1)
    return pictures, held.labels[:count]


def model_card(session, format, artifact, notes, parity):
    """The README.md beside an artifact: what it is, what it was trained on, how well it does."""
    from ..runs.config import data_record

    backbone = session.backbone
    data = data_record(session.train_data, session.validation_data, session.data_split)
    evaluation = session.evaluation
    metrics = repr(evaluation) if evaluation is not None else "not evaluated (call session.evaluate() before exporting)"
    optimizer = session.optimizer
    lines = [
        f"# {Path(str(backbone.source)).name} fine-tuned ({session.task})", "",
        f"- **Artifact**: `{artifact}` ({format}). {notes}",
        f"- **Base model**: {backbone.family or backbone.kind} from `{backbone.source}`",
        f"- **Classes**: {', '.join(session.class_names) if session.class_names else 'none (a regression score)'}"
        f" (also in labels.txt, in output order)",
        f"- **Data**: {data['train_examples']} training and {data['validation_examples']} validation {data['data']['kind']} "
        f"examples, fingerprint `{data['data']['hash']}`",
        f"- **Last evaluation**: {metrics}",
        f"- **Freeze plan**: {len(session.plan.frozen)} of {len(session.layers)} layers frozen"
        + (f"; LoRA merged ({len(session.lora.adapters)} adapters)" if session.lora else ""),
        f"- **Optimizer**: {optimizer.optimizer} at {optimizer.learning_rate:g}, schedule {optimizer.schedule}",
        f"- **Runtime check**: {parity if parity else 'none'}",
        f"- **Made by** tune-widgets {_version()} on {datetime.date.today().isoformat()}", "",
    ]
    return "\n".join(lines)


def _version():
    try:
        return importlib.metadata.version("tune-widgets")
    except importlib.metadata.PackageNotFoundError:
        return "(source checkout)"


def _publish(temporary, path):
    """Rename the finished folder to `path`; a previous export there is replaced whole."""
    previous = None
    if path.exists():
        previous = path.with_name(f"{TEMPORARY}{uuid.uuid4().hex[:8]}-old-{path.name}")
        os.replace(path, previous)
    try:
        os.replace(temporary, path)
    except OSError:
        if previous is not None:
            os.replace(previous, path)
        raise
    if previous is not None:
        shutil.rmtree(previous, ignore_errors=True)
    fsync_folder(path.parent)


def _size(artifact):
    if artifact.is_file():
        return artifact.stat().st_size
    return sum(file.stat().st_size for file in artifact.rglob("*") if file.is_file())
