"""What a session holds, as one comparable value: the reliability tests assert that a refused
operation leaves every part of it as it was."""

import dataclasses

import numpy as np

from tune_widgets.models.snapshot import WeightSnapshot


@dataclasses.dataclass(frozen=True, eq=False)
class SessionState:
    identities: tuple  # model, backbone, train and validation data objects
    plan: object
    optimizer: object
    head: object
    layers: tuple
    batch_size: int
    runs: int
    training: bool
    weights: WeightSnapshot | None

    def differences(self, other):
        """Names of the parts that differ from `other` ([] when the states are the same)."""
        changed = [field.name for field in dataclasses.fields(self)
                   if field.name != "weights" and getattr(self, field.name) != getattr(other, field.name)]
        mine, theirs = self.weights, other.weights
        if (mine is None) != (theirs is None) or (mine is not None and not _same(mine, theirs)):
            changed.append("weights")
        return changed


def observable_state(session):
    model = session.model
    graph = model if model is not None else (session.backbone.model if session.backbone else None)
    return SessionState(
        identities=tuple(id(x) for x in (model, session.backbone, session.train_data, session.validation_data)),
        plan=session.plan, optimizer=session.optimizer, head=session.head, layers=session.layers,
        batch_size=session.batch_size, runs=len(session.runs), training=session.training,
        weights=WeightSnapshot.of(graph) if graph is not None else None,
    )


def _same(a, b):
    return a.values.keys() == b.values.keys() and all(np.array_equal(a.values[k], b.values[k], equal_nan=True)
                                                      for k in a.values)


def assert_unchanged(before, session):
    changed = before.differences(observable_state(session))
    assert not changed, f"the refused operation changed the session's {', '.join(changed)}"
