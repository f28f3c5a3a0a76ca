"""Hub sources as local folders: from the local cache when it holds them, else downloaded.

Hugging Face ids and `hf://` handles live in the Hugging Face cache (`HF_HUB_CACHE`, by
default ~/.cache/huggingface/hub); KerasHub presets and `kaggle://` handles in the kagglehub
cache (`KAGGLEHUB_CACHE`, by default ~/.cache/kagglehub). A cached copy is used as it is, with
no network call, so a workshop room that pre-downloaded its models works offline. Without the
network and without a cached copy, `WeightsUnavailableError` names the id and the command that
pre-downloads it.
"""

import os
from pathlib import Path

from ..errors import ModelSourceError, WeightsUnavailableError

# What a checkpoint needs: configs, safetensors or Keras weights, tokenizer files. Not the
# PyTorch pickles, TF/Flax/ONNX duplicates a repository often holds beside them.
HF_FILES = ("*.json", "*.safetensors", "*.weights.h5", "*.txt", "*.model", "assets/*", "1_Pooling/*")


def local_folder(source, progress=None):
    """The folder holding a hub `Source` (kind "handle", "preset" or "hugging_face").
    progress(done_bytes, total_bytes) is called while downloading, when there is something to fetch."""
    handle = source.location if source.kind != "preset" else preset_handle(source.location)
    if handle.startswith("hf://"):
        return hf_folder(handle.removeprefix("hf://"), progress)
    if handle.startswith("kaggle://"):
        return kaggle_folder(handle.removeprefix("kaggle://"), source.name)
    raise ModelSourceError(f"{handle!r} is not an hf:// or kaggle:// handle.")


def preset_handle(name):
    """The hub handle KerasHub downloads preset `name` from."""
    import keras_hub

    return keras_hub.models.Backbone.presets[name]["kaggle_handle"]


def hf_folder(repo_id, progress=None):
    """The cached snapshot of a Hugging Face repository, downloading it first if need be."""
    import huggingface_hub
    from huggingface_hub.errors import LocalEntryNotFoundError

    cached = hf_cached(repo_id)
    if cached is not None:
        return cached
    try:
        return Path(huggingface_hub.snapshot_download(repo_id, allow_patterns=list(HF_FILES), cache_dir=hf_cache(),
                                                      local_files_only=_hf_offline(), tqdm_class=_reporting(progress)))
    except LocalEntryNotFoundError:
        raise WeightsUnavailableError(
            f"{repo_id!r} is not in the local Hugging Face cache ({hf_cache()}), and there is no network to "
            f"download it. Where there is a network, run `hf download {repo_id}` (it fills the same cache; copy "
            f"the cache folder, or set HF_HUB_CACHE, to use it here), or load a folder that holds the "
            f"checkpoint." + ("" if "/" not in repo_id else f" (If you meant a folder: there is no {repo_id} "
                                                                 f"relative to {Path.cwd()}.)")
        ) from None
    except Exception as error:  # the hub's own errors: a wrong id, a gated or private repository
        raise ModelSourceError(f"{repo_id!r} could not be downloaded from the Hugging Face Hub: {error}") from error


def hf_cached(repo_id):
    """The cached snapshot folder of `repo_id`, or None: no network is used."""
    import huggingface_hub
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        folder = Path(huggingface_hub.snapshot_download(repo_id, local_files_only=True, cache_dir=hf_cache()))
    except (LocalEntryNotFoundError, ValueError):
        return None
    return folder if (folder / "config.json").exists() else None


def kaggle_folder(handle, name):
    """The kagglehub cache's copy of a model version, downloading it first if need be."""
    import kagglehub

    cached = kaggle_cached(handle)
    if cached is not None:
        return cached
    try:
        return Path(kagglehub.model_download(handle))
    except Exception as error:
        if not _is_offline(error):
            raise ModelSourceError(f"{name!r} could not be downloaded from Kaggle: {error}") from error
        raise WeightsUnavailableError(
            f"{name!r} ({handle}) is not in the local kagglehub cache ({_kaggle_cache()}), and there is no network "
            f"to download it. Where there is a network, run `python -c \"import kagglehub; "
            f"kagglehub.model_download('{handle}')\"` (set KAGGLEHUB_CACHE to choose the folder), or load a "
            f"folder that holds the preset."
        ) from None


def kaggle_cached(handle):
    """The cached folder of a kagglehub model version, or None: no network is used."""
    from kagglehub.cache import Cache
    from kagglehub.handle import parse_model_handle

    try:
        path = Cache().load_from_cache(parse_model_handle(handle))
    except ValueError:  # an unversioned handle: which version is cached cannot be known offline
        return None
    return Path(path) if path else None


def _is_offline(error):
    names = {type(e).__name__ for e in _chain(error)}
    return bool(names & {"ConnectionError", "NameResolutionError", "MaxRetryError", "ConnectError", "Timeout",
                         "ConnectTimeout", "gaierror"})


def _chain(error):
    while error is not None:
        yield error
        error = error.__cause__ or error.__context__


def hf_cache():
    """The Hugging Face cache, read when asked: a notebook may set HF_HUB_CACHE after importing."""
    from huggingface_hub import constants

    return os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE") or constants.HF_HUB_CACHE


def _hf_offline():
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")


def _kaggle_cache():
    return os.environ.get("KAGGLEHUB_CACHE") or str(Path.home() / ".cache" / "kagglehub")


def _reporting(progress):
    """A tqdm class that passes the download's bytes to `progress` (None: tqdm's own bar)."""
    from tqdm.auto import tqdm

    if progress is None:
        return tqdm

    class Reporting(tqdm):
        def update(self, n=1):
            shown = super().update(n)
            if self.unit == "B":
                progress(self.n, self.total)
            return shown

    return Reporting
