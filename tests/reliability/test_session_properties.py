"""Property tests: random sequences of freeze, unfreeze, freeze_to, set_head and set_data, valid
and invalid, always leave a consistent session. A refused operation changes nothing; the
frozen flags equal the plan; the parameter counts add up; the next fit trains exactly the
unfrozen weights (checked on a few examples: fits are slow)."""

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tune_widgets as tw
from tests.conftest import small_cnn
from tests.reliability.session_state import assert_unchanged, observable_state

pytestmark = pytest.mark.reliability

DIGITS = tw.load_digits(n=100, seed=3)


def _five_classes():
    keep = DIGITS.labels < 5
    return DIGITS.examples[keep], DIGITS.labels[keep]


def _nan_pixel():
    pixels = DIGITS.examples.copy()
    pixels[5, 0, 0, 0] = np.nan
    return pixels, DIGITS.labels


def _gapped():
    return DIGITS.examples, np.where(DIGITS.labels > 2, 9, DIGITS.labels)


DATASETS = {
    "digits": lambda: (DIGITS,),
    "five classes": _five_classes,
    "nan pixel": _nan_pixel,  # refused
    "gapped labels": _gapped,  # refused
    "texts": lambda: (["a", "b", "c", "d"] * 3, [0, 1, 2] * 4),  # refused: the model takes images
}

SELECTORS = st.one_of(
    st.integers(-14, 14),
    st.sampled_from(["conv1", "conv2", "conv1_bn", "conv2_conv", "pool", "predictions", "head", "head_dense",
                     "conv*", "*_bn", "re:relu$", "nope", "re:(", ""]),
    st.lists(st.sampled_from(["conv1_conv", "conv2_bn", "pool", "ghost"]), max_size=3),
    st.builds(slice, st.integers(-12, 12) | st.none(), st.integers(-12, 12) | st.none()),
    st.just(True),
)
OPERATIONS = st.one_of(
    st.tuples(st.just("freeze"), SELECTORS),
    st.tuples(st.just("unfreeze"), SELECTORS),
    st.tuples(st.just("freeze_to"), st.integers(-2, 15) | st.sampled_from(["conv2", "pool", "nope"])),
    st.tuples(st.just("set_head"), st.fixed_dictionaries({"num_classes": st.sampled_from([None, 10, 12, 1, True]),
                                                          "dropout": st.sampled_from([None, 0.0, 0.2, 1.5])})),
    st.tuples(st.just("set_data"), st.sampled_from(sorted(DATASETS))),
)
PROPERTY = settings(deadline=None, database=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def new_session(own_head):
    session = tw.Session().load_model(small_cnn(), head=None if own_head else tw.HeadSpec(dropout=0.0))
    session.set_data(DIGITS, batch_size=64)
    return session


def apply(session, operation):
    """Run one operation; a refusal must be a toolkit error that changed nothing."""
    name, argument = operation
    before = observable_state(session)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", tw.TuneWidgetsWarning)  # a head that does not fit the data
            if name == "set_head":
                session.set_head(**argument)
            elif name == "set_data":
                session.set_data(*DATASETS[argument]())
            else:
                getattr(session, name)(argument)
    except tw.TuneWidgetsError:
        assert_unchanged(before, session)


def size(variables):
    return sum(int(np.prod(v.shape)) for v in variables)


def assert_consistent(session):
    graph = session.model if session.model is not None else session.backbone.model
    rows = session.layers
    assert [row.name for row in rows] == [layer.name for layer in graph.layers]
    assert session.plan.frozen <= {row.name for row in rows}
    for row, layer in zip(rows, graph.layers):
        assert row.frozen == (row.name in session.plan.frozen)
        assert layer.trainable == (not row.frozen), layer.name
        assert all(sub.trainable == layer.trainable for sub in layer._flatten_layers(include_self=False))
    counts = session.parameter_counts
    assert counts["trainable"] == size(graph.trainable_weights)
    assert counts["total"] == size(graph.weights)
    assert counts["trainable"] + counts["frozen"] == counts["total"]


@settings(PROPERTY, max_examples=25)
@given(own_head=st.booleans(), operations=st.lists(OPERATIONS, max_size=8))
def test_any_sequence_of_operations_leaves_a_consistent_session(own_head, operations):
    session = new_session(own_head)
    for operation in operations:
        apply(session, operation)
        assert_consistent(session)


@settings(PROPERTY, max_examples=4)
@given(own_head=st.booleans(), operations=st.lists(OPERATIONS, min_size=1, max_size=5))
def test_the_next_fit_trains_exactly_the_unfrozen_weights(own_head, operations):
    session = new_session(own_head)
    for operation in operations:
        apply(session, operation)
    graph = session.model
    frozen = {v.path: np.array(v) for layer in graph.layers if not layer.trainable for v in layer.weights}
    trainable = {v.path: np.array(v) for v in graph.trainable_weights}
    before = observable_state(session)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", tw.TuneWidgetsWarning)
            session.fit(epochs=1, seed=0)
    except tw.TuneWidgetsError:  # nothing trainable, or a head that does not fit the data
        assert_unchanged(before, session)
        return
    now = {v.path: np.array(v) for v in graph.weights}
    assert all(np.array_equal(now[path], value) for path, value in frozen.items())
    assert {path for path, value in trainable.items() if not np.array_equal(now[path], value)} == set(trainable)
