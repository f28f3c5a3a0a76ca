"""Per-layer learning rates inside training: each variable's update scaled by its block's factor.

The tuning tool that chooses the factors is `tuning/rates.py`; this is how every optimizer
applies them. Scaling gradients would not do it: Adam, AdamW and RMSprop divide each gradient by
its own running size, so a gradient ten times smaller gives the same step. The optimizers built
here scale each variable's *update* instead: its learning rate, and its weight decay with it, as
fastai does per parameter group. Schedules keep working: the factor multiplies whatever rate the
schedule gives at that step.
"""

import math

import keras

from ..errors import ConfigError, LayerSelectionError, did_you_mean
from ..models.keras_internals import uses_weight_decay, variable_index  # by name: runs/export.py copies them


def check(layers, layer_rates):
    """Raise LayerSelectionError, naming close matches, if `layer_rates` names a block the
    model does not have (rates set for another model)."""
    known = {row.block for row in layers}
    for block, factor in layer_rates:
        if block not in known:
            hint = did_you_mean(block, dict.fromkeys(row.block for row in layers if row.params))
            raise LayerSelectionError(
                f"The learning rates name block {block!r}, which this model does not have.{hint} "
                f"Set them again with session.set_rates(...), or clear them with session.set_rates(None).")
        check_factor(f"The factor of {block}", factor)


def check_factor(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not 0 < value <= 1000:
        raise ConfigError(f"{name} must be a positive multiplier of the learning rate (like 0.01), got {value!r}.")


def variable_factors(model, layers, layer_rates):
    """{id(variable): factor} for the trainable variables of `model` (the whole model or the
    suffix the cache trains) whose block has a factor other than 1."""
    factors = dict(layer_rates)
    blocks = {row.name: row.block for row in layers}
    found = {}
    for layer in model.layers:
        factor = factors.get(blocks.get(layer.name), 1.0)
        if factor != 1.0:
            for variable in layer.weights:  # not trainable_weights: a frozen block's LoRA adapters train
                if variable.trainable:
                    found[id(variable)] = float(factor)
    return found


class LayerRates:
    """Mixed into a Keras optimizer: each variable's update (and weight decay) is multiplied
    by its factor. `factors` maps id(variable) to the factor; other variables use 1."""

    def __init__(self, *args, factors=None, **kwargs):
        super().__init__(*args, **kwargs)
        self._factors_by_id = dict(factors or {})
        self._factors = []

    def build(self, variables):
        super().build(variables)
        self._factors = [self._factors_by_id.get(id(variable), 1.0) for variable in variables]

    def _factor(self, variable):
        return self._factors[variable_index(self, variable)]

    def update_step(self, gradient, variable, learning_rate):
        factor = self._factor(variable)
        return super().update_step(gradient, variable, learning_rate if factor == 1.0 else learning_rate * factor)

    def _apply_weight_decay(self, variables):
        """Keras' decoupled weight decay (variable -= variable × wd × lr), with each variable's
        own rate: one rule for the update and the decay, as in fastai's parameter groups. (It
        overrides a private Keras method: tune_widgets lists it in keras_internals.OVERRIDDEN.)"""
        if self.weight_decay is None:
            return
        for variable in variables:
            if uses_weight_decay(self, variable):
                rate = keras.ops.cast(self.learning_rate, variable.dtype) * self._factor(variable)
                decay = keras.ops.cast(self.weight_decay, variable.dtype)
                variable.assign(variable - variable * decay * rate)


def _scaled(base):
    cls = type(f"LayerRate{base.__name__}", (LayerRates, base), {"__doc__": f"{base.__name__} with a rate per layer group."})
    return keras.saving.register_keras_serializable(package="tune_widgets")(cls)


OPTIMIZER_CLASSES = {name: _scaled(base) for name, base in (
    ("adam", keras.optimizers.Adam), ("adamw", keras.optimizers.AdamW),
    ("sgd", keras.optimizers.SGD), ("rmsprop", keras.optimizers.RMSprop))}
