"""Discriminative learning rates: a multiplier of the optimizer's rate for each layer group.

A layer group is a block of the layer table that holds weights (a transformer layer, a ResNet
stage, the head), bottom to top. fastai's `slice(lo, hi)` spreads rates geometrically from
the lowest group (lo) to the head (hi); `geometric` does the same with multipliers of the
head's rate. The multipliers live in `OptimizerSpec.layer_rates` as ((block, factor), ...),
so they are saved with every run's config; unlisted blocks train at the plain rate.

Every optimizer applies them to each variable's update (see `training/layer_rates.py`).
"""

import math

from ..errors import ConfigError, LayerSelectionError
from ..training.layer_rates import check, check_factor
from .groups import groups


def geometric(layers, lowest):
    """((block, factor), ...): the lowest group at `lowest` × the head's rate, the head at 1,
    and every group between on a geometric progression."""
    check_factor("lowest", lowest)
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


def lowest_factor(layers, layer_rates):
    """The `lowest` that `geometric` turns into these rates (1.0 for none), or None when they
    are not a geometric spread (set per block)."""
    if not layer_rates:
        return 1.0
    candidate = layer_rates[0][1]
    return candidate if geometric(layers, candidate) == tuple(layer_rates) else None


def set_rates(session, rates=None, *, lowest=None):
    """Discriminative learning rates: a multiplier of the learning rate per layer group
    (a block holding weights), applied to each variable's update by every optimizer.

    set_rates(lowest=0.01): the lowest block at 1/100 of the head's rate, geometric between;
    set_rates(slice(1e-5, 1e-3)): fastai's form, the head at 1e-3 (the learning rate) and
    the lowest block at 1e-5; set_rates({"transformer_layer_5": 0.5}): named blocks, the
    others × 1; set_rates(None): one rate for every layer. `Session.set_rates` is this function.
    """
    return session.set_optimizer(**resolve(session.layers, rates, lowest))
