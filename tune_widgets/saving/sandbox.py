"""A folder of one's own, for a page where people who do not share a machine's files share its
server (the workshop page): every name that comes from outside (an upload's, an export's) is
mapped to a file directly inside the folder, whatever it says ("../../x", "/etc/passwd", "a\\b")."""

import os
import re
import tempfile
from pathlib import Path, PurePosixPath

from ..errors import SaveError
from .atomic import atomic_path

ROOT_VARIABLE = "TUNE_WIDGETS_WORKSHOP_DIR"  # where the page's kernels make their folders


class Sandbox:
    """A fresh folder under `root` (default: $TUNE_WIDGETS_WORKSHOP_DIR, else the system's
    temporary folder), one per kernel: two browser tabs never share one."""

    def __init__(self, root=None):
        root = Path(root or os.environ.get(ROOT_VARIABLE) or Path(tempfile.gettempdir()) / "tune-widgets-workshop")
        root.mkdir(parents=True, exist_ok=True)
        self.folder = Path(tempfile.mkdtemp(prefix="kernel-", dir=root)).resolve()

    def path(self, name):
        """Where a file named `name` goes: its last component only, made plain, inside the folder."""
        base = PurePosixPath(str(name).replace("\\", "/")).name
        base = re.sub(r"[\x00-\x1f]", "", base).lstrip(".").strip() or "upload"
        target = (self.folder / base).resolve()
        if target.parent != self.folder:  # a link planted in the folder, pointing out of it
            raise SaveError(f"{name!r} would leave the workshop folder: choose another name.")
        return target

    def keep(self, name, content):
        """Write an upload's bytes into the folder (atomically); returns its path."""
        target = self.path(name)
        try:
            with atomic_path(target) as temporary:
                temporary.write_bytes(bytes(content))
        except OSError as error:
            raise SaveError(f"Could not keep the upload {target.name}: {error.strerror or error}.") from error
        return target
