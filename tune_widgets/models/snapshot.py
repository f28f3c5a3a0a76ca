"""Copies of a model's weights, to put back bit for bit.

Several features train and then undo: the LR finder and the freeze sweep restore the starting
weights, reset returns to the pretrained ones, a diverged run goes back to its last good state.
They all use one `WeightSnapshot`, keyed by each variable's path, so a snapshot restores into
the same model or into a rebuilt one with the same layers.
"""

import dataclasses

import numpy as np

from ..errors import StateError


@dataclasses.dataclass(frozen=True, eq=False)
class WeightSnapshot:
    """{weight path: numpy copy}: the layers' weights, not RNG states (their paths are numbered
    per process, so they would not match a rebuilt model). `trainable_only` keeps the trainable variables alone (what a
    fit can change, BatchNorm statistics aside: take the whole model when those matter)."""

    values: dict

    @classmethod
    def of(cls, model, trainable_only=False):
        variables = model.trainable_weights if trainable_only else model.weights
        return cls({variable.path: np.array(variable) for variable in variables})

    @classmethod
    def of_training_layers(cls, model):
        """Every weight of the layers a fit trains (those not frozen): the trainable weights and
        their non-trainable state, BatchNorm's moving statistics, which a forward pass in
        training mode updates, so NaN activations corrupt them as surely as a NaN gradient
        corrupts a kernel. Frozen layers run in inference mode and cannot change."""
        variables = [variable for layer in model.layers if layer.trainable for variable in layer.weights]
        return cls({variable.path: np.array(variable) for variable in variables})

    def restore(self, model):
        """Assign every saved value back; raises StateError, changing nothing, if the model
        lacks a saved variable or holds one of another shape."""
        variables = _weights(model)
        wrong = [path for path, value in self.values.items()
                 if path not in variables or tuple(variables[path].shape) != value.shape]
        if wrong:
            raise StateError(
                f"The snapshot does not fit this model: {wrong[:3]} are missing or have other shapes. "
                f"Restore into the model the snapshot was taken from."
            )
        for path, value in self.values.items():
            variables[path].assign(value)
        return model

    def equals(self, model):
        """Whether `model` holds exactly these values (bit for bit)."""
        variables = _weights(model)
        return all(path in variables and np.array_equal(np.array(variables[path]), value)
                   for path, value in self.values.items())

    @property
    def nbytes(self):
        return sum(value.nbytes for value in self.values.values())


def _weights(model):
    return {variable.path: variable for variable in model.weights}
