"""What a session's model makes of examples: predictions, and evaluation reports (its task's:
see `task.py`). `Session.evaluate` and `Session.predict` are these functions."""

import keras
import numpy as np

from ..data import LabelledData, bucketing, encode, examples, labelled
from ..errors import StateError
from ..validation import screen_rows
from .head import input_names
from .task import task_named


def evaluate(session, data=None, labels=None, *, k=5, name=None, dropna=False):
    """Evaluate on the validation data, or on `data` (anything set_data takes): an
    EvaluationReport, or a RegressionReport for regression data. Kept in `session.evaluation`.
    dropna=True: rows of `data` with missing or non-finite values are left out, as in set_data."""
    model = session.require_model()
    if data is None:
        if session.validation_data is None:
            raise StateError("There is no validation data: call set_data(...) or pass data.")
        if session.head_mismatch:
            raise StateError(session.head_mismatch)
        held, name = session.validation_data, name or "validation"
        cached = session.feature_cache.cached(model, session.plan, session.encoded)
        model, x = (cached[0], cached[2]) if cached else (model, session.encoded["validation"])
    else:
        held = labelled(data, labels, class_names=session.class_names, task=session.task or "auto", dropna=dropna)
        x, name = encode(held, session.backbone), name or "test"
    session.evaluation = task_named(held.task).report(outputs(session, model, x), held, k, name)
    return session.evaluation


def predict(session, examples_given):
    """Class probabilities for raw examples (texts, images or arrays); for regression, one
    predicted value per example."""
    model = session.require_model()
    if isinstance(examples_given, str):
        examples_given = [examples_given]
    rows, _ = screen_rows(examples_given, droppable=False)
    raw, kind = examples(rows)
    raw = LabelledData(raw, np.zeros(len(raw), "int32"), ("",), kind)
    return task_named(session.task).predictions(outputs(session, model, encode(raw, session.backbone)))


def outputs(session, model, x):
    """The model's outputs (class probabilities, or targets), computed length-bucketed for text
    (see `data/bucketing.infer`); a head that outputs logits gets its softmax here."""
    inputs = bucketing.as_inputs(x, input_names(model)) if not isinstance(x, list) else x
    output = bucketing.infer(model, inputs, batch_size=session.batch_size * 2)[0]
    if outputs_logits(session):
        output = keras.ops.convert_to_numpy(keras.ops.softmax(output, axis=-1))
    return np.asarray(output)


def outputs_logits(session):
    """Whether the model's head outputs logits (a linear head of the session's own)."""
    return not session.keeps_own_head and session.head.activation == "linear"
