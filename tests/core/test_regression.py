"""Regression: numeric targets, a linear head trained with mean squared error, its own report."""

import keras
import numpy as np
import pytest

import tune_widgets as tw

pytestmark = pytest.mark.tuning


def mlp(outputs=3):
    inputs = keras.Input((6,), name="values")
    hidden = keras.layers.Dense(16, activation="relu", name="hidden")(inputs)
    return keras.Model(inputs, keras.layers.Dense(outputs, activation="softmax", name="predictions")(hidden))


def linear_problem(n=200, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6)).astype("float32")
    return x, x @ rng.normal(size=6) + 3.0 + 0.1 * rng.normal(size=n)  # fractions: regression by itself


def test_an_mse_fit_on_numeric_targets_beats_predicting_the_mean():
    keras.utils.set_random_seed(0)
    x, y = linear_problem()
    session = tw.Session().load_model(mlp(), head=tw.HeadSpec(dropout=0.0)).set_data(x, y)
    assert session.task == "regression" and session.class_names is None
    head = session.model.get_layer("head_dense")
    assert head.units == 1 and head.activation.__name__ == "linear"
    session.set_optimizer(learning_rate=3e-2)
    run = session.fit(epochs=6, seed=0)
    assert run.config["task"] == "regression" and {"mae", "rmse", "val_mae", "val_rmse"} <= set(run.final)
    report = session.evaluate()
    assert isinstance(report, tw.RegressionReport) and session.evaluation is report
    held = session.validation_data.labels
    baseline = float(np.mean((held - session.train_data.labels.mean()) ** 2))
    assert report.mse < 0.1 * baseline and report.r2 > 0.9
    assert report.rmse == pytest.approx(np.sqrt(report.mse)) and report.mse == pytest.approx(run.final["val_loss"], rel=1e-3)
    errors = [abs(e.error) for e in report.worst]
    assert errors == sorted(errors, reverse=True) and len(errors) == 5
    predicted = session.predict(x[:4])
    assert predicted.shape == (4,)
    sweep = session.sweep_freeze(epochs=1)  # the tuning tools speak regression: lower MSE is better
    assert sweep.metric == "val_loss" and sweep.lower_is_better and all(p.value is not None for p in sweep.points)


def test_the_task_comes_from_the_data_explicitly_or_from_fractions():
    scores = [-1, 0, 1, 0, 1, -1]
    texts = ["bad", "meh", "good", "ok", "great", "awful"]
    assert tw.labelled(texts, scores, task="regression").task == "regression"
    with pytest.raises(tw.DataError, match="task='regression'"):
        tw.labelled(texts, scores)  # whole numbers are classes; a negative one says what to do
    assert tw.labelled(texts, [0.5, 1, 2, 0, 1, 2]).task == "regression"
    assert tw.labelled(texts, [0, 1, 2, 0, 1, 2]).class_names == ("0", "1", "2")
    for labels, task, words in (([0.5, np.inf, 1, 2, 3, 4], "auto", "missing labels"),
                                ([0.5, np.nan, 1, 2, 3, 4], "regression", "missing labels"),
                                ([1.0, 1.0, 1.0, 1.0, 1.0, 1.0], "regression", "vary"),
                                (["a", "b", "a", "b", "a", "b"], "regression", "must be numbers"),
                                ([0.5, 1.5, 1, 2, 3, 4], "sideways", "task must be one of")):
        with pytest.raises(tw.DataError, match=words):
            tw.labelled(texts, labels, task=task)
    with pytest.raises(tw.DataError, match="have no classes"):
        tw.labelled(texts, scores, class_names=["a", "b", "c"], task="regression")
    train, held = tw.split(tw.labelled(texts * 5, scores * 5, task="regression"), 0.2)
    assert len(train) == 24 and len(held) == 6 and "regression targets from -1" in repr(train)


def test_switching_between_classes_and_targets_rebuilds_the_head_and_bad_input_changes_nothing(digits):
    session = tw.Session().load_model(mlp(), head=tw.HeadSpec(dropout=0.0))
    x, y = linear_problem(60)
    session.set_data(x, (y > 3).astype(int))
    assert session.task == "classification" and session.model.output.shape[-1] == 2
    session.set_data(x, y)
    assert session.task == "regression" and session.model.output.shape[-1] == 1
    model, data = session.model, session.train_data
    bad = y.copy()
    bad[7] = np.nan
    with pytest.raises(tw.DataError, match="position 7"):
        session.set_data(x, bad)
    with pytest.raises(tw.ConfigError, match="one linear output"):
        session.set_head(num_classes=3)
    assert session.model is model and session.train_data is data
    assert "regression" in repr(session)
