"""Saving a fine-tuned model, and what it takes to use it again.

A `.keras` file holds the model; a `.tune.json` sidecar beside it holds what the file cannot: the
class names, the tokenizer's folder and length, and the image preprocessing of a
`keras.applications` model. Loading the file through `Session.load_model` reads the sidecar back,
so a reloaded model is fed exactly as it was fed when it was saved.

Saves are atomic (see `atomic.py`): both files are written under temporary names in the target
folder, fsynced and renamed at the end, so a failed save leaves no half-made pair (a model
without its sidecar) and no stray file. OS errors come back as `SaveError`, naming the path and the cause. LoRA
adapters are saved merged into the weights they adapt: the file is a plain model (see
`tuning/lora.py`).
"""

import dataclasses
import json
import os
import zipfile
from pathlib import Path

from ..errors import ConfigError, SaveError
from ..models import upstream_fixes
from .atomic import atomic_path, fsync, fsync_folder, temporary_path


def sidecar_path(path):
    return Path(path).with_suffix(".tune.json")


def save(session, path):
    """Write `session`'s model to `path` (.keras) and its sidecar; returns the path."""
    path = Path(path)
    if path.suffix != ".keras":
        raise ConfigError(f"Save to a .keras file, got {path.name!r}.")
    folder = path.parent
    text = json.dumps(sidecar_fields(session), indent=2)  # before any file is touched
    model_temporary, sidecar_temporary = temporary_path(path), temporary_path(sidecar_path(path))
    try:
        if not folder.is_dir():
            problem = "is a file, not a folder" if folder.exists() else "does not exist (no such folder)"
            raise SaveError(f"Could not save {path}: {folder} {problem}. Create the folder or choose another path.")
        upstream_fixes.prepare_to_save(session.model)
        session.model.save(model_temporary)
        if session.lora:
            strip_saved_config(model_temporary)
        _write(sidecar_temporary, text)
        for temporary in (model_temporary, sidecar_temporary):
            fsync(temporary)
        _replace_pair(model_temporary, path, sidecar_temporary, sidecar_path(path))
        fsync_folder(folder)
    except SaveError:
        raise
    except OSError as error:
        raise SaveError(f"Could not save {path}: {error.strerror or error}. Nothing was written; save into a "
                        f"folder you can write to, with free space.") from error
    finally:
        for temporary in (model_temporary, sidecar_temporary):
            _remove(temporary)
    return path


def sidecar_fields(session):
    """What the sidecar records for `session` (plain data)."""
    backbone, tokenizer = session.backbone, session.backbone.tokenizer
    return {
        "class_names": list(session.class_names or ()),
        "tokenizer": tokenizer.folder if tokenizer is not None else None,
        "sequence_length": tokenizer.sequence_length if tokenizer is not None else None,
        "preprocessing": backbone.preprocessing,
        "source": str(backbone.source),
        "plan": sorted(session.plan.frozen),
        "task": session.task,
        "merged_lora": session.lora.to_config(),
        "optimizer": dataclasses.asdict(session.optimizer),
    }


def _write(path, text):
    with open(path, "w") as handle:
        handle.write(text)


def _replace_pair(model_temporary, path, sidecar_temporary, sidecar_target):
    """Rename the sidecar, then the model, into place; if the model's rename fails, the sidecar
    goes back to what it was, so the pair on disk always belongs together."""
    previous = sidecar_target.read_text() if sidecar_target.exists() else None
    os.replace(sidecar_temporary, sidecar_target)
    try:
        os.replace(model_temporary, path)
    except OSError:
        if previous is None:
            _remove(sidecar_target)
        else:
            _write(sidecar_target, previous)
        raise


def _remove(path):
    if os.path.lexists(path):  # False too where the folder cannot be read: nothing was made there
        os.unlink(path)


def restore(backbone, source, sequence_length, preprocessing="auto"):
    """Give a backbone loaded from a saved file what its sidecar recorded (tokenizer, preprocessing);
    `preprocessing` other than "auto" (a keras.applications module, or None) replaces the latter."""
    sidecar = read_sidecar(source)
    if sidecar.get("tokenizer") and backbone.tokenizer is None:
        from ..data.tokenizer import Tokenizer

        backbone.tokenizer = Tokenizer.from_folder(sidecar["tokenizer"], sidecar.get("sequence_length", sequence_length))
    if preprocessing != "auto":
        if preprocessing is not None and backbone.tokenizer is not None:
            raise ConfigError(f"preprocessing scales images, but {backbone.source} takes text: leave it out.")
        backbone.preprocessing = preprocessing
    elif sidecar.get("preprocessing") and backbone.preprocessing is None:
        backbone.preprocessing = sidecar["preprocessing"]
    return backbone


def read_sidecar(source):
    if isinstance(source, (str, os.PathLike)) and str(source).endswith(".keras"):
        path = sidecar_path(source)
        if path.exists():
            return json.loads(path.read_text())
    return {}


def strip_saved_config(path):
    """Remove LoRA settings from a saved .keras file's config. Keras has already written each
    adapted kernel merged; without this, loading would add empty adapters to top-level layers."""
    with zipfile.ZipFile(path) as archive:
        entries = [(info, archive.read(info.filename)) for info in archive.infolist()]
    with atomic_path(path) as temporary, zipfile.ZipFile(temporary, "w") as archive:
        for info, content in entries:
            if info.filename == "config.json":
                content = json.dumps(_without_lora(json.loads(content))).encode()
            archive.writestr(info, content)


def _without_lora(config):
    if isinstance(config, dict):
        return {k: _without_lora(v) for k, v in config.items() if k not in ("lora_rank", "lora_alpha")}
    if isinstance(config, list):
        return [_without_lora(v) for v in config]
    return config
