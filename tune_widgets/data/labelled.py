"""Labelled data from whatever the user has, split and encoded for a model.

`labelled(...)` turns arrays, lists of strings, a pandas DataFrame, a CSV file, a
`tf.data.Dataset` or a folder of images (one subfolder per class, read by `readers.py`) into
`LabelledData`: raw examples, integer labels and the class names, or, for regression, numeric
targets. `encode` turns raw examples into what a backbone takes.
"""

import dataclasses
import os
from pathlib import Path

import numpy as np

from . import readers
from ..errors import DataError
from ..validation import label_names, screen_rows, whole_number

TEXT_COLUMNS = ("text", "sentence", "review", "tweet", "content")
LABEL_COLUMNS = ("label", "labels", "target", "class", "sentiment", "y")
TASKS = {"auto": None, "classification": False, "regression": True}  # task= → labels are targets (None: they say)


@dataclasses.dataclass(frozen=True, eq=False)
class LabelledData:
    """Raw examples with integer labels, or with float targets and `class_names` None
    (regression). kind: "text" (strings), "image" (N,H,W,C floats in 0–255) or "array"
    (anything else a model takes as is)."""

    examples: object
    labels: np.ndarray
    class_names: tuple
    kind: str

    def __len__(self):
        return len(self.labels)

    def take(self, indices):
        indices = np.asarray(indices, dtype=int)
        examples = [self.examples[i] for i in indices] if self.kind == "text" else self.examples[indices]
        return LabelledData(examples, self.labels[indices], self.class_names, self.kind)

    @property
    def task(self):
        """"classification" (labels are class numbers) or "regression" (labels are targets)."""
        return "regression" if self.class_names is None else "classification"

    @property
    def class_counts(self):
        if self.class_names is None:
            return None
        return np.bincount(self.labels, minlength=len(self.class_names))

    def __repr__(self):
        if self.class_names is None:
            return (f"LabelledData({len(self)} {self.kind} examples; regression targets from "
                    f"{self.labels.min():g} to {self.labels.max():g}, mean {self.labels.mean():.3g})")
        counts = ", ".join(f"{name}: {n}" for name, n in zip(self.class_names, self.class_counts))
        return f"LabelledData({len(self)} {self.kind} examples; {counts})"


