"""`python -m tune_widgets warm NOTEBOOK ...`: fill the disk feature cache for a room.

Each notebook's code cells run in order in its own folder (through IPython, so magics work), as
Run All would; then every Session they made computes its frozen-prefix features into the disk
cache (see training/disk_cache.py), exactly as its first fit would. A participant's first Train
click on the same machine then reads them instead of running the encoder.
"""

import argparse
import contextlib
import json
import os
import sys
import time
from pathlib import Path


def warm(notebook):
    """Run `notebook`'s code cells, then cache each of its sessions' features; returns
    [(variable name, the cache's info)] per session."""
    from IPython.core.interactiveshell import InteractiveShell

    from .session import Session

    notebook = Path(notebook).absolute()
    cells = [cell for cell in json.loads(notebook.read_text())["cells"] if cell["cell_type"] == "code"]
    shell = InteractiveShell.instance()
    with _working_directory(notebook.parent):
        for cell in cells:
            result = shell.run_cell("".join(cell["source"]), silent=True)
            if not result.success:
                raise SystemExit(f"{notebook.name}: a cell failed, so its features were not warmed:\n"
                                 f"{''.join(cell['source'])}\n{result.error_in_exec or result.error_before_exec!r}")
    warmed = []
    for name, session in list(shell.user_ns.items()):
        if isinstance(session, Session) and session.model is not None and session.train_data is not None:
            *_, info = session.feature_cache.prepare(session.model, session.plan, session.encoded,
                                                     session.batch_size, strategy=session.strategy)
            warmed.append((name, info))
    return warmed


@contextlib.contextmanager
def _working_directory(folder):
    previous = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(previous)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tune_widgets")
    commands = parser.add_subparsers(dest="command", required=True)
    warming = commands.add_parser("warm", help="pre-compute notebooks' frozen features into the disk cache")
    warming.add_argument("notebooks", nargs="+", type=Path)
    arguments = parser.parse_args(argv)
    for notebook in arguments.notebooks:
        started = time.perf_counter()
        warmed = warm(notebook)
        if not warmed:
            print(f"{notebook}: no session with a model and data to warm")
        for name, info in warmed:
            disk = info.get("disk")
            if not info["used"]:
                print(f"{notebook} {name}: nothing cached ({info['reason']})")
            elif isinstance(disk, dict):
                print(f"{notebook} {name}: {info['bytes'] / 1e6:.1f} MB of features in {disk['folder']} "
                      f"(train {disk['train']}, validation {disk['validation']}; "
                      f"{time.perf_counter() - started:.1f} s)")
            else:
                print(f"{notebook} {name}: features not kept on disk ({disk})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
