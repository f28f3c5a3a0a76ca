"""What a model source names, decided in one documented order.

`resolve` turns whatever `load_model` was given into a `Source` of one kind, tried in this
order (the first that applies wins):

1. a `keras.Model`;
2. an existing path: a checkpoint folder (KerasHub or Hugging Face layout) or a .keras/.h5 file;
3. an `hf://org/name` or `kaggle://owner/model/framework/variation[/version]` handle;
4. a KerasHub preset name, from KerasHub's own preset lists (`bert_tiny_en_uncased`);
5. a Hugging Face id: `org/name`, or a bare legacy id such as `bert-base-uncased`;
6. a `keras.applications` name (`ResNet50`).

Anything else is refused with the closest names across all of these catalogues. The loaders
(`backbone.py`) then read a folder: hub sources become one through `hub.py` (from the local
cache, or downloaded).
"""

import dataclasses
import os
import re
from pathlib import Path

import keras

from ..errors import ModelSourceError, UnknownModelError, did_you_mean

KINDS = {
    "model": "a keras.Model",
    "path": "an existing folder or .keras/.h5 file",
    "handle": "an hf:// or kaggle:// handle",
    "preset": "a KerasHub preset name",
    "hugging_face": "a Hugging Face id (org/name, or a legacy id like bert-base-uncased)",
    "application": "a keras.applications name",
}
HANDLE_SCHEMES = ("hf://", "kaggle://")
APPLICATION_NAMES = tuple(sorted(n for n in dir(keras.applications) if n[0].isupper()))
# Hugging Face's ids from before organisations, still served under their old names.
LEGACY_HF_IDS = (
    "albert-base-v1", "albert-base-v2", "albert-large-v2", "albert-xlarge-v2", "bert-base-cased",
    "bert-base-chinese", "bert-base-multilingual-cased", "bert-base-multilingual-uncased", "bert-base-uncased",
    "bert-large-cased", "bert-large-uncased", "distilbert-base-cased", "distilbert-base-multilingual-cased",
    "distilbert-base-uncased", "distilbert-base-uncased-finetuned-sst-2-english", "distilgpt2", "distilroberta-base",
    "gpt2", "gpt2-large", "gpt2-medium", "gpt2-xl", "roberta-base", "roberta-large", "xlm-roberta-base",
    "xlm-roberta-large",
)
HF_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclasses.dataclass(frozen=True)
class Source:
    """A resolved model source: its `kind` (a key of KINDS) and what locates it: the model, a
    Path, a handle ("hf://org/name", "kaggle://..."), or a catalogue name."""

    kind: str
    location: object

    @property
    def name(self):
        """How runs and messages name it: the id the user gave, or the path."""
        return self.location.removeprefix("hf://") if self.kind == "hugging_face" else str(self.location)


def resolve(source):
    """The Source for what `load_model` was given (see the module docstring for the order)."""
    if isinstance(source, keras.Model):
        return Source("model", source)
    if not isinstance(source, (str, os.PathLike)):
        raise ModelSourceError(
            f"A model source must be a path, a hub handle or id, a preset or keras.applications name, or a "
            f"keras.Model, not {type(source).__name__}."
        )
    path = Path(source).expanduser()
    if path.exists():
        return Source("path", path)
    text = str(source).strip()
    if path.suffix in (".keras", ".h5", ".hdf5"):
        raise ModelSourceError(f"No model file at {path}. Check the path.")
    if text.startswith(HANDLE_SCHEMES):
        return Source("handle", text)
    if text in preset_names():
        return Source("preset", text)
    if HF_ID.match(text) and not text.startswith((".", "~")) or text in LEGACY_HF_IDS:
        return Source("hugging_face", f"hf://{text}")
    canonical = application_name(text)
    if canonical:
        return Source("application", canonical)
    if _looks_like_path(text):
        raise ModelSourceError(f"No such folder or file: {path}"
                               + ("" if path.is_absolute() else f" (relative to {Path.cwd()})") + ". Check the path.")
    raise UnknownModelError(
        f"{text!r} is not a folder or model file, a hub handle, a KerasHub preset, a Hugging Face id or a "
        f"keras.applications name." + (did_you_mean(text, known_names()) or
                                       " Give a path, an org/name Hugging Face id, or a preset name from "
                                       "keras_hub.models.Backbone.presets.")
    )


def application_name(name):
    """The keras.applications spelling of `name` ("resnet50" → "ResNet50"), or None."""
    lookup = {n.lower(): n for n in APPLICATION_NAMES}
    return lookup.get(name.lower().replace("-", "").replace("_", ""))


def preset_names():
    """KerasHub's preset names for every backbone it ships."""
    import keras_hub

    return keras_hub.models.Backbone.presets


def known_names():
    """Every name a did-you-mean may suggest: presets, legacy ids, applications."""
    return [*preset_names(), *LEGACY_HF_IDS, *APPLICATION_NAMES]


def _looks_like_path(text):
    """Whether a source that exists nowhere was meant as a path."""
    return any(sep in text for sep in ("/", os.sep)) or text.startswith(("~", "."))
