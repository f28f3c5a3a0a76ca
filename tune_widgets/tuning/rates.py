"""Discriminative learning rates: a multiplier of the optimizer's rate for each layer group.

A layer group is a block of the layer table that holds weights (a transformer layer, a ResNet
stage, the head), bottom to top. fastai's `slice(lo, hi)` spreads rates geometrically from
the lowest group (lo) to the head (hi); `geometric` does the same with multipliers of the
head's rate. The multipliers live in `OptimizerSpec.layer_rates` as ((block, factor), ...),
so they are saved with every run's config; unlisted blocks train at the plain rate.

Scaling gradients would not do it: Adam, AdamW and RMSprop divide each gradient by its own
running size, so a gradient ten times smaller gives the same step. The optimizers built here
scale each variable's *update* instead: its learning rate, and its weight decay with it, as
fastai does per parameter group. Schedules keep working: the factor multiplies whatever rate
the schedule gives at that step.
"""

import math

import keras

from ..errors import ConfigError, LayerSelectionError, did_you_mean
from .groups import groups


def geometric(layers, lowest):
    """((block, factor), ...): the lowest group at `lowest` × the head's rate, the head at 1,
    and every group between on a geometric progression."""
    _check_factor("lowest", lowest)
    names = [block for block, _ in groups(layers)]
    last = max(len(names) - 1, 1)
    return tuple((name, float(lowest ** ((last - i) / last)) if i < last else 1.0) for i, name in enumerate(names))


def spread(layers, lowest):
    """`geometric(layers, lowest)`, or () for one rate everywhere (lowest == 1)."""
    if isinstance(lowest, bool) or not isinstance(lowest, (int, float)) or not 0 < lowest <= 1:
        raise ConfigError(f"lowest is the lowest block's share of the head's rate, a number in (0, 1] like 0.01; "
                          f"got {lowest!r}.")
    return () if lowest == 1 else geometric(layers, lowest)


def resolve(layers, rates=None, lowest=None):
    """The OptimizerSpec changes `Session.set_rates` makes (see its docstring); raises before
    anything changes when the rates name no block or run upside down."""
    if not layers:
        raise LayerSelectionError("There is no model yet: load one before setting rates per layer group.")
    if rates is not None and lowest is not None:
        raise ConfigError("Give either rates (a dict or a slice) or lowest=..., not both.")
    if lowest is not None:
        return {"layer_rates": spread(layers, lowest)}
    if rates is None:
        return {"layer_rates": ()}
    if isinstance(rates, slice):
        low, high = rates.start, rates.stop
        for name, value in (("start", low), ("stop", high)):
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value <= 0:
                raise ConfigError(f"slice(low, high) needs two positive rates; its {name} is {value!r}.")
        if low > high:
            raise ConfigError(f"The rate range slice({low:g}, {high:g}) is upside down: the lowest block's rate "
                              f"comes first, the head's second, as in slice({high:g}, {low:g}).")
        return {"learning_rate": float(high), "layer_rates": geometric(layers, low / high) if low < high else ()}
    if isinstance(rates, dict):
        pairs = tuple((str(block), factor) for block, factor in rates.items())
        check(layers, pairs)
        return {"layer_rates": pairs}
    raise ConfigError(f"Rates must be a dict of block: factor, a slice(low, high) or None, not {type(rates).__name__}.")


def check(layers, layer_rates):
    """Raise LayerSelectionError, naming close matches, if `layer_rates` names a block the
    model does not have (rates set for another model)."""
    known = {row.block for row in layers}
    for block, factor in layer_rates:
        if block not in known:
            hint = did_you_mean(block, [name for name, _ in groups(layers)])
            raise LayerSelectionError(
                f"The learning rates name block {block!r}, which this model does not have.{hint} "
                f"Set them again with session.set_rates(...), or clear them with session.set_rates(None).")
        _check_factor(f"The factor of {block}", factor)


def _check_factor(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not 0 < value <= 1000:
        raise ConfigError(f"{name} must be a positive multiplier of the learning rate (like 0.01), got {value!r}.")


def lowest_factor(layers, layer_rates):
    """The `lowest` that `geometric` turns into these rates (1.0 for none), or None when they
    are not a geometric spread (set per block)."""
    if not layer_rates:
        return 1.0
    candidate = layer_rates[0][1]
    return candidate if geometric(layers, candidate) == tuple(layer_rates) else None


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
        return self._factors[self._get_variable_index(variable)]

    def update_step(self, gradient, variable, learning_rate):
        factor = self._factor(variable)
        return super().update_step(gradient, variable, learning_rate if factor == 1.0 else learning_rate * factor)

    def _apply_weight_decay(self, variables):
        """Keras' decoupled weight decay (variable -= variable × wd × lr), with each variable's
        own rate: one rule for the update and the decay, as in fastai's parameter groups."""
        if self.weight_decay is None:
            return
        for variable in variables:
            if self._use_weight_decay(variable):
                rate = keras.ops.cast(self.learning_rate, variable.dtype) * self._factor(variable)
                decay = keras.ops.cast(self.weight_decay, variable.dtype)
                variable.assign(variable - variable * decay * rate)


def _scaled(base):
    cls = type(f"LayerRate{base.__name__}", (LayerRates, base), {"__doc__": f"{base.__name__} with a rate per layer group."})
    return keras.saving.register_keras_serializable(package="tune_widgets")(cls)


OPTIMIZER_CLASSES = {name: _scaled(base) for name, base in (
    ("adam", keras.optimizers.Adam), ("adamw", keras.optimizers.AdamW),
    ("sgd", keras.optimizers.SGD), ("rmsprop", keras.optimizers.RMSprop))}
