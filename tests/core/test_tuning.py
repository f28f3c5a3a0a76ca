"""The tuning tools in the core: LR finder, discriminative rates, gradual unfreezing, freeze sweep."""

import dataclasses
import json

import keras
import numpy as np
import pytest

import tune_widgets as tw
from tune_widgets.training.optimizers import USED_BY, build_optimizer
from tune_widgets.models.snapshot import WeightSnapshot
from tune_widgets.training import Callback
from tune_widgets.tuning import unfreezing

pytestmark = pytest.mark.tuning


def logistic_session():
    """Logistic regression on standardised features: two Gaussian classes in 8 dimensions.

    The loss's curvature at the start is at most 1/2 (softmax cross-entropy on whitened inputs),
    so plain SGD is stable below a rate of about 4; Adam's steps are about the rate itself, and
    the weights need to move by about 1. Measured on this problem (loss after two epochs from
    1.04): SGD 0.35 at 0.1, 0.21 at 1, 0.23 at 3, 0.38 at 10, 0.87 at 0.01; Adam 0.27 at 0.03,
    0.21 at 0.1, 0.30 at 0.3, 0.60 at 1, 1.75 at 3, 0.55 at 0.01.
    """
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 512)
    x = rng.normal(size=(512, 8)) + (labels[:, None] * 2 - 1) * 0.5
    x = ((x - x.mean(0)) / x.std(0)).astype("float32")
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8,), name="features")
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax", name="logistic")(inputs))
    session = tw.Session().load_model(model)
    session.set_data(x, labels, batch_size=32)
    return session


GOOD_RATES = {"sgd": (0.05, 3.0), "adam": (0.01, 0.3)}


def test_lr_finder_suggests_a_rate_in_the_known_good_range(monkeypatch):
    session = logistic_session()
    for optimizer, (low, high) in GOOD_RATES.items():
        plain = {"momentum": 0.0} if optimizer in USED_BY["momentum"] else {}  # the others refuse a momentum they ignore
        session.set_optimizer(optimizer=optimizer, **plain)
        result = session.find_lr(steps=100, seed=0)
        assert result.ended == "completed" and len(result.rates) == len(result.losses) == 100
        assert result.rates[0] == pytest.approx(1e-7) and result.rates[-1] == pytest.approx(10.0)
        assert low <= result.suggestion <= high, (optimizer, result)
        assert session.lr_finder is result


def test_lr_finder_puts_weights_and_plan_back_bit_for_bit(cnn_session):
    cnn_session.freeze("conv1")  # a frozen prefix: the sweep trains on cached features
    cnn_session.set_optimizer(learning_rate=3e-3, schedule="one_cycle")
    weights, plan, spec = WeightSnapshot.of(cnn_session.model), cnn_session.plan, cnn_session.optimizer
    flags = [layer.trainable for layer in cnn_session.model.layers]
    result = cnn_session.find_lr(start=1e-5, end=1.0, steps=30)
    assert weights.equals(cnn_session.model)  # BatchNorm statistics included
    assert cnn_session.plan is plan and cnn_session.optimizer is spec
    assert [layer.trainable for layer in cnn_session.model.layers] == flags
    run = cnn_session.runs[-1]
    assert run.config["purpose"] == "lr_find" and run.config["lr_find"]["steps"] == 30
    assert run.config["cache"]["used"] and result.run_id == run.run_id
    assert len(run.batches) == len(result.rates) and "val_loss" not in run.final  # no validation passes
    losses = [row["loss"] for row in run.batches]
    assert losses == pytest.approx(list(result.losses))  # each batch's own loss, not an epoch's running mean
    assert len(set(np.round(losses, 6))) > 20


