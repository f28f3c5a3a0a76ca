"""Plain Keras callbacks take part in a fit, after ours: each of the usual ones, and a user's
own, on the feature cache's path (they see the session's whole model, not the suffix that
trains). Refusals of callbacks that cannot take part are in test_refusals.py."""

import csv
import json
import warnings

import keras
import numpy as np
import pytest

import tune_widgets as tw
from tests.reliability.test_divergence import exploding  # noqa: F401 (a fixture)
from tests.reliability.test_interrupts import InterruptAt
from tune_widgets.widgets import TrainingPanel

pytestmark = pytest.mark.reliability


def never_improves(callback_class, **options):
    """A callback whose monitor (val_loss) never improves by min_delta=10 after the first epoch."""
    return callback_class(monitor="val_loss", min_delta=10, **options)


class Sees(keras.callbacks.Callback):
    """A user's own plain callback: what it sees at each epoch end."""

    def __init__(self, session):
        super().__init__()
        self.session, self.seen = session, []

    def on_epoch_end(self, epoch, logs=None):
        run = self.session.runs[-1]
        self.seen.append({"model": self.model, "logs": dict(logs), "recorded": len(run.epochs),
                          "rate": float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))})


def test_early_stopping_ends_the_run_as_completed_and_records_why(file_session, runs_dir):
    panel = TrainingPanel(file_session)
    run = file_session.fit(epochs=5, callbacks=[never_improves(keras.callbacks.EarlyStopping, patience=1)])
    assert run.config["cache"]["used"]  # the stop reaches the suffix that trains
    assert run.status == "completed" and len(run.epochs) == 2
    assert run.ended_early == "EarlyStopping stopped the fit in epoch 2"
    assert "(EarlyStopping stopped the fit in epoch 2)" in panel.status.value
    (stored,) = tw.Session(runs_dir=runs_dir).runs  # read back after a restart
    assert stored.status == "completed" and stored.ended_early == run.ended_early
    assert file_session.fit(epochs=2).ended_early == "" and len(file_session.runs[-1].epochs) == 2


def test_reduce_lr_on_plateau_lowers_the_constant_rate(file_session):
    seen = Sees(file_session)
    plateau = never_improves(keras.callbacks.ReduceLROnPlateau, factor=0.5, patience=1)
    file_session.fit(epochs=3, callbacks=[plateau, seen])
    assert [row["rate"] for row in seen.seen] == pytest.approx([1e-3, 5e-4, 2.5e-4])
    assert [row["logs"]["learning_rate"] for row in seen.seen] == pytest.approx([1e-3, 1e-3, 5e-4])


def test_model_checkpoint_saves_the_whole_model_which_loads_in_safe_mode(file_session, tmp_path):
    path = tmp_path / "checkpoint.keras"
    run = file_session.fit(epochs=2, callbacks=[keras.callbacks.ModelCheckpoint(path, monitor="val_loss")])
    assert run.config["cache"]["used"] and run.status == "completed"
    saved = keras.saving.load_model(path, safe_mode=True)
    assert [layer.name for layer in saved.layers] == [layer.name for layer in file_session.model.layers]
    x = file_session.encoded["validation"]
    assert np.allclose(saved.predict(x, verbose=0), file_session.model.predict(x, verbose=0), atol=1e-6)
    assert not hasattr(file_session.model, "optimizer")  # the fit's optimizer was only lent to it


def test_csv_logger_writes_each_epoch_with_the_validation_metrics(file_session, tmp_path):
    path = tmp_path / "log.csv"
    file_session.fit(epochs=2, callbacks=[keras.callbacks.CSVLogger(str(path))])
    rows = list(csv.DictReader(path.open()))
    assert [row["epoch"] for row in rows] == ["0", "1"]
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(rows[0])
    assert float(rows[1]["val_loss"]) == pytest.approx(file_session.runs[-1].epochs[1]["val_loss"], rel=1e-5)


def test_terminate_on_nan_lets_the_divergence_guard_end_the_run_first(exploding):  # noqa: F811
    run = exploding.fit(epochs=1, callbacks=[keras.callbacks.TerminateOnNaN()])
    assert run.status == "completed" and run.ended_early == ""
    exploding.set_optimizer(optimizer="sgd", learning_rate=10.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tw.TuneWidgetsWarning)
        run = exploding.fit(epochs=3, callbacks=[keras.callbacks.TerminateOnNaN(raise_error=True)])
    assert run.status == "diverged" and "Lower the learning rate" in run.error  # ours, not TerminateOnNaN's
    assert all(np.isfinite(np.asarray(weight)).all() for weight in exploding.model.weights)
    json.dumps(run.to_dict(), allow_nan=False)


def test_backup_and_restore_resumes_an_interrupted_fit_at_its_epoch(file_session, tmp_path):
    backup = keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))
    with pytest.raises(KeyboardInterrupt):
        file_session.fit(epochs=3, callbacks=[backup, InterruptAt(KeyboardInterrupt(), epoch=1, batch=2)])
    assert (tmp_path / "backup" / "latest.weights.h5").exists()
    resumed = file_session.fit(epochs=3, callbacks=[backup])
    assert resumed.config["cache"]["used"] and resumed.status == "completed"
    assert [row["epoch"] for row in resumed.epochs] == [1, 2]  # epoch 0 was done before the interrupt
    assert not (tmp_path / "backup").exists()
    assert [row["epoch"] for row in file_session.fit(epochs=1).epochs] == [0]  # the next fit starts at 0


def test_a_users_own_callback_sees_the_whole_model_and_the_epoch_already_recorded(file_session):
    seen = Sees(file_session)

    class StopAtBatch(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 1:
                self.model.stop_training = True

    run = file_session.fit(epochs=2, callbacks=[seen])
    assert run.config["cache"]["used"]
    assert all(row["model"] is file_session.model for row in seen.seen)
    assert [row["recorded"] for row in seen.seen] == [1, 2]  # after our Recorder
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(seen.seen[0]["logs"])
    stopped = file_session.fit(epochs=2, callbacks=[StopAtBatch()])
    assert stopped.status == "completed" and len(stopped.batches) == 2 and len(stopped.epochs) == 1
    assert stopped.ended_early == "StopAtBatch stopped the fit in epoch 1"


def test_without_the_cache_they_see_the_model_that_trains(cnn_session):
    seen = Sees(cnn_session)
    run = cnn_session.fit(epochs=1, cache=False, callbacks=[seen])
    assert not run.config["cache"]["used"] and seen.seen[0]["model"] is cnn_session.model
