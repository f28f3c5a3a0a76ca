"""Runs you keep, compare and export: the run store (`store`), rebuilding a stored run
(`resume`), comparison data (`compare`) and export as a plain Keras script (`export`).
The session's `load_run`, `delete_run`, `export_script` and `Session.resume` call these."""

from .compare import config_diff, overlay, summary
from .store import RunStore, StoredRun

__all__ = ["RunStore", "StoredRun", "config_diff", "overlay", "summary"]