def test_divergence_stops_the_sweep_early():
    session = logistic_session()
    session.set_optimizer(optimizer="sgd", momentum=0.0)
    result = session.find_lr(start=1e-3, end=1e6, steps=100)
    assert result.ended == "diverged" and 20 < len(result.rates) < 100
    assert result.smoothed[-1] > 4 * min(result.smoothed)
    assert result.smoothed[-2] <= 4 * min(result.smoothed[:-1])  # it stopped at the first batch past 4×
    assert result.suggestion < result.rates[-1] / 10


def test_stop_ends_the_sweep_and_the_weights_still_come_back(cnn_session):
    before = WeightSnapshot.of(cnn_session.model)
    cnn_session.observe(lambda change: change["new"].get("status") == "running" and cnn_session.stop(),
                        names=["progress"])  # Stop clicked as soon as the sweep shows
    result = cnn_session.find_lr(steps=100, background=True).result(60)
    assert result.ended == "stopped" and len(result.rates) <= 2
    assert cnn_session.runs[-1].status == "stopped" and before.equals(cnn_session.model)


@pytest.mark.parametrize("kwargs, words", [
    ({"start": 1.0, "end": 1e-4}, "swap them"),
    ({"steps": 3}, "steps must be a whole number from 5"),
    ({"divergence": 1.0}, "above 1"),
    ({"batch_size": -4}, "batch_size must be a positive whole number"),
])
def test_lr_finder_bad_input_changes_nothing(cnn_session, kwargs, words):
    spec, plan = cnn_session.optimizer, cnn_session.plan
    with pytest.raises(tw.ConfigError, match=words):
        cnn_session.find_lr(**kwargs)
    assert cnn_session.runs == [] and cnn_session.lr_finder is None
    assert cnn_session.optimizer is spec and cnn_session.plan is plan


# ---- discriminative rates ------------------------------------------------------------------


@pytest.mark.parametrize("optimizer", ["adam", "adamw", "sgd", "rmsprop"])
def test_every_optimizer_scales_each_groups_update_not_its_gradient(optimizer):
    fast, slow = (keras.Variable(np.full(3, 2.0), dtype="float64", name=name) for name in ("fast", "slow"))
    spec = tw.OptimizerSpec(optimizer, 0.1, weight_decay=0.05 if optimizer == "adamw" else 0.0,
                            schedule="cosine")  # the factor multiplies whatever rate the schedule gives
    built = build_optimizer(spec, 10, factors={id(slow): 0.01})
    gradient = np.array([0.5, -2.0, 1e-3])
    built.apply_gradients([(gradient, fast), (gradient, slow)])
    fast_step, slow_step = 2.0 - np.array(fast), 2.0 - np.array(slow)
    assert np.all(fast_step != 0)
    np.testing.assert_allclose(slow_step, 0.01 * fast_step, rtol=1e-6)  # the rate is float32


def mlp():
    inputs = keras.Input((8, 8, 1), name="pixels")
    x = keras.layers.Flatten(name="flat")(keras.layers.Rescaling(1 / 16.0, name="rescale")(inputs))
    for block in (1, 2, 3):
        x = keras.layers.Dense(16, activation="relu", name=f"block{block}_dense")(x)
    return keras.Model(inputs, keras.layers.Dense(10, activation="softmax", name="head_dense")(x))


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_one_step_moves_each_group_by_its_share_of_the_rate(digits, optimizer):
    keras.utils.set_random_seed(0)
    session = tw.Session().load_model(mlp())
    session.set_data(digits, batch_size=len(digits))  # one batch: one step per fit
    session.freeze("block1")  # a frozen prefix: the suffix over cached features trains
    session.set_optimizer(optimizer=optimizer, learning_rate=0.01)
    start = WeightSnapshot.of(session.model)

    def step():
        start.restore(session.model)
        session.fit(epochs=1, batch_size=len(session.train_data))
        assert session.runs[-1].config["cache"]["used"]
        return {layer.name: np.array(layer.kernel) - start.values[layer.kernel.path] for layer in session.model.layers
                if isinstance(layer, keras.layers.Dense)}

    plain = step()
    session.set_rates(lowest=0.01)
    spread = step()
    factors = dict(session.optimizer.layer_rates)
    assert factors == pytest.approx({"block1": 0.01, "block2": 0.01 ** (2 / 3), "block3": 0.01 ** (1 / 3), "head": 1.0})
    assert not spread["block1_dense"].any()  # frozen: no step at all
    for name in ("block2_dense", "block3_dense", "head_dense"):
        ratio = np.linalg.norm(spread[name]) / np.linalg.norm(plain[name])
        assert ratio == pytest.approx(factors[name.split("_")[0]], rel=1e-3), name
    assert session.runs[-1].config["optimizer"]["layer_rates"] == session.optimizer.layer_rates
    assert session.runs[-1].config["purpose"] == "train"


