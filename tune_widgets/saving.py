"""Saving a fine-tuned model, and what it takes to use it again.

A `.keras` file holds the model; a `.tune.json` sidecar beside it holds what the file cannot: the
class names, the tokenizer's folder and length, and the image preprocessing of a
`keras.applications` model. Loading the file through `Session.load_model` reads the sidecar back,
so a reloaded model is fed exactly as it was fed when it was saved.
"""

import dataclasses
import json
from pathlib import Path

from .errors import ConfigError


def sidecar_path(path):
    return Path(path).with_suffix(".tune.json")


def save(session, path):
    """Write `session`'s model to `path` (.keras) and its sidecar; returns the path."""
    path = Path(path)
    if path.suffix != ".keras":
        raise ConfigError(f"Save to a .keras file, got {path.name!r}.")
    session.model.save(path)
    backbone, tokenizer = session.backbone, session.backbone.tokenizer
    sidecar = {
        "class_names": list(session.class_names or ()),
        "tokenizer": tokenizer.folder if tokenizer is not None else None,
        "sequence_length": tokenizer.sequence_length if tokenizer is not None else None,
        "preprocessing": backbone.preprocessing,
        "source": str(backbone.source),
        "plan": sorted(session.plan.frozen),
        "optimizer": dataclasses.asdict(session.optimizer),
    }
    sidecar_path(path).write_text(json.dumps(sidecar, indent=2))
    return path


def restore(backbone, source, sequence_length):
    """Give a backbone loaded from a saved file what its sidecar recorded (tokenizer, preprocessing)."""
    sidecar = read_sidecar(source)
    if sidecar.get("tokenizer") and backbone.tokenizer is None:
        from .text import Tokenizer

        backbone.tokenizer = Tokenizer.from_folder(sidecar["tokenizer"], sidecar.get("sequence_length", sequence_length))
    if sidecar.get("preprocessing") and backbone.preprocessing is None:
        backbone.preprocessing = sidecar["preprocessing"]
    return backbone


def read_sidecar(source):
    if isinstance(source, (str, Path)) and str(source).endswith(".keras"):
        path = sidecar_path(source)
        if path.exists():
            return json.loads(path.read_text())
    return {}