def labelled(data, labels=None, *, text_column=None, label_column=None, class_names=None, num_classes=None,
             dropna=False, task="auto"):
    """Build `LabelledData` from any supported source; raises DataError saying what to fix.

    Missing texts or labels and NaN/inf features are refused with their positions, or dropped
    with `dropna=True` (see `validation.screen_rows`). Integer labels must lie below
    `num_classes` (or the count of `class_names`) when given, and must not skip a class number
    when not (see `validation.label_names`). task: "classification", "regression" (numeric
    targets: a linear head and the MSE loss) or "auto": regression when the labels are numbers
    with fractions, classification otherwise.
    """
    if task not in TASKS:
        raise DataError(f"task must be one of {tuple(TASKS)}, got {task!r}.")
    if isinstance(data, LabelledData):
        if task != "auto" and task != data.task:
            raise DataError(f"This LabelledData holds {data.task} labels, not {task}: build it from "
                            f"examples and labels with task={task!r}.")
        if labels is not None:
            raise DataError("A LabelledData carries its own labels: pass it alone, or pass its examples with labels=...")
        if class_names is not None and tuple(class_names) != tuple(data.class_names or ()):
            raise DataError(f"This LabelledData's classes are {list(data.class_names or ())}, not {list(class_names)}: "
                            f"build it with those class names (labelled(examples, labels, class_names=...)).")
        return data
    if isinstance(data, (str, os.PathLike)) and Path(data).suffix.lower() == ".csv":
        data = readers.read_csv(data)
    if isinstance(data, (str, os.PathLike)) and Path(data).is_dir():
        data, labels, found = readers.decode_images(readers.image_folder(data))
        class_names = class_names or found
    elif _is_dataframe(data):
        data, labels = _from_dataframe(data, labels, text_column, label_column)
    elif _is_tf_dataset(data):
        if labels is not None:
            raise DataError("A tf.data.Dataset carries its own labels: pass it alone, yielding (x, y) pairs.")
        data, labels = _from_tf_dataset(data)
    if labels is None:
        raise DataError("Labels are missing: pass labels=..., or a DataFrame with a label column.")
    labels = list(labels) if not isinstance(labels, np.ndarray) else labels
    if not isinstance(data, str) and len(data) != len(labels):
        raise DataError(
            f"There are {len(data)} examples but {len(labels)} labels: give one label per example."
        )
    data, labels = screen_rows(data, labels, dropna=dropna)
    if len(data) == 0:
        raise DataError("The data is empty: give at least two examples of each of two classes.")
    raw, kind = examples(data)
    targets = TASKS[task]
    if targets or (targets is None and class_names is None and num_classes is None and _has_fractions(labels)):
        if class_names is not None or num_classes is not None:
            raise DataError("Regression targets have no classes: drop class_names and num_classes, or pass "
                            "task='classification' for classes.")
        return LabelledData(raw, regression_targets(labels), None, kind)
    codes, names = encode_labels(labels, class_names, num_classes)
    if len(names) < 2 or np.count_nonzero(np.bincount(codes, minlength=len(names))) < 2:
        raise DataError(
            f"All examples belong to one class ({names[int(codes[0])]!r}): a classifier needs at "
            f"least two classes in the data."
        )
    return LabelledData(raw, codes, names, kind)


def read_images(files_by_class, max_side=readers.MAX_SIDE):
    """LabelledData from {class name: [image, ...]}, each image a path, bytes, or (file name,
    bytes) as an upload gives them: `session.set_data(tw.read_images({"cat": [...], "dog": [...]}))`."""
    images, labels, classes = readers.decode_images(files_by_class, max_side)
    return labelled(images, labels, class_names=classes)


def _has_fractions(labels):
    values = np.asarray(labels)
    return values.dtype.kind == "f" and bool(np.any(np.isfinite(values) & (values != np.round(values))))


def regression_targets(labels):
    """Float32 targets, one number per example (screened for NaN and inf by `screen_rows`),
    not all equal."""
    values = np.asarray(labels)
    if values.dtype.kind in "US" or values.dtype == object:
        raise DataError(f"Regression targets must be numbers, got {values.dtype.name} values like "
                        f"{values.flat[0]!r}: pass numeric targets, or task='classification' for classes.")
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1:
        raise DataError(f"Regression targets must be one number per example (1-D), got shape {values.shape}.")
    values = values.astype("float32")
    if values.min() == values.max():
        raise DataError(f"Every target is {values[0]:g}: regression needs targets that vary.")
    return values


def encode_labels(labels, class_names=None, num_classes=None):
    """Integer codes and class names. Strings are sorted into classes; integers are class
    numbers, checked by `validation.label_names`."""
    values = np.asarray(labels)
    if values.ndim != 1:
        raise DataError(f"Labels must be one value per example (1-D), got shape {values.shape}. "
                        "For one-hot labels pass labels.argmax(axis=1).")
    if values.dtype.kind in "US" or values.dtype == object:
        values = values.astype(str)
        names = tuple(class_names) if class_names is not None else tuple(sorted(set(values.tolist())))
        unknown = sorted(set(values.tolist()) - set(names))
        if unknown:
            raise DataError(f"Labels {unknown[:5]} are not among class_names {list(names)}: add them or fix the labels.")
        lookup = {name: i for i, name in enumerate(names)}
        return np.array([lookup[v] for v in values.tolist()], dtype="int32"), tuple(str(n) for n in names)
    if values.dtype.kind == "f":
        if not np.all(np.isfinite(values)) or not np.all(values == np.round(values)):
            raise DataError("Labels must be whole class numbers (0, 1, 2, …) or class names, not fractions or "
                            "NaN. For numeric targets pass task='regression'.")
    elif values.dtype.kind not in "iub":
        raise DataError(f"Labels must be integers or strings, got {values.dtype}.")
    codes = values.astype("int64")
    if codes.min() < 0:
        position = int(np.argmin(codes))
        raise DataError(f"Label {int(codes.min())} (position {position}) is negative: class numbers start at 0. "
                        "For numeric targets (a score) pass task='regression'.")
    return codes.astype("int32"), label_names(codes, class_names, num_classes)


