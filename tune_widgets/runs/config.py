"""A run's config: the session's settings when it began, and what they leave out: how to
rebuild its model, a signature of that model's shape, a fingerprint of its data, a summary of
its freeze plan.

All plain data, so config.json can rebuild the model (resume), be diffed (compare) and be
turned into code (export).
"""

import dataclasses
import hashlib
import weakref

import numpy as np

from ..models import keras_internals
from ..training import distribute
from . import architecture


def backbone_spec(backbone, keep_head):
    """How to load the backbone again: its kind, shapes, tokenizer, preprocessing, feature layer,
    and for an in-memory model whether its run keeps its architecture (see architecture.py)."""
    tokenizer, kept = backbone.tokenizer, architecture.kept(backbone)
    return {
        "kind": backbone.kind,
        "input_shape": list(backbone.input_shape) if backbone.input_shape else None,
        "weights": backbone.weights,
        "sequence_length": tokenizer.sequence_length if tokenizer is not None else None,
        "tokenizer": tokenizer.folder if tokenizer is not None else None,
        "preprocessing": backbone.preprocessing,
        "pooling": backbone.pooling,
        "features": keras_internals.producing_layer(backbone.features).name,
        "features_rank": len(backbone.features.shape),
        "keep_head": keep_head,
        "family": backbone.family,
        "tokenizer_kind": tokenizer.kind if tokenizer is not None else None,
        **({"architecture": kept} if kept else {}),
    }


def signature(model):
    """A short digest of the model's layer types and weight shapes, in order.

    Layer names are left out on purpose: Keras numbers unnamed layers per process, and its
    weight files are keyed by layer type and position, not by name.
    """
    digest = hashlib.blake2b(digest_size=8)
    for layer in model.layers:
        shapes = [tuple(int(d) for d in weight.shape) for weight in layer.weights]
        digest.update(repr((type(layer).__name__, shapes)).encode())
    return digest.hexdigest()


_HASHES = weakref.WeakKeyDictionary()  # LabelledData -> digest: the data is hashed once per set_data


def data_record(train, validation, split):
    """What a run's config says of its data: sizes, class names, and a fingerprint (kind, how
    the validation data was held out, a hash of examples and labels), enough to tell whether a
    later session trains on the same data (the data itself is not stored)."""
    digest = hashlib.blake2b((_hash(train) + _hash(validation)).encode(), digest_size=8).hexdigest()
    class_names = list(train.class_names) if train.class_names is not None else None  # None: regression targets
    return {"train_examples": len(train), "validation_examples": len(validation),
            "class_names": class_names, "data": {"kind": train.kind, "split": split, "hash": digest}}


def _hash(data):
    if data not in _HASHES:
        digest = hashlib.blake2b(digest_size=16)
        labels = np.ascontiguousarray(data.labels)  # class numbers, or regression targets
        digest.update(repr((data.class_names, labels.dtype.str)).encode())
        digest.update(labels.tobytes())
        if data.kind == "text":
            for text in data.examples:
                encoded = text.encode("utf-8", "surrogatepass")
                digest.update(len(encoded).to_bytes(8, "little") + encoded)
        else:
            values = np.ascontiguousarray(data.examples)
            digest.update(repr((values.dtype.str, values.shape)).encode())
            digest.update(values.tobytes())
        _HASHES[data] = digest.hexdigest()
    return _HASHES[data]


def data_differences(config, other):
    """What differs between two runs' data, in words ("" when it is the same data)."""
    fields = (("train_examples", "training examples"), ("validation_examples", "validation examples"),
              ("class_names", "class names"))
    words = [f"{label} {config.get(key)!r} → {other.get(key)!r}" for key, label in fields
             if config.get(key) != other.get(key)]
    before, after = config.get("data") or {}, other.get("data") or {}
    if before.get("kind") != after.get("kind"):
        words.append(f"kind {before.get('kind')!r} → {after.get('kind')!r}")
    if before.get("split") != after.get("split"):
        words.append(f"validation split {before.get('split')!r} → {after.get('split')!r}")
    if not words and before.get("hash") != after.get("hash"):
        words.append("the same sizes and classes, but other examples or labels")
    return "; ".join(words)


def layer_factors(layers, layer_rates):
    """{layer name: rate factor} for the layers with weights whose block has a factor other than
    1 (discriminative rates, see tuning/rates.py): what an exported script needs to scale each
    layer's updates, since its config names blocks, not layers."""
    factors = dict(layer_rates)
    return {row.name: float(factors[row.block]) for row in layers
            if row.params and factors.get(row.block, 1.0) != 1.0}


def plan_summary(layers):
    """The freeze plan in a few words, from the session's layer table (in model order)."""
    frozen = [row for row in layers if row.frozen]
    if not frozen:
        return "nothing frozen"
    weighted = [row for row in layers if row.params or row.fixed_params]
    if all(row.frozen for row in weighted):
        return f"all {len(layers)} layers frozen"
    last = max(row.index for row in frozen)
    count = f"{len(frozen)} of {len(layers)} layers"
    if all(row.frozen for row in weighted if row.index <= last):
        return f"up to {layers[last].name} ({count})"
    return f"{count} frozen"


def run_config(session, epochs, batch_size, seed=None):
    """The config a fit of `session` records now (config.json's "config"; see `runs/store.py`)."""
    return {
        "purpose": "train",
        "model": session.backbone.source,
        "epochs": epochs,
        "batch_size": batch_size,
        "frozen": sorted(session.plan.frozen),
        "lora": session.lora.to_config(),
        "optimizer": dataclasses.asdict(session.optimizer),
        "head": dataclasses.asdict(session.head),
        "task": session.task,
        **data_record(session.train_data, session.validation_data, session.data_split),
        "parameters": session.parameter_counts,
        "plan_summary": plan_summary(session.layers),
        "backbone": backbone_spec(session.backbone, session.keeps_own_head),
        "signature": signature(session.model),
        "seed": seed,
        "strategy": distribute.spec(session.strategy),
        "resumed_from": session.resumed_from,
        **({"layer_factors": layer_factors(session.layers, session.optimizer.layer_rates)}
           if session.optimizer.layer_rates else {}),
    }


def restored_data_warning(restored, train, validation, split):
    """What to warn when the data differs from the data of the run `load_run` restored, or ""."""
    if restored is None or train is None:
        return ""
    differences = data_differences(restored.config, data_record(train, validation, split))
    return (f"The data differs from the data run {restored.origin['run_id']} trained on: {differences}. "
            f"Training goes on from its weights, on this data.") if differences else ""
