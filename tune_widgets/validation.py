"""Checks shared by every entry point, so a cell and a panel refuse the same things the same way.

- Whole numbers (`whole_number`): numpy integers are accepted, booleans are not, whatever
  the setting (batch size, epochs, class count).
- Values inside data (`screen_rows`): a None or NaN text or label, and a NaN or inf feature,
  are refused with their positions named, or dropped on request (`dropna=True`); an empty
  text is only warned about. Without this, None becomes the text "None", a NaN label becomes a
  class "nan", and a NaN pixel silently poisons the weights.
- Integer labels (`label_names`): class numbers must lie below the class count, and without a
  count they must not skip numbers, which would create empty classes without a word.

Every check raises before anything is assigned, naming what to change.
"""

import math
import numbers
import warnings

import numpy as np
import traitlets

from .errors import ConfigError, DataError, TuneWidgetsWarning

SHOWN = 5  # positions named in a message; the rest are counted


def whole_number(name, value, minimum=1, error=ConfigError):
    """`value` as an int when it is a whole number ≥ `minimum` (numpy integers too, not bools)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) or value < minimum:
        wanted = "a positive whole number" if minimum == 1 else f"a whole number of at least {minimum}"
        raise error(f"{name} must be {wanted}, got {value!r}.")
    return int(value)


def image_shape(shape, model):
    """`shape` as (height, width, channels) of whole numbers ≥ 1, for the network `model`: what
    load_model and the model panel take."""
    try:
        shape = tuple(shape)
    except TypeError:
        shape = (shape,)
    if len(shape) != 3:
        raise ConfigError(f"input_shape for {model} must be (height, width, channels), got {shape}.")
    if any(isinstance(n, (bool, np.bool_)) or not isinstance(n, numbers.Integral) or n < 1 for n in shape):
        raise ConfigError(f"input_shape for {model} must be (height, width, channels), each a whole number of at "
                          f"least 1 (like 224, 224, 3), got {shape}.")
    return tuple(int(n) for n in shape)


class WholeNumber(traitlets.Int):
    """An Int trait checked as `whole_number` checks: an assignment (session.batch_size = 0)
    is refused with the message every other entry gives, and numpy integers are taken."""

    def validate(self, obj, value):
        return whole_number(self.name, value)


# ---- values inside data ----------------------------------------------------------------------


def screen_rows(data, labels=None, *, dropna=False, droppable=True):
    """(data, labels) with every row's values usable: refuses missing texts or labels and
    non-finite features, naming their positions, or drops those rows when `dropna` (with a
    warning that counts them). Warns about empty texts. `labels=None`: examples alone.
    droppable=False: the caller needs every row (predict), so the refusal offers no dropna."""
    problems = {}  # description → bad positions
    texts = _texts(data)
    if texts is not None:
        problems["missing texts (None or NaN)"] = [i for i, text in enumerate(texts) if _missing(text)]
    else:
        problems["features with NaN or inf"] = _non_finite_rows(data)
    if labels is not None:
        problems["missing labels (None or NaN)"] = _missing_labels(labels)
    problems = {what: rows for what, rows in problems.items() if rows}
    if problems:
        bad = sorted({row for rows in problems.values() for row in rows})
        found = "; ".join(f"{what} at {_positions(rows)}" for what, rows in problems.items())
        if not droppable:
            raise DataError(f"The data has {found}. Fix those values: predict gives one answer per example, so it "
                            f"drops none.")
        if not dropna:
            raise DataError(f"The data has {found}. Fix those values, or pass dropna=True to drop the "
                            f"{len(bad)} row{'s' * (len(bad) != 1)} that hold them.")
        total = len(data)
        data, labels, texts = _drop(data, bad), _drop(labels, bad), _drop(texts, bad)
        warnings.warn(f"dropna=True dropped {len(bad)} of {total} rows: {found}.",
                      TuneWidgetsWarning, stacklevel=3)
    if texts is not None:
        blank = [i for i, text in enumerate(texts) if isinstance(text, str) and not text.strip()]
        if blank:
            warnings.warn(f"{len(blank)} text{'s are' if len(blank) > 1 else ' is'} empty or whitespace only, "
                          f"at {_positions(blank)}: they train as an empty input. Remove them if that is "
                          f"a mistake.", TuneWidgetsWarning, stacklevel=3)
    return data, labels


def _texts(data):
    """`data` as a list when it holds texts (strings, maybe with gaps), else None."""
    if isinstance(data, np.ndarray) and data.dtype.kind in "US":
        return data.tolist()
    if isinstance(data, (list, tuple)) or (isinstance(data, np.ndarray) and data.dtype == object):
        items = list(data)
        if any(isinstance(item, str) for item in items) and all(isinstance(item, str) or _missing(item)
                                                                for item in items):
            return items
    return None


def _missing(value):
    """None, a float NaN, or pandas' NA/NaT (what a DataFrame's gaps come back as)."""
    if value is None or type(value).__name__ in ("NAType", "NaTType"):
        return True
    return isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral) and math.isnan(value)


def _non_finite_rows(data):
    try:
        array = np.asarray(data)
    except ValueError:  # ragged: `examples` says what is wrong with it
        return []
    return _non_finite(array) if array.dtype.kind in "fc" else []


def _non_finite(array):
    """Rows (first axis) of a float array that hold a NaN or inf."""
    if array.ndim == 0 or array.size == 0:
        return []
    return np.flatnonzero(~np.isfinite(array.reshape(len(array), -1)).all(axis=1)).tolist()


def _missing_labels(labels):
    if isinstance(labels, np.ndarray) and labels.dtype.kind in "fc":
        return _non_finite(labels)
    if isinstance(labels, np.ndarray) and labels.dtype != object:
        return []
    return [i for i, label in enumerate(labels) if _missing(label)
            or (isinstance(label, numbers.Real) and not math.isfinite(label))]


def _drop(values, rows):
    if values is None:
        return None
    keep = np.setdiff1d(np.arange(len(values)), rows)
    if isinstance(values, np.ndarray):
        return values[keep]
    return [values[i] for i in keep]


def _positions(rows):
    shown = ", ".join(str(row) for row in rows[:SHOWN])
    more = f" and {len(rows) - SHOWN} more" if len(rows) > SHOWN else ""
    return f"position{'s' * (len(rows) > 1)} {shown}{more}"


# ---- integer labels --------------------------------------------------------------------------


def label_names(codes, class_names=None, num_classes=None):
    """Class names for integer labels `codes` (already known to be whole and ≥ 0).

    With `class_names` or `num_classes` every label must be below that count; classes absent
    from the data are then allowed (the count was given on purpose). With neither, the labels
    must not skip a class number: labels 0, 1, 7 would otherwise make five empty classes.
    """
    if class_names is not None:
        names = tuple(str(name) for name in class_names)
        _check_range(codes, len(names), f"{len(names)} class names", "fix the labels or add the missing class names")
        return names
    if num_classes is not None:
        _check_range(codes, num_classes, f"the head's {num_classes} classes",
                     "fix the labels, or call set_head(num_classes=None) to take the count from the data")
        return tuple(str(i) for i in range(num_classes))
    present = np.unique(codes)
    gaps = np.setdiff1d(np.arange(int(present[-1]) + 1), present)
    if len(gaps):
        count = int(present[-1]) + 1
        shown = ", ".join(str(g) for g in gaps[:SHOWN]) + (f" and {len(gaps) - SHOWN} more" if len(gaps) > SHOWN else "")
        raise DataError(
            f"The labels skip class number{'s' * (len(gaps) > 1)} {shown} (they hold "
            f"{', '.join(str(p) for p in present[:8])}{' …' if len(present) > 8 else ''}): integer labels are class "
            f"numbers 0…N-1, so {len(gaps)} empty class{'es' * (len(gaps) > 1)} would be made. Renumber them "
            f"(np.unique(labels, return_inverse=True)[1]), or give class_names (all {count}) or "
            f"set_head(num_classes={count}) to keep empty classes on purpose."
        )
    return tuple(str(i) for i in range(len(present)))


def _check_range(codes, count, what, advice):
    outside = np.flatnonzero(codes >= count).tolist()
    if outside:
        values = sorted({int(codes[i]) for i in outside})
        shown = ", ".join(str(v) for v in values[:SHOWN]) + (" …" if len(values) > SHOWN else "")
        verb = "are" if len(values) > 1 else "is"
        raise DataError(f"Label{'s' * (len(values) > 1)} {shown} {verb} out of range for {what} "
                        f"(0–{count - 1}), at {_positions(outside)}: {advice}.")


# ---- fits ------------------------------------------------------------------------------------


def check_something_trains(layers):
    """Refuse a fit in which no weight would change (every layer with weights frozen, and no
    LoRA adapters, which train inside frozen layers): it would run, report "completed", and
    leave the model as it was."""
    if not any((row.params and not row.frozen) or row.adapter_params for row in layers):
        last = next((row.name for row in reversed(layers) if row.params), None)
        example = f", e.g. session.unfreeze({last!r})" if last else ""
        raise ConfigError(f"Every layer with weights is frozen, so a fit would change nothing. Unfreeze the "
                          f"layers to train first{example}.")