def test_set_rates_forms_and_what_the_spec_saves(cnn_session):
    cnn_session.set_rates(slice(1e-5, 1e-3))
    spec = cnn_session.optimizer
    assert spec.learning_rate == 1e-3
    assert dict(spec.layer_rates) == pytest.approx({"conv1": 0.01, "conv2": 0.1, "head": 1.0})
    restored = tw.OptimizerSpec(**json.loads(json.dumps(dataclasses.asdict(spec))))
    assert restored == spec  # the JSON of a run config gives the same spec back
    cnn_session.set_rates({"conv2": 0.5})
    assert cnn_session.optimizer.layer_rates == (("conv2", 0.5),)
    cnn_session.set_optimizer(learning_rate=2e-3)  # other changes keep the rates
    assert cnn_session.optimizer.layer_rates == (("conv2", 0.5),)
    cnn_session.set_rates(None)
    assert cnn_session.optimizer.layer_rates == ()


@pytest.mark.parametrize("args, kwargs, error, words", [
    ((slice(1e-3, 1e-5),), {}, tw.ConfigError, "upside down"),
    (({"conv9": 0.1},), {}, tw.LayerSelectionError, "does not have"),
    (({"conv2": -1},), {}, tw.ConfigError, "positive multiplier"),
    ((), {"lowest": 2}, tw.ConfigError, r"number in \(0, 1\]"),
    (([0.1],), {}, tw.ConfigError, "a dict of block: factor"),
])
def test_bad_rates_change_nothing(cnn_session, args, kwargs, error, words):
    cnn_session.set_rates(lowest=0.1)
    before = cnn_session.optimizer
    with pytest.raises(error, match=words):
        cnn_session.set_rates(*args, **kwargs)
    assert cnn_session.optimizer is before


def test_rates_for_another_model_are_refused_at_fit(cnn_session):
    cnn_session.set_rates({"conv2": 0.5})
    cnn_session.load_model(keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
                                             keras.layers.Dense(10, activation="softmax")]))
    with pytest.raises(tw.LayerSelectionError, match="set_rates"):
        cnn_session.fit()
    assert cnn_session.runs == []


# ---- gradual unfreezing --------------------------------------------------------------------


def test_fine_tune_phases_in_fastais_sense(cnn_session):
    spec = cnn_session.optimizer.replace(learning_rate=4e-3)
    phases = unfreezing.phases(cnn_session.layers, spec, epochs=3, frozen_epochs=2)
    assert [(p.name, p.epochs) for p in phases] == [("frozen: head only", 2), ("unfrozen: everything", 3)]
    assert phases[0].frozen[-1] == "pool" and phases[1].frozen == ()
    assert phases[0].spec.learning_rate == 4e-3 and phases[0].spec.layer_rates == ()
    assert phases[1].spec.learning_rate == 2e-3  # fastai halves the rate once the body trains
    assert dict(phases[1].spec.layer_rates) == pytest.approx({"conv1": 0.01, "conv2": 0.1, "head": 1.0})
    gradual = unfreezing.phases(cnn_session.layers, spec, epochs=4, frozen_epochs=0, unfreeze="gradual")
    assert [(p.name, p.epochs) for p in gradual] == [("unfrozen: head + top 1 block", 1), ("unfrozen: everything", 3)]


