"""session.reset(): the weights before the first fit, bit for bit, fast; settings and data kept."""

import time

import numpy as np
import pytest

import tune_widgets as tw
from tune_widgets.models.snapshot import WeightSnapshot
from tests.conftest import small_cnn


def test_reset_undoes_fits_and_keeps_data_plan_optimizer_and_runs(cnn_session):
    start = WeightSnapshot.of(cnn_session.model)
    cnn_session.freeze_to("conv1_relu")
    cnn_session.set_optimizer(learning_rate=3e-3)
    train, held, plan, optimizer = (cnn_session.train_data, cnn_session.validation_data, cnn_session.plan,
                                    cnn_session.optimizer)
    first = cnn_session.fit(epochs=1, seed=0)
    cnn_session.evaluate()
    assert not start.equals(cnn_session.model)
    assert cnn_session.reset() is cnn_session
    assert start.equals(cnn_session.model)
    assert (cnn_session.train_data, cnn_session.validation_data, cnn_session.plan, cnn_session.optimizer) == (
        train, held, plan, optimizer)
    assert cnn_session.runs == [first] and cnn_session.evaluation is None  # the report described the old weights
    again = cnn_session.fit(epochs=1, seed=0)  # dropout's random state is back too: the same run again
    assert [row["loss"] for row in again.batches] == [row["loss"] for row in first.batches]


def test_reset_returns_a_new_head_to_its_starting_weights(digits):
    session = tw.Session().load_model(small_cnn(num_classes=10))
    session.set_data(digits)
    pretrained = WeightSnapshot.of(session.model)  # the user model's own head, as loaded
    session.fit(epochs=1)
    session.set_head(dropout=0.5)  # a new head (with dropout) on trained weights
    head_start = WeightSnapshot({p: v for p, v in WeightSnapshot.of(session.model).values.items() if p.startswith("head_")})
    session.fit(epochs=1)
    session.reset()
    assert head_start.equals(session.model)
    body = {p: v for p, v in pretrained.values.items() if not p.startswith("predictions")}
    assert WeightSnapshot(body).equals(session.model)  # the body as loaded, not as first trained


def test_reset_is_refused_without_a_model_and_during_a_fit(cnn_session):
    with pytest.raises(tw.StateError, match="no model yet"):
        tw.Session().reset()
    from tests.core.test_session import SlowBatches

    slow = SlowBatches()
    future = cnn_session.fit(epochs=20, batch_size=8, callbacks=[slow], background=True)
    try:
        assert slow.started.wait(30)
        with pytest.raises(tw.StateError, match="A fit is running"):
            cnn_session.reset()
    finally:
        cnn_session.stop()
        future.result(30)


def test_minilm_resets_bit_for_bit_in_under_a_second(minilm):
    session = tw.Session().load_model(minilm, sequence_length=16)
    session.set_data(tw.load_tweets(n=30, seed=0))
    start = WeightSnapshot.of(session.model)
    rng = np.random.default_rng(0)
    for variable in session.model.trainable_weights:  # what a fit would do, without its cost
        variable.assign(np.asarray(variable) + rng.normal(0, 0.01, variable.shape).astype("float32"))
    assert not start.equals(session.model)
    started = time.perf_counter()
    session.reset()
    seconds = time.perf_counter() - started
    assert start.equals(session.model)
    assert seconds < 1.0, f"reset took {seconds:.2f}s"
