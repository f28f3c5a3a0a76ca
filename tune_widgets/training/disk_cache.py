"""Frozen-prefix features on disk, so a kernel restart, a second kernel on the machine or the
same notebook tomorrow skips the cache pass.

An entry is one folder per (prefix, data) pair, named by a digest of everything the features
depend on: the prefix's architecture and cut, its weights bit for bit, the inputs it reads (the
token ids and masks carry the tokenizer, the sequence length and the data; pictures carry their
preprocessing), the batch size of the pass and the replica count (both can change the last bits).
Each output is an `.npy` file (never a pickle), memory-mapped when read.

Several processes share a folder safely: an entry is written under a temporary name and renamed
into place whole, so a half-written entry is never read, and when two processes fill the same
entry the second rename fails and the first one's entry is used. Each file's digest is checked
when an entry is opened: a damaged entry is dropped, with a warning, and written again. Entries
past the size cap are evicted oldest-used first (an entry's meta.json mtime is its last use).

The folder is $TUNE_WIDGETS_FEATURE_CACHE, else ~/.cache/tune-widgets/features (under
$XDG_CACHE_HOME when set); "off" turns the disk cache off. `Session(feature_cache_dir=...)`
chooses per session (None: off).
"""

import contextlib
import hashlib
import json
import os
import shutil
import time
import uuid
import warnings
from pathlib import Path

import numpy as np

from ..data import bucketing
from ..errors import TuneWidgetsWarning
from ..saving.atomic import TEMPORARY, fsync, fsync_folder

VARIABLE = "TUNE_WIDGETS_FEATURE_CACHE"
SIZE_VARIABLE = "TUNE_WIDGETS_FEATURE_CACHE_GB"
DEFAULT_GB = 5.0
FORMAT = 1  # bump when the layout of an entry changes: older entries then simply miss
META = "meta.json"
STALE_SECONDS = 24 * 3600  # a temporary folder this old was left by a crashed writer


class FromEnvironment:
    """The folder named by $TUNE_WIDGETS_FEATURE_CACHE, else the default one."""

    def __repr__(self):
        return "FROM_ENVIRONMENT"


FROM_ENVIRONMENT = FromEnvironment()


def default_folder():
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "tune-widgets" / "features"


def open_cache(folder=FROM_ENVIRONMENT):
    """The DiskCache for `folder` (a path; None or "off": no disk cache, so None)."""
    if folder is FROM_ENVIRONMENT:
        folder = os.environ.get(VARIABLE) or default_folder()
    if folder is None or str(folder).lower() in ("off", "0", "none", "false"):
        return None
    return DiskCache(folder, int(float(os.environ.get(SIZE_VARIABLE) or DEFAULT_GB) * 1e9))


