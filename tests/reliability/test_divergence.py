"""A real run that diverges (its loss reaches NaN) ends within one batch, as "diverged", with the
last good weights back, BatchNorm statistics included, and no NaN in any record or chart."""

import json
import warnings

import keras
import numpy as np
import pytest

import tune_widgets as tw
from tune_widgets.models.snapshot import WeightSnapshot
from tune_widgets.training import Callback
from tune_widgets.widgets import TrainingPanel

pytestmark = pytest.mark.reliability


def linear_stack():
    """Dense layers with no activation between them, on raw 0–255 pixels: plain SGD at a high
    rate multiplies the gradients layer by layer until the loss overflows (measured: NaN in
    epoch 2 at rate 1, in epoch 1 at rate 10)."""
    inputs = keras.Input((8, 8, 1), name="pixels")
    x = keras.layers.Flatten(name="flat")(inputs)
    x = keras.layers.Dense(32, name="dense0")(x)
    x = keras.layers.BatchNormalization(name="dense0_bn")(x)
    x = keras.layers.Dense(32, name="dense1")(x)
    x = keras.layers.Dense(32, name="dense2")(x)
    return keras.Model(inputs, keras.layers.Dense(10, activation="softmax", name="predictions")(x))


@pytest.fixture
def exploding():
    keras.utils.set_random_seed(0)
    session = tw.Session().load_model(linear_stack(), head=tw.HeadSpec(dropout=0.0))
    session.set_data(tw.load_digits(n=200, seed=0), batch_size=32)
    return session


class EpochSnapshots(Callback):
    """Copies the weights after each epoch, as the guard sees them (it runs just before)."""

    order = 8

    def __init__(self):
        super().__init__()
        self.snapshots = []

    def on_epoch_end(self, epoch, logs=None):
        self.snapshots.append(WeightSnapshot.of(self.model))


def all_finite(model):
    return all(np.isfinite(np.asarray(weight)).all() for weight in model.weights)


def test_a_diverging_run_stops_at_once_and_goes_back_to_the_last_finite_epoch(exploding):
    panel = TrainingPanel(exploding, epochs=3)
    exploding.set_optimizer(optimizer="sgd", learning_rate=1.0)
    epochs = EpochSnapshots()
    with pytest.warns(tw.TuneWidgetsWarning, match="The run diverged"):
        run = exploding.fit(epochs=3, callbacks=[epochs])
    assert run.status == "diverged" and not exploding.training
    assert "the loss became nan" in run.error and "try 0.1" in run.error
    assert "back to the end of epoch 1, the last with finite losses" in run.error
    assert len(run.epochs) == 1 and len(run.batches) < run.total_steps  # stopped inside epoch 2
    assert epochs.snapshots[0].equals(exploding.model)  # bit for bit, BatchNorm statistics too
    assert all_finite(exploding.model)
    bn = exploding.model.get_layer("dense0_bn")
    assert np.isfinite(np.asarray(bn.moving_variance)).all()
    json.dumps(run.to_dict(), allow_nan=False)  # strict JSON: no NaN anywhere in the record
    assert exploding.progress["status"] == "diverged"
    assert "diverged" in panel.status.value and panel.error_text == run.error
    assert all(np.isfinite(y) for trace in panel.chart.data for y in trace.y if y is not None)
    assert not panel.train.disabled and panel.stop.disabled

    # The next fit starts from those weights (large: the loss was climbing) and trains on.
    exploding.set_optimizer(optimizer="adam", learning_rate=1e-3)
    with warnings.catch_warnings():
        warnings.simplefilter("error", tw.TuneWidgetsWarning)
        again = exploding.fit(epochs=1)
    losses = [row["loss"] for row in again.batches]
    assert again.status == "completed" and all_finite(exploding.model) and losses[-1] < losses[0]
    assert panel.error_text == ""  # the message went with the run it was about


def test_a_run_that_diverges_in_its_first_epoch_goes_back_to_its_start(exploding):
    exploding.set_optimizer(optimizer="sgd", learning_rate=10.0)
    start = WeightSnapshot.of(exploding.model)
    with pytest.warns(tw.TuneWidgetsWarning):
        run = exploding.fit(epochs=2)
    assert run.status == "diverged" and "where they were when the run started" in run.error
    assert start.equals(exploding.model)
    assert run.epochs == [] and all(np.isfinite(row["loss"]) for row in run.batches)


def test_the_lr_finder_seeks_divergence_so_the_guard_stands_aside(exploding):
    exploding.set_optimizer(optimizer="sgd")
    start = WeightSnapshot.of(exploding.model)
    with warnings.catch_warnings():
        warnings.simplefilter("error", tw.TuneWidgetsWarning)
        result = exploding.find_lr(start=1.0, end=10.0, steps=20, divergence=1e30)  # only NaN ends it
    run = exploding.runs[-1]
    assert not all(np.isfinite(result.losses)) and result.ended == "diverged"
    assert run.status == "completed" and run.error == ""  # the sweep did its job: not a diverged training run
    assert start.equals(exploding.model)  # the finder put the weights back
    json.dumps(run.to_dict(), allow_nan=False)