class FrozenWeightsStay(Callback):
    """Checks, at the end of each fit, that every layer frozen during it kept all its weights."""

    def __init__(self, session):
        super().__init__()
        self.session, self.checked = session, []

    def on_train_begin(self, logs=None):
        model = self.session.model
        self.frozen = [layer for layer in model.layers if not layer.trainable and layer.weights]
        self.before = {layer.name: [np.array(w) for w in layer.weights] for layer in self.frozen}

    def on_train_end(self, logs=None):
        for layer in self.frozen:
            for old, new in zip(self.before[layer.name], layer.weights):
                assert np.array_equal(old, np.array(new)), layer.name
        self.checked.append(sorted(layer.name for layer in self.frozen))


def test_gradual_unfreezing_opens_one_block_per_epoch_from_the_top(cnn_session):
    from tune_widgets.widgets import LayerMap

    layer_map = LayerMap(cnn_session)
    shown = []
    cnn_session.observe(lambda c: shown.append(sum(layer_map.frozen)), names=["layers"])
    spec = cnn_session.optimizer
    check = FrozenWeightsStay(cnn_session)
    runs = cnn_session.fine_tune(epochs=2, frozen_epochs=1, unfreeze="gradual", callbacks=[check])
    names = [run.config["phase"]["name"] for run in runs]
    assert names == ["frozen: head only", "unfrozen: head + top 1 block", "unfrozen: everything"]
    trainable = [sorted({row.block for row in cnn_session.layers if row.params and row.name not in run.config["frozen"]})
                 for run in runs]
    assert trainable == [["head"], ["conv2", "head"], ["conv1", "conv2", "head"]]
    assert check.checked == [["conv1_bn", "conv1_conv", "conv2_bn", "conv2_conv"], ["conv1_bn", "conv1_conv"], []]
    assert [run.config["cache"]["used"] for run in runs] == [True, True, False]  # the still-frozen prefix only
    assert [run.config["optimizer"]["learning_rate"] for run in runs] == [1e-3, 5e-4, 5e-4]
    assert {run.config["phase"]["group"] for run in runs} == {runs[0].config["phase"]["group"]}
    assert [run.config["phase"]["index"] for run in runs] == [0, 1, 2]
    assert shown == [10, 5, 0]  # the open map followed each unfreeze
    assert cnn_session.plan.frozen == frozenset() and cnn_session.optimizer == spec


@pytest.mark.parametrize("kwargs, words", [
    ({"epochs": 0}, "epochs must be a positive whole number"),
    ({"frozen_epochs": -1}, "frozen_epochs must be a whole number of at least 0"),
    ({"unfreeze": "sideways"}, "'all'"),
    ({"lowest": 5}, r"number in \(0, 1\]"),
    ({"learning_rate": -1}, "learning_rate must be a positive number"),
])
def test_fine_tune_bad_input_changes_nothing(cnn_session, kwargs, words):
    cnn_session.freeze("conv1")
    plan, spec = cnn_session.plan, cnn_session.optimizer
    with pytest.raises(tw.ConfigError, match=words):
        cnn_session.fine_tune(**kwargs)
    assert cnn_session.runs == [] and cnn_session.plan is plan and cnn_session.optimizer is spec


# ---- freeze sweep --------------------------------------------------------------------------


