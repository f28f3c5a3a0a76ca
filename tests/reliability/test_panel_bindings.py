"""Every panel field bound to a session value, walked from one table over two dashboards on
one session: set from a cell, both dashboards' fields follow; set in one dashboard's field,
the session follows and so does the other dashboard; refused, the field snaps back to the
session's value with the message, and the session is unchanged. No widget's bounds change a
session value."""

import warnings

import pytest

import tune_widgets as tw
from tests.reliability.session_state import assert_unchanged, observable_state
from tune_widgets.tuning.rates import lowest_factor
from tune_widgets.widgets import Dashboard
from tune_widgets.widgets import data_panel as data_choices

pytestmark = pytest.mark.reliability
BUSY = "A fit is running"  # refused while a fit runs: the session changes nothing then


def digits(**options):
    return lambda s: s.set_data(tw.load_digits(n=200, seed=0), **options)


# (panel, field, from a cell, the field then shows, typed into the field, the session then holds,
#  a refused entry or None, its message's phrase: BUSY when refused because a fit runs)
FIELDS = [
    ("model_panel", "classes", lambda s: s.set_head(num_classes=10), 10,
     0, lambda s: s.head.num_classes is None, 1, "num_classes must be a whole number of at least 2"),
    ("model_panel", "dropout", lambda s: s.set_head(dropout=0.3), 0.3,
     0.5, lambda s: s.head.dropout == 0.5, 0.25, BUSY),
    ("data_panel", "batch_size", digits(batch_size=100_000), 100_000,
     16, lambda s: s.batch_size == 16, 0, "batch_size must be a positive whole number"),
    ("data_panel", "validation", digits(validation=0.7), 0.7,
     0.3, lambda s: s.data_settings["validation"] == 0.3, None, None),
    ("data_panel", "seed", digits(seed=5), 5,
     7, lambda s: s.data_settings["seed"] == 7, None, None),
    ("training_panel", "batch_size", lambda s: s.set_batch_size(100_000), 100_000,
     16, lambda s: s.batch_size == 16, -4, "batch_size must be a positive whole number"),
    ("optimizer_panel", "optimizer", lambda s: s.set_optimizer(optimizer="sgd"), "sgd",
     "rmsprop", lambda s: s.optimizer.optimizer == "rmsprop", "adamw", BUSY),
    ("optimizer_panel", "lr_slider", lambda s: s.set_optimizer(learning_rate=5.0), 5.0,
     0.01, lambda s: s.optimizer.learning_rate == 0.01, 0.1, BUSY),
    ("optimizer_panel", "lr_text", lambda s: s.set_optimizer(learning_rate=3e-4), "0.0003",
     "0.02", lambda s: s.optimizer.learning_rate == 0.02, "-1", "learning_rate must be a positive number"),
    ("optimizer_panel", "weight_decay", lambda s: s.set_optimizer(weight_decay=0.01), "0.01",
     "0.05", lambda s: s.optimizer.weight_decay == 0.05, "lots", "Weight decay 'lots' is not a number"),
    ("optimizer_panel", "schedule", lambda s: s.set_optimizer(schedule="cosine"), "cosine",
     "one_cycle", lambda s: s.optimizer.schedule == "one_cycle", "constant", BUSY),
    ("optimizer_panel", "warmup", lambda s: s.set_optimizer(warmup_fraction=0.3), 0.3,
     0.2, lambda s: s.optimizer.warmup_fraction == 0.2, 0.4, BUSY),
    ("optimizer_panel", "spread", lambda s: s.set_rates(lowest=0.1), 0.1,
     0.01, lambda s: lowest_factor(s.layers, s.optimizer.layer_rates) == 0.01, 0.001, BUSY),
]


def bound_fields(board):
    """(panel, field) for every binding of every panel of a dashboard."""
    return {(panel, next(name for name, value in vars(getattr(board, panel)).items() if value is binding.widget))
            for panel in vars(board) if hasattr(getattr(board, panel), "bindings")
            for binding in getattr(board, panel).bindings}


def test_the_table_walks_every_bound_field_of_every_panel(cnn_session):
    assert bound_fields(Dashboard(cnn_session)) == {(panel, field) for panel, field, *_ in FIELDS}


@pytest.mark.parametrize("panel, field, from_cell, shows, typed, holds, refused, phrase", FIELDS,
                         ids=[f"{panel}.{field}" for panel, field, *_ in FIELDS])
def test_a_field_follows_the_session_and_the_session_follows_the_field(cnn_session, panel, field, from_cell, shows,
                                                                       typed, holds, refused, phrase):
    one, other = (getattr(Dashboard(cnn_session), panel) for _ in range(2))
    (binding,) = [b for b in one.bindings if b.widget is getattr(one, field)]

    def both_show(value):
        assert getattr(one, field).value == getattr(other, field).value == value

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tw.TuneWidgetsWarning)
        from_cell(cnn_session)
    both_show(shows)
    assert binding.read() == shows  # what the session holds: the field's bounds did not change it

    getattr(one, field).value = typed
    if binding.write is None:  # an argument of the panel's action (Use this data), which sends it
        assert getattr(other, field).value == binding.read() == shows
        one.source.value, one.count.value = data_choices.DIGITS, 200
        one.apply.click()
    assert one.error_text == "" and holds(cnn_session)
    both_show(binding.read())

    if refused is None:
        return
    if phrase == BUSY:
        cnn_session.training = True  # as while a fit runs
    before = observable_state(cnn_session)
    getattr(one, field).value = refused
    assert phrase in one.error_text
    both_show(binding.read())
    assert holds(cnn_session)
    assert_unchanged(before, cnn_session)
