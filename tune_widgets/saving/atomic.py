"""Files replaced whole or not at all: written under a temporary name in the target folder,
fsynced, then renamed over the target (`os.replace`), so a crash or a full disk leaves the
previous version intact. The run store and `saving.save` both write this way."""

import contextlib
import os
import uuid
from pathlib import Path

TEMPORARY = ".tmp-"  # prefix of files being written: never read as finished files


def temporary_path(path):
    """A fresh temporary name beside `path`, keeping its suffixes (Keras checks `.weights.h5`)."""
    path = Path(path)
    return path.with_name(f"{TEMPORARY}{uuid.uuid4().hex[:8]}-{path.name}")


@contextlib.contextmanager
def atomic_path(path):
    """Yields a temporary path to write; once written it is fsynced and renamed over `path`.
    On an error the temporary file is removed and `path` is left as it was."""
    path = Path(path)
    temporary = temporary_path(path)
    try:
        yield temporary
        fsync(temporary)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
    fsync_folder(path.parent)


def fsync(path):
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())


def fsync_folder(folder):
    """Makes a rename durable (POSIX); a no-op where folders cannot be opened (Windows)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
