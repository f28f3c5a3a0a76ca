"""What a model is trained to predict: classes or a number.

Everything that differs between the two lives here, as scikit-learn's mixins and KerasHub's
tasks keep it in one place: the loss and metrics, the head's width and output layer, why a head
does not fit the data, the report, and the metrics the tools compare and chart. The data decides
the task (`LabelledData.task` names it); `task_named` gives its object.
"""

import keras
import numpy as np

from ..errors import ConfigError, StateError
from ..evaluation import regression_report, report


class Task:
    """One kind of prediction. `name` is what configs and `LabelledData.task` record."""

    name = ""
    sweep_metric = ""  # what the freeze sweep compares by default
    chart_metric = ""  # the training panel's metric chart
    export_refusal = ""  # why a run of this task cannot be exported as a script ("" when it can)

    def outputs(self, class_names):
        """The head's width for data with these class names."""
        raise NotImplementedError

    def head_width(self, head, data, force=False):
        """The width of the head `head` (a HeadSpec) should get for `data` (None before any data);
        None when it cannot be known yet. force: a head was asked for, so not knowing is an error."""
        raise NotImplementedError

    def follows_data(self, head):
        """Whether the head's width follows the data (so new data may rebuild it)."""
        return True

    def classes_given(self, count):
        """The class count that labels must fit, given the one the head was given."""
        return count

    def loss_and_metrics(self, from_logits=False):
        raise NotImplementedError

    def output_layer(self, width, head, data):
        """The head's last layer."""
        raise NotImplementedError

    def head_mismatch(self, width, data):
        """Why a model with `width` outputs does not fit `data`, or "" when it does."""
        wanted = self.outputs(data.class_names)
        return "" if width is None or width == wanted else self._mismatch(width, wanted)

    def _mismatch(self, width, wanted):
        raise NotImplementedError

    def predictions(self, outputs):
        """What `predict` returns for the model's outputs."""
        return outputs

    def report(self, outputs, held, k, name):
        raise NotImplementedError

    def describe(self, data):
        """A few words for a session's repr."""
        raise NotImplementedError


class Classification(Task):
    name = "classification"
    sweep_metric = "val_accuracy"
    chart_metric = "accuracy"

    def outputs(self, class_names):
        return len(class_names)

    def head_width(self, head, data, force=False):
        classes = head.num_classes or (len(data.class_names) if data is not None else None)
        if classes is None:
            if force:
                raise StateError("Set data first, or give num_classes: the head needs a class count.")
            return None
        known = len(data.class_names) if data is not None else classes
        if force and classes != known:  # a fit would refuse the head; with more, ask for the classes' names
            more = (f", or name all {classes} classes to keep empty ones on purpose "
                    f"(set_data(..., class_names=[...]) first)") if classes > known else ""
            raise ConfigError(f"The head has {classes} classes but the data has {known}: leave num_classes=None to "
                              f"follow the data{more}.")
        return classes

    def follows_data(self, head):
        return not head.num_classes

    def loss_and_metrics(self, from_logits=False):
        """The founding document's loss: cross-entropy on class numbers."""
        return keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits), ["accuracy"]

    def output_layer(self, width, head, data):
        return keras.layers.Dense(width, activation=head.activation, name="head_dense")

    def _mismatch(self, width, wanted):
        return (f"The model predicts {width} classes but the data has {wanted}: give it a new head with "
                f"session.set_head(), which takes the class count from the data.")

    def report(self, outputs, held, k, name):
        return report(outputs, held.labels, held.class_names, held.examples, k=k, name=name)

    def describe(self, data):
        return f"{len(data.class_names)} classes"


class Regression(Task):
    name = "regression"
    sweep_metric = "val_loss"
    chart_metric = "mae"
    export_refusal = ("A run on regression targets cannot be exported yet: the script trains a classifier "
                      "(sparse cross-entropy on class numbers).")

    def outputs(self, class_names):
        return 1

    def head_width(self, head, data, force=False):
        if head.num_classes:
            raise ConfigError(f"The data holds regression targets, which take one linear output, not "
                              f"{head.num_classes} classes: leave num_classes=None (set_data(..., "
                              f"task='classification') makes the data classes).")
        return 1

    def classes_given(self, count):
        return None  # targets have no classes

    def loss_and_metrics(self, from_logits=False):
        """Mean squared error, reported with MAE and RMSE."""
        return keras.losses.MeanSquaredError(), [keras.metrics.MeanAbsoluteError(name="mae"),
                                                 keras.metrics.RootMeanSquaredError(name="rmse")]

    def output_layer(self, width, head, data):
        """One linear output whose bias starts at the targets' mean: the untrained head starts from
        the baseline it has to beat."""
        mean = float(data.labels.mean()) if data is not None else 0.0
        return keras.layers.Dense(1, bias_initializer=keras.initializers.Constant(mean), name="head_dense")

    def _mismatch(self, width, wanted):
        return (f"The model has {width} outputs but the data holds regression targets (one output): give it "
                f"a regression head with session.set_head().")

    def predictions(self, outputs):
        return np.asarray(outputs)[:, 0]

    def report(self, outputs, held, k, name):
        return regression_report(self.predictions(outputs), held.labels, held.examples, k=k, name=name)

    def describe(self, data):
        return "regression"


CLASSIFICATION, REGRESSION = Classification(), Regression()
TASKS = {task.name: task for task in (CLASSIFICATION, REGRESSION)}


def task_named(name):
    """The task object for a recorded name; None (no data yet, or a config from before tasks
    were recorded) is classification."""
    return TASKS[name or CLASSIFICATION.name]


def head_mismatch(model, data):
    """Why `model`'s outputs do not fit `data`'s task, or "" when they do (or either is None)."""
    if model is None or data is None:
        return ""
    return task_named(data.task).head_mismatch(model.output.shape[-1], data)