def examples(data):
    """(examples, kind) for unlabelled raw data: texts, images or arrays (what `predict` takes)."""
    if isinstance(data, str):
        raise DataError(f"{data!r} is not a folder of images or a .csv file: pass a path to one, arrays, texts or a DataFrame.")
    if isinstance(data, (list, tuple)) and data and all(isinstance(x, str) for x in data):
        return list(data), "text"
    array = np.asarray(data)
    if array.dtype.kind in "US" or (array.dtype == object and array.size and isinstance(array.flat[0], str)):
        return [str(x) for x in array.tolist()], "text"
    if array.dtype == object or array.dtype.kind not in "iuf b":
        raise DataError(
            "Examples must be texts, or numeric arrays of equal shape (images as N×H×W or N×H×W×C)."
        )
    array = array.astype("float32")
    if array.ndim == 3:
        array = array[..., None]
    if array.ndim == 4:
        if array.shape[-1] not in (1, 3):
            raise DataError(
                f"Images must have 1 or 3 channels (last axis), got shape {array.shape[1:]}. "
                "Pass N×H×W (grayscale) or N×H×W×C with C = 1 or 3."
            )
        return array, "image"
    if array.ndim < 2:
        raise DataError(f"Examples need a batch axis: got shape {array.shape}. Pass an array of N examples.")
    return array, "array"


def _is_dataframe(data):
    return type(data).__name__ == "DataFrame" and hasattr(data, "columns")


def _from_dataframe(frame, labels, text_column, label_column):
    columns = [str(c) for c in frame.columns]
    text_column = text_column or next((c for c in TEXT_COLUMNS if c in columns), None)
    if text_column is None or text_column not in columns:
        raise DataError(
            f"The DataFrame has no text column {text_column or ''!r}; its columns are {columns}. "
            "Pass text_column='…'."
        )
    if labels is None:
        label_column = label_column or next((c for c in LABEL_COLUMNS if c in columns), None)
        if label_column is None or label_column not in columns:
            raise DataError(
                f"The DataFrame has no label column {label_column or ''!r}; its columns are {columns}. "
                "Pass label_column='…'."
            )
        labels = frame[label_column].tolist()
    column = frame[text_column]
    return [None if gap else str(text) for text, gap in zip(column.tolist(), column.isna().tolist())], labels


def _is_tf_dataset(data):
    return type(data).__module__.startswith("tensorflow") and hasattr(data, "as_numpy_iterator")


def _from_tf_dataset(dataset):
    spec = dataset.element_spec
    if not isinstance(spec, tuple) or len(spec) != 2:
        raise DataError("The tf.data.Dataset must yield (example, label) pairs.")
    if spec[1].shape.rank == 1:  # batched: each element carries a vector of labels
        dataset = dataset.unbatch()
    xs, ys = [], []
    for x, y in dataset.as_numpy_iterator():
        xs.append(x.decode() if isinstance(x, bytes) else x)
        ys.append(y.decode() if isinstance(y, bytes) else y)
    return xs, ys


