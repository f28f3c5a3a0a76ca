import numpy as np
import pytest

import tune_widgets as tw
from tune_widgets.models.snapshot import WeightSnapshot
from tests.conftest import small_cnn


def test_a_snapshot_restores_every_weight_bit_for_bit(cnn_session):
    before = WeightSnapshot.of(cnn_session.model)
    trainable = WeightSnapshot.of(cnn_session.model, trainable_only=True)
    assert len(trainable.values) < len(before.values)  # BatchNorm statistics are not trainable
    cnn_session.fit(epochs=1)
    assert not before.equals(cnn_session.model)
    before.restore(cnn_session.model)
    assert before.equals(cnn_session.model)
    assert before.nbytes == sum(np.array(v).nbytes for v in cnn_session.model.weights)


def test_a_snapshot_refuses_a_model_without_its_variables(cnn_session):
    snapshot = WeightSnapshot.of(cnn_session.model)
    other = tw.Session().load_model(small_cnn(num_classes=3, name="other")).model
    with pytest.raises(tw.StateError, match="does not fit this model"):
        WeightSnapshot({"nowhere/kernel": np.zeros(1)}).restore(other)
    kept = WeightSnapshot.of(other)
    with pytest.raises(tw.StateError, match=r"'head_dense/kernel', 'head_dense/bias'\] are missing or have other shapes"):
        snapshot.restore(other)  # the same layers but a 3-class head
    assert kept.equals(other)  # nothing was assigned


def test_a_snapshot_restores_into_a_rebuilt_model(cnn_session):
    snapshot = WeightSnapshot.of(cnn_session.model)
    cnn_session.set_head(num_classes=10)  # a new model object with the same layer names
    assert not snapshot.equals(cnn_session.model)
    snapshot.restore(cnn_session.model)
    assert snapshot.equals(cnn_session.model)
