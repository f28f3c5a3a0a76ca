"""A run folder's files and their JSON: the on-disk format that the store reads and the
writer writes (config.json, status.json; strict JSON, atomically replaced)."""

import json
import math
import os
import socket
import time
from pathlib import Path

import numpy as np

from ..errors import RunError
from ..saving.atomic import atomic_path


FORMAT = 1


BEST = "val_loss"  # lower is better


def unwritable(folder, error):
    """The RunError for a run folder that cannot be written (`error`, an OSError), naming the fix."""
    return RunError(f"Cannot write the run to {folder}: {error}. Choose a writable folder with "
                    f"Session(runs_dir=...), or runs_dir=None to keep runs in memory only.")


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


def config_file(run):
    return {"format": FORMAT, "run_id": run.run_id, "started_at": run.started_at,
            "total_steps": run.total_steps, "config": run.config}


def status_file(run, **extra):
    return {"status": run.status, "error": run.error, "ended_early": run.ended_early, "epochs": len(run.epochs),
            "duration": run.duration, "pid": os.getpid(), "host": socket.gethostname(), "updated_at": time.time(), **extra}
