"""suggest_freeze: a probing fit's layer signals propose how much to freeze."""

import keras
import numpy as np

import tune_widgets as tw
from tune_widgets.models.snapshot import WeightSnapshot
from tune_widgets.tuning.suggest import block_shares, deepest_cut


def noisy_bottom_session():
    """Two lower blocks that see only 20 noise features, and a top block that also sees the 4
    features whose sum decides the class: nothing the lower blocks learn can help."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(512, 24)).astype("float32")
    labels = (x[:, 20:].sum(1) > 0).astype("int32")
    keras.utils.set_random_seed(0)
    inputs = keras.Input((24,), name="features")
    columns = keras.layers.Reshape((24, 1), name="stem_columns")(inputs)
    noise = keras.layers.Flatten(name="stem_noise")(keras.layers.Cropping1D((0, 4), name="stem_noise_crop")(columns))
    signal = keras.layers.Flatten(name="stem_signal")(keras.layers.Cropping1D((20, 0), name="stem_signal_crop")(columns))
    low = keras.layers.Dense(16, activation="relu", name="block1_dense")(noise)
    low = keras.layers.Dense(16, activation="relu", name="block2_dense")(low)
    low = keras.layers.LayerNormalization(center=False, scale=False, name="block2_norm")(low)  # as in a transformer
    top = keras.layers.Dense(16, activation="relu", name="block3_dense")(keras.layers.Concatenate(name="block3_join")([low, signal]))
    model = keras.Model(inputs, keras.layers.Dense(2, name="predictions")(top))
    session = tw.Session(runs_dir=None).load_model(model, head=tw.HeadSpec(dropout=0.0))
    session.set_data(x, labels, batch_size=32)
    session.set_optimizer(learning_rate=3e-3)
    return session


def test_blocks_that_see_only_noise_are_proposed_frozen_and_nothing_else_changes():
    session = noisy_bottom_session()
    weights, plan = WeightSnapshot.of(session.model), session.plan
    suggestion = session.suggest_freeze(epochs=2)
    shares = dict(suggestion.shares)
    assert suggestion.cut == "block2", suggestion
    assert {"block1_dense", "block2_dense"} <= set(suggestion.frozen)
    assert "block3_dense" not in suggestion.frozen and "head_dense" not in suggestion.frozen
    assert shares["block3"] > 3 * max(shares["block1"], shares["block2"]), shares
    assert "block2" in suggestion.reason and "s an epoch" in suggestion.reason
    assert suggestion.seconds_saved > 0
    assert weights.equals(session.model) and session.plan == plan  # the probe's weights and plan put back
    assert session.runs[-1].config["purpose"] == "suggest_freeze"
    session.set_frozen(suggestion.frozen)
    assert session.fit(epochs=1).config["cache"]["used"]  # the proposal trains on its cached prefix


def test_a_probe_whose_held_out_loss_did_not_fall_proposes_nothing():
    session = noisy_bottom_session()
    names = [row.name for row in session.layers]
    rising = {"layers": names, "samples": [{"descent": [-0.01 if row.params else 0.0 for row in session.layers]}] * 4}
    assert block_shares(session.layers, rising) == {}
    assert deepest_cut(session.layers, {}) == (None, ())
