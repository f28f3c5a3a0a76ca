import keras
import numpy as np
import pytest

import tune_widgets as tw
from tune_widgets.training.optimizers import build_optimizer, learning_rates


@pytest.mark.parametrize("value", [0, -1e-3, float("nan"), "fast", None, True])
def test_learning_rate_must_be_a_positive_number(value):
    with pytest.raises(tw.ConfigError, match="learning_rate must be a positive number"):
        tw.OptimizerSpec(learning_rate=value)


def test_unknown_names_list_the_choices():
    with pytest.raises(tw.ConfigError, match="adam, adamw, sgd, rmsprop"):
        tw.OptimizerSpec(optimizer="adagradx")
    with pytest.raises(tw.ConfigError, match="one_cycle"):
        tw.OptimizerSpec(schedule="linear")


def test_builds_each_optimizer_with_its_settings():
    sgd = build_optimizer(tw.OptimizerSpec("sgd", 0.1, momentum=0.8, nesterov=True, clipnorm=1.0), 10)
    assert isinstance(sgd, keras.optimizers.SGD) and sgd.nesterov and sgd.momentum == 0.8 and sgd.clipnorm == 1.0
    adamw = build_optimizer(tw.OptimizerSpec("adamw", 1e-3, weight_decay=0.02), 10)
    assert isinstance(adamw, keras.optimizers.AdamW) and adamw.weight_decay == 0.02
    assert isinstance(build_optimizer(tw.OptimizerSpec("rmsprop"), 10), keras.optimizers.RMSprop)


def test_schedules_have_their_shapes():
    steps = 100
    constant = learning_rates(tw.OptimizerSpec(learning_rate=0.01), steps)
    assert np.allclose(constant, 0.01)
    cosine = learning_rates(tw.OptimizerSpec(learning_rate=0.01, schedule="cosine"), steps)
    assert cosine[0] == pytest.approx(0.01) and cosine[-1] < 1e-4 and np.all(np.diff(cosine) <= 1e-12)
    warm = learning_rates(tw.OptimizerSpec(learning_rate=0.01, schedule="warmup_cosine", warmup_fraction=0.2), steps)
    assert warm[0] == 0 and warm.argmax() == 20 and warm.max() == pytest.approx(0.01)
    cycle = learning_rates(tw.OptimizerSpec(learning_rate=0.01, schedule="one_cycle", warmup_fraction=0.25), steps)
    assert cycle[0] == pytest.approx(0.01 / 25) and cycle.argmax() == 25 and cycle[-1] < 1e-5


def test_session_set_optimizer_keeps_the_old_spec_on_error(cnn_session):
    cnn_session.set_optimizer(learning_rate=3e-4, schedule="cosine")
    before = cnn_session.optimizer
    with pytest.raises(tw.ConfigError):
        cnn_session.set_optimizer(learning_rate=-1)
    with pytest.raises(tw.ConfigError, match="OptimizerSpec fields"):
        cnn_session.set_optimizer(lr=0.1)
    assert cnn_session.optimizer is before
