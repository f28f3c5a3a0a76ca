"""The models a user can pick: KerasHub's presets of the families tune-widgets fine-tunes, the
Hugging Face models already in the local cache, and the keras.applications networks, each with
what a chooser needs to show (family, modality, size, whether it loads without the network)."""

import dataclasses
import os
from pathlib import Path

from . import families, hub, sources

BYTES_PER_PARAMETER = 4  # float32 weights: a preset's download is about this × its parameters


@dataclasses.dataclass(frozen=True)
class Entry:
    """One model to offer. `name` is what `load_model` takes."""

    name: str
    family: str
    modality: str  # "text" or "image"
    kind: str  # a key of sources.KINDS: "preset", "hugging_face" or "application"
    params: int | None = None
    description: str = ""
    cached: bool = False  # loads without the network

    @property
    def download_bytes(self):
        """About how much a download takes (None when unknown, 0 when cached)."""
        if self.cached:
            return 0
        return self.params * BYTES_PER_PARAMETER if self.params else None

    def label(self):
        """One line for a chooser: name · family · modality · size · cached or download size."""
        size = f"{self.params / 1e6:,.1f}M params" if self.params else ""
        where = "cached" if self.cached else (f"download ~{self.download_bytes / 1e6:,.0f} MB"
                                              if self.download_bytes else "download")
        return " · ".join(part for part in (self.name, self.family, self.modality, size, where) if part)

    def matches(self, text):
        """Whether every word of `text` appears in the name, family, modality or description."""
        haystack = f"{self.name} {self.family} {self.modality} {self.description}".lower()
        return all(word in haystack for word in text.lower().split())


def entries(text="", modality=None):
    """The catalogue, filtered by `text` (words to find) and `modality` ("text", "image" or
    None for both): cached Hugging Face models first, then presets, then applications."""
    found = [*cached_hugging_face(), *presets(), *applications()]
    return [entry for entry in found if entry.matches(text) and modality in (None, entry.modality)]


def presets():
    """KerasHub's presets of the families in `families.py`, marked cached when kagglehub holds them."""
    for name, preset in sources.preset_names().items():
        metadata = preset.get("metadata", {})
        family = families.by_name(metadata.get("path", ""))
        if family is None:
            continue
        yield Entry(name, family.name, family.modality, "preset", metadata.get("params"),
                    metadata.get("description", ""), hub.kaggle_cached(preset["kaggle_handle"].removeprefix("kaggle://"))
                    is not None)


def cached_hugging_face():
    """The Hugging Face models in the local cache whose architecture KerasHub converts."""
    root = Path(hub.hf_cache())
    if not root.is_dir():
        return
    for folder in sorted(root.glob("models--*")):
        repo_id = folder.name.removeprefix("models--").replace("--", "/")
        snapshot = hub.hf_cached(repo_id)
        family = families.by_model_type(snapshot) if snapshot else None
        if family is not None:
            yield Entry(repo_id, family.name, family.modality, "hugging_face", cached=True)


def applications():
    """keras.applications networks: built offline with weights=None, ImageNet weights downloaded."""
    keras_home = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "models"
    for name in sources.APPLICATION_NAMES:
        cached = any(keras_home.glob(f"{name.lower()}*notop*.h5")) if keras_home.is_dir() else False
        yield Entry(name, "keras.applications", "image", "application", cached=cached)
