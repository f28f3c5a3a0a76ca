import json
import threading
import time

import numpy as np
import pytest

import tune_widgets as tw
from tune_widgets.training import Callback


def test_fit_returns_a_run_record_with_batches_epochs_and_config(cnn_session):
    run = cnn_session.fit(epochs=2, batch_size=40)
    assert run.status == "completed" and run in cnn_session.runs
    assert len(run.batches) == run.total_steps == 2 * 4  # 159 examples / 40 → 4 batches an epoch
    assert [row["epoch"] for row in run.epochs] == [0, 1]
    assert {"loss", "accuracy", "val_loss", "val_accuracy", "seconds"} <= set(run.epochs[0])
    assert run.config["batch_size"] == 40 and run.config["optimizer"]["optimizer"] == "adam"
    json.dumps(run.to_dict())  # plain data
    assert not cnn_session.training


@pytest.mark.parametrize("epochs", [0, -2, 1.5])
def test_epochs_must_be_positive(cnn_session, epochs):
    with pytest.raises(tw.ConfigError, match="epochs must be a positive whole number"):
        cnn_session.fit(epochs=epochs)
    assert cnn_session.runs == [] and not cnn_session.training


def test_fit_without_data_or_model_says_what_to_do():
    with pytest.raises(tw.StateError, match="load_model"):
        tw.Session().fit()


class SlowBatches(Callback):
    """Makes each batch take a known time, and counts the batches that ran."""

    def __init__(self):
        super().__init__()
        self.batches, self.started = 0, threading.Event()

    def on_train_batch_end(self, batch, logs=None):
        self.batches += 1
        self.started.set()
        time.sleep(0.05)


def test_stop_ends_a_background_fit_within_one_batch_and_keeps_weights(cnn_session):
    slow = SlowBatches()
    future = cnn_session.fit(epochs=50, batch_size=8, callbacks=[slow], background=True)
    assert slow.started.wait(30)
    assert cnn_session.training
    with pytest.raises(tw.StateError, match="A fit is running"):
        cnn_session.freeze("conv1")  # no change under a running fit
    cnn_session.stop()
    seen = slow.batches
    run = future.result(timeout=30)
    assert run.status == "stopped" and not cnn_session.training
    assert slow.batches <= seen + 1
    assert len(run.batches) < run.total_steps
    assert cnn_session.evaluate().accuracy >= 0  # the stopped model is usable at once


def test_evaluation_report(cnn_session):
    cnn_session.set_optimizer(learning_rate=0.02)
    cnn_session.fit(epochs=3)
    report = cnn_session.evaluate(k=4)
    assert report.confusion.shape == (10, 10) and report.confusion.sum() == len(cnn_session.validation_data)
    assert report.accuracy == pytest.approx(np.trace(report.confusion) / report.confusion.sum())
    rows = report.per_class()
    assert [r["class"] for r in rows] == list("0123456789")
    assert all(0 <= r["precision"] <= 1 and 0 <= r["f1"] <= 1 for r in rows)
    assert len(report.worst) == 4 and report.worst[0].loss >= report.worst[-1].loss
    assert report.worst[0].example.shape == (8, 8, 1)
    test = cnn_session.evaluate(tw.load_digits(n=60, seed=9))
    assert test.name == "test" and test.support.sum() == 60


@pytest.mark.slow
def test_minilm_fine_tune_on_a_few_dozen_tweets_beats_chance(minilm):
    tweets = tw.load_tweets(n=300, seed=0)
    train, held = tw.split(tweets, 0.5, seed=0)
    session = tw.Session().load_model(minilm, sequence_length=48)
    session.set_data(train.take(range(72)), validation_data=held.take(range(90)))
    session.freeze_to("transformer_layer_5")  # the recipe: only the head trains
    session.set_optimizer(learning_rate=1e-2)
    session.fit(epochs=4, batch_size=24, seed=0)
    report = session.evaluate()
    majority = held.take(range(90)).class_counts.max() / 90
    print(report, majority)
    assert report.accuracy > majority + 0.05, (report, majority)


class Explodes(Callback):
    """Raises `error` at the end of the second batch."""

    def __init__(self, error):
        super().__init__()
        self.error = error

    def on_train_batch_end(self, batch, logs=None):
        if batch == 1:
            raise self.error


def test_an_error_inside_the_fit_fails_the_run_names_the_stage_and_leaves_the_session_ready(cnn_session, monkeypatch):
    with pytest.raises(tw.FitError, match="while training: ValueError: boom"):
        cnn_session.fit(epochs=2, batch_size=16, callbacks=[Explodes(ValueError("boom"))])
    run = cnn_session.runs[-1]
    assert run.status == "failed" and run.error == "ValueError: boom"
    assert not cnn_session.training and cnn_session.progress["status"] == "failed"

    from tune_widgets.training import cache

    def broken(*args, **kwargs):
        raise ValueError("the prefix broke")

    monkeypatch.setattr(cache, "compute_features", broken)
    cnn_session.freeze("conv1")
    with pytest.raises(tw.FitError, match=r"while caching the frozen layers' outputs: ValueError: the prefix broke"
                                          r"\nPass cache=False") as error:
        cnn_session.fit(epochs=1)
    assert isinstance(error.value.__cause__, ValueError)
    assert cnn_session.runs[-1].status == "failed" and not cnn_session.training
    assert cnn_session.fit(epochs=1, cache=False).status == "completed"  # the advice works


def test_an_interrupt_inside_the_fit_ends_the_run_and_the_next_fit_works(cnn_session):
    with pytest.raises(KeyboardInterrupt):
        cnn_session.fit(epochs=2, batch_size=16, callbacks=[Explodes(KeyboardInterrupt())])
    run = cnn_session.runs[-1]
    assert run.status == "stopped" and run.error == "KeyboardInterrupt"
    assert not cnn_session.training and cnn_session.progress["status"] == "stopped"
    assert cnn_session.fit(epochs=1).status == "completed"