def training_split(data, labels=None, *, validation=0.2, validation_data=None, seed=0, text_column=None,
                   label_column=None, class_names=None, dropna=False, task="auto", num_classes=None):
    """(train, validation) for `Session.set_data`: `data` read and split (seeded, stratified), or
    read beside `validation_data` (the same forms, or an (x, y) pair), which is given the
    training data's classes and task."""
    full = labelled(data, labels, text_column=text_column, label_column=label_column, class_names=class_names,
                    dropna=dropna, task=task, num_classes=num_classes)
    if validation_data is None:
        return split(full, validation, seed)
    if isinstance(validation_data, tuple) and len(validation_data) == 2:
        validation_data = labelled(*validation_data, class_names=full.class_names, dropna=dropna, task=full.task)
    held = labelled(validation_data, class_names=full.class_names, text_column=text_column,
                    label_column=label_column, dropna=dropna, task=full.task)
    return full, held


def split(data, validation=0.2, seed=0):
    """A seeded, stratified (train, validation) split; every class keeps at least one example
    in training. Regression targets are split at random."""
    if not 0 < validation < 1:
        raise DataError(f"validation must be a fraction between 0 and 1, got {validation!r}.")
    rng = np.random.default_rng(None if seed is None else whole_number("seed", seed, minimum=0, error=DataError))
    if data.class_names is None:  # regression targets: no classes to stratify by
        order = rng.permutation(len(data))
        n_held = min(max(int(round(len(data) * validation)), 1), len(data) - 1)
        if n_held < 1:
            raise DataError("The data is too small to hold out a validation set: give more examples.")
        return data.take(order[n_held:]), data.take(order[:n_held])
    train, held = [], []
    for label in range(len(data.class_names)):
        members = rng.permutation(np.flatnonzero(data.labels == label))
        n_held = int(round(len(members) * validation)) if len(members) > 1 else 0
        n_held = min(n_held, len(members) - 1)
        held += members[:n_held].tolist()
        train += members[n_held:].tolist()
    if not held:
        raise DataError("The data is too small to hold out a validation set: give more examples.")
    return data.take(rng.permutation(train)), data.take(rng.permutation(held))


def encode_split(backbone, train, held):
    """{"train", "validation"} encoded for `backbone`, or {} without a backbone or data."""
    if backbone is None or train is None:
        return {}
    return {"train": encode(train, backbone), "validation": encode(held, backbone)}


def encode(data, backbone):
    """Model inputs for `data`: token arrays for text, resized and preprocessed images."""
    if backbone.tokenizer is not None or data.kind == "text":
        if data.kind != "text":
            raise DataError(f"{backbone.source} takes text, but the data holds {data.kind} examples.")
        if backbone.tokenizer is None:
            raise DataError("This model takes no text input (it has no tokenizer): use images or arrays.")
        return backbone.tokenizer(data.examples)
    shape = backbone.input_shape
    values = data.examples
    if data.kind == "image" and shape is not None and len(shape) == 3:
        values = _fit_images(values, shape)
        if backbone.preprocess is not None:
            values = backbone.preprocess(values.copy())
        return np.asarray(values, dtype="float32")
    if shape is not None and not _fits(values.shape[1:], shape):
        raise DataError(
            f"Examples have shape {tuple(values.shape[1:])} but the model takes {tuple(shape)}: "
            "reshape the data or choose a model with that input shape."
        )
    return values


def _fits(actual, expected):
    """Whether an example shape matches a model input shape (None matches any size)."""
    return len(actual) == len(expected) and all(e is None or a == e for a, e in zip(actual, expected))


def _fit_images(images, shape):
    """Resize to the model's height×width and match its channel count."""
    import tensorflow as tf

    height, width, channels = shape
    if images.shape[-1] != channels:
        if images.shape[-1] == 1 and channels == 3:
            images = np.repeat(images, 3, axis=-1)
        elif images.shape[-1] == 3 and channels == 1:
            images = images.mean(axis=-1, keepdims=True)
    if (height, width) != images.shape[1:3] and height and width:
        images = tf.image.resize(images, (height, width)).numpy()
    return images