class DiskCache:
    """Feature entries in `folder`, at most `max_bytes` of them."""

    def __init__(self, folder, max_bytes=int(DEFAULT_GB * 1e9)):
        self.folder, self.max_bytes = Path(folder).expanduser().absolute(), int(max_bytes)

    def room_for(self, size):
        """"" when an entry of `size` bytes can be written here, else why not."""
        if size > self.max_bytes:
            return f"{size / 1e9:.2f} GB of features exceed the disk cache's cap ({self.max_bytes / 1e9:.2f} GB)"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            free = shutil.disk_usage(self.folder).free
        except OSError as error:
            return f"the disk cache folder {self.folder} cannot be used: {error}"
        if size > free * 0.9:
            return f"{size / 1e9:.2f} GB of features do not fit the free disk at {self.folder} ({free / 1e9:.2f} GB)"
        return ""

    def features(self, key, lengths, compute):
        """(prefix outputs, "hit" or "written") for `key`: the stored entry, else `compute(allocate)`
        run with arrays memory-mapped into a new entry. `lengths`: the examples' real lengths
        (None without sequences), which rebuild stored hidden states."""
        stored = self.load(key, lengths)
        if stored is not None:
            return stored, "hit"
        return self.store(key, compute), "written"

    def load(self, key, lengths):
        """The entry's outputs, or None when there is none; a damaged entry is removed with a warning."""
        entry = self.folder / key
        try:
            meta = json.loads((entry / META).read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as error:
            return self._damaged(entry, error)
        try:
            outputs = [_read(entry, spec, lengths) for spec in meta["outputs"]]
        except (OSError, ValueError, KeyError, TypeError) as error:
            return self._damaged(entry, error)
        with contextlib.suppress(OSError):
            os.utime(entry / META)  # its last use, for the eviction order
        return outputs

    def store(self, key, compute):
        """Run `compute(allocate)` into a temporary folder, then rename it into place whole.
        If another process renamed the same entry in first, its entry is used."""
        self.folder.mkdir(parents=True, exist_ok=True)
        temporary = self.folder / f"{TEMPORARY}{uuid.uuid4().hex[:8]}-{key}"
        temporary.mkdir()
        try:
            outputs = compute(_allocator(temporary))
            specs = [_written(temporary, i, output) for i, output in enumerate(outputs)]
            (temporary / META).write_text(json.dumps({"format": FORMAT, "outputs": specs}))
            fsync(temporary / META)
            try:
                os.rename(temporary, self.folder / key)
            except OSError:  # another process wrote it first (a non-empty folder is never replaced)
                winner = self.load(key, _lengths(outputs))
                if winner is None:
                    raise
                shutil.rmtree(temporary, ignore_errors=True)
                return winner
        except BaseException:
            shutil.rmtree(temporary, ignore_errors=True)
            raise
        fsync_folder(self.folder)
        self.evict(keep=key)
        return outputs

    def entries(self):
        """[(last use, bytes, folder)] of the finished entries, oldest use first."""
        found = []
        for entry in self.folder.iterdir() if self.folder.is_dir() else ():
            if entry.name.startswith(TEMPORARY):
                self._clean_stale(entry)
                continue
            with contextlib.suppress(OSError):
                found.append(((entry / META).stat().st_mtime, sum(f.stat().st_size for f in entry.iterdir()), entry))
        return sorted(found)

    def evict(self, keep=None):
        """Remove the least recently used entries until the rest fit the cap (`keep` stays)."""
        entries = self.entries()
        total = sum(size for _, size, _ in entries)
        for _, size, entry in entries:
            if total <= self.max_bytes:
                break
            if entry.name != keep:
                _remove(entry)
                total -= size

    def _damaged(self, entry, error):
        warnings.warn(f"The cached features in {entry} are damaged ({error}): they are computed again and "
                      f"rewritten.", TuneWidgetsWarning, stacklevel=4)
        _remove(entry)
        return None

    @staticmethod
    def _clean_stale(entry):
        with contextlib.suppress(OSError):
            if time.time() - entry.stat().st_mtime > STALE_SECONDS:
                shutil.rmtree(entry, ignore_errors=True)


def entry_key(prefix, weights, cut_names, inputs, batch_size, replicas=1):
    """The digest naming an entry: what the prefix's outputs on `inputs` depend on. `weights`:
    the prefix's weights' fingerprint (see cache.fingerprint)."""
    digest = hashlib.blake2b(digest_size=20)
    digest.update(json.dumps({"format": FORMAT, "cut": list(cut_names), "batch_size": int(batch_size),
                              "replicas": int(replicas), "weights": weights, "architecture": _architecture(prefix)},
                             sort_keys=True, default=str).encode())
    for value in inputs:
        array = np.ascontiguousarray(value.array if isinstance(value, bucketing.Padded) else value)
        digest.update(f"{type(value).__name__}{array.shape}{array.dtype}".encode())
        digest.update(array.data)
    return digest.hexdigest()


def _architecture(model):
    """The prefix's graph and layer settings, less the prefix's own name (numbered anew in
    each kernel); a layer that cannot describe itself (a custom layer without get_config) is
    named by its class, and its weights still key it."""
    try:
        return {key: value for key, value in model.get_config().items() if key != "name"}
    except (NotImplementedError, TypeError, ValueError):
        return [f"{type(layer).__module__}.{type(layer).__qualname__}:{layer.name}" for layer in model.layers]


def _allocator(folder):
    """Zero-filled arrays memory-mapped to numbered `.npy` files in `folder`, in allocation order."""
    serial = iter(range(1 << 30))

    def allocate(shape, dtype):
        return np.lib.format.open_memmap(folder / f"{next(serial)}.npy", mode="w+", dtype=dtype, shape=tuple(shape))

    return allocate


def _written(folder, index, output):
    """Flush one output's file and describe it for meta.json."""
    array = output.buffer if isinstance(output, bucketing.Ragged) else output
    array.flush()
    name = Path(array.filename).name
    fsync(folder / name)
    spec = {"file": name, "digest": _digest(folder / name)}
    if isinstance(output, bucketing.Ragged):
        spec["ragged"] = {"limit": int(output.limit), "tail": list(output.tail_shape), "dtype": output.dtype.str}
    return spec


def _read(entry, spec, lengths):
    path = entry / spec["file"]
    if _digest(path) != spec["digest"]:
        raise ValueError(f"{spec['file']} does not match its digest")
    array = np.load(path, mmap_mode="r", allow_pickle=False)
    ragged = spec.get("ragged")
    if ragged is None:
        return array
    if lengths is None:
        raise ValueError("stored hidden states need the examples' lengths")
    stored = bucketing.Ragged(lengths, ragged["limit"], ragged["tail"], ragged["dtype"], allocate=lambda *_: array)
    if stored.buffer.shape != (int(stored.offsets[-1]), *stored.tail_shape):
        raise ValueError(f"{spec['file']} has the shape {array.shape}, not the data's")
    return stored


def _lengths(outputs):
    return next((output.lengths for output in outputs if isinstance(output, bucketing.Ragged)), None)


def _digest(path):
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def _remove(entry):
    """Take an entry out of use at once (a rename), then delete it."""
    hidden = entry.with_name(f"{TEMPORARY}{uuid.uuid4().hex[:8]}-{entry.name}")
    try:
        os.rename(entry, hidden)
    except OSError:
        return  # another process removed it first
    shutil.rmtree(hidden, ignore_errors=True)