def test_sweep_starts_every_point_from_the_same_weights_and_puts_everything_back(cnn_session):
    cnn_session.freeze("conv1")
    plan, start = cnn_session.plan, WeightSnapshot.of(cnn_session.model)
    starts = []
    cnn_session.observe(lambda c: len(c["new"]) > len(c["old"]) and starts.append(start.equals(cnn_session.model)),
                        names=["runs"])  # a new run appears as its fit begins
    result = cnn_session.sweep_freeze(epochs=1)
    assert starts == [True, True, True]
    assert [p.label for p in result.points] == ["head only", "head + top 1 block", "everything"]
    assert result.ended == "completed" and result.count == 3 and cnn_session.freeze_sweep is result
    assert [p.trainable_params for p in result.points] == [170, 1370, 1466]
    assert all(p.value is not None and p.seconds_per_epoch > 0 and p.status == "completed" for p in result.points)
    assert [p.cached_layers > 0 for p in result.points] == [True, True, False]
    runs = cnn_session.runs
    assert [r.config["purpose"] for r in runs] == ["sweep"] * 3 and [p.run_id for p in result.points] == [r.run_id for r in runs]
    assert [r.config["frozen"] for r in runs] == [sorted(p.frozen) for p in result.points]
    assert start.equals(cnn_session.model) and cnn_session.plan == plan
    assert result.best in result.points
    cnn_session.set_frozen(result.best.frozen)  # what "apply best" does
    assert sorted(cnn_session.plan.frozen) == sorted(result.best.frozen)


def test_stop_ends_the_sweep_at_the_point_it_stopped(cnn_session):
    plan, start = cnn_session.plan, WeightSnapshot.of(cnn_session.model)
    cnn_session.observe(lambda change: change["new"].get("status") == "running" and cnn_session.stop(),
                        names=["progress"])  # Stop clicked as soon as the first point trains
    result = cnn_session.sweep_freeze(epochs=3, background=True).result(60)
    assert result.ended == "stopped" and [p.status for p in result.points] == ["stopped"]
    assert len(cnn_session.runs) == 1 and cnn_session.freeze_sweep is result
    assert start.equals(cnn_session.model) and cnn_session.plan == plan


def test_sweep_points_as_freeze_to_selectors(cnn_session):
    from tune_widgets.tuning.sweep import SweepPoint, SweepResult, cut_points

    cuts = cut_points(cnn_session, ["conv1_relu", 0, "re:^conv2_bn$"])
    assert [label for label, _ in cuts] == ["frozen to conv1_relu", "nothing frozen", "frozen to re:^conv2_bn$"]
    assert cuts[0][1] == ("pixels", "rescale", "conv1_conv", "conv1_bn", "conv1_relu") and cuts[1][1] == ()
    assert cuts[2][1][-1] == "conv2_bn"
    points = tuple(SweepPoint(str(v), (), 1, v, 1.0, 0.0, 0, "completed", "") for v in (0.9, 0.4, None))
    assert SweepResult("val_loss", points, 3).best.value == 0.4  # a loss: lower is better
    assert SweepResult("val_accuracy", points, 3).best.value == 0.9


@pytest.mark.parametrize("points, epochs, error, words", [
    (["conv2", "conv7"], 1, tw.LayerSelectionError, r"Sweep point 'conv7': No layer or block matches 'conv7'"),
    ([], 1, tw.ConfigError, "points is empty"),
    (["head_dense"], 1, tw.ConfigError, "freezes every layer with weights"),
    ("conv2", 1, tw.ConfigError, "list of freeze_to selectors"),
    (None, 0, tw.ConfigError, "epochs must be a positive whole number"),
])
def test_sweep_bad_input_changes_nothing(cnn_session, points, epochs, error, words):
    cnn_session.freeze("conv1")
    plan, start = cnn_session.plan, WeightSnapshot.of(cnn_session.model)
    with pytest.raises(error, match=words):
        cnn_session.sweep_freeze(points, epochs=epochs)
    assert cnn_session.runs == [] and cnn_session.plan is plan and cnn_session.freeze_sweep is None
    assert start.equals(cnn_session.model)


def test_run_tags_cannot_replace_the_fits_own_settings(cnn_session):
    with pytest.raises(tw.ConfigError, match=r"\['epochs'\]"):
        cnn_session.fit(tags={"epochs": 9})
    assert cnn_session.runs == []
