"""Files the toolkit writes: model files with their `.tune.json` sidecar (`model_files`) and
atomic writes that a crash cannot leave half done (`atomic`)."""

from .model_files import read_sidecar, restore, save, sidecar_path

__all__ = ["read_sidecar", "restore", "save", "sidecar_path"]
