"""Optimizer and learning-rate schedule as plain data, and the one function that builds them."""

import dataclasses
import math

import keras
import numpy as np

from ..errors import ConfigError, StateError
from .layer_rates import OPTIMIZER_CLASSES

OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")
SCHEDULES = ("constant", "cosine", "warmup_cosine", "one_cycle")


@dataclasses.dataclass(frozen=True)
class OptimizerSpec:
    """Which optimizer, at which rates, on which schedule.

    schedule: "constant"; "cosine" (decay to `final_lr_ratio` × lr); "warmup_cosine" (linear
    warmup over `warmup_fraction` of the steps, then cosine decay); "one_cycle" (fastai's shape:
    cosine rise from lr/25 to lr over `warmup_fraction`, then cosine fall to lr × final_lr_ratio,
    or lr/1e5 when that ratio is 0).
    """

    optimizer: str = "adam"
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.9  # sgd and rmsprop
    nesterov: bool = False  # sgd
    clipnorm: float | None = None
    schedule: str = "constant"
    warmup_fraction: float = 0.1
    final_lr_ratio: float = 0.0
    layer_rates: tuple = ()  # ((block, factor), ...): discriminative rates, see tuning/rates.py

    def __post_init__(self):
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"Unknown optimizer {self.optimizer!r}. Choose one of {', '.join(OPTIMIZERS)}.")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"Unknown schedule {self.schedule!r}. Choose one of {', '.join(SCHEDULES)}.")
        _positive("learning_rate", self.learning_rate)
        if self.learning_rate > 10:
            raise ConfigError(f"learning_rate {self.learning_rate} is far too large; typical values are 1e-5 to 1e-2.")
        _in_range("weight_decay", self.weight_decay, 0, 1)
        _in_range("momentum", self.momentum, 0, 1, upper_open=True)
        _in_range("warmup_fraction", self.warmup_fraction, 0, 1, upper_open=True)
        _in_range("final_lr_ratio", self.final_lr_ratio, 0, 1)
        if self.clipnorm is not None:
            _positive("clipnorm", self.clipnorm)
        pairs = self.layer_rates.items() if isinstance(self.layer_rates, dict) else self.layer_rates
        try:
            pairs = tuple((str(block), factor) for block, factor in pairs)
        except (TypeError, ValueError):
            raise ConfigError(f"layer_rates must be (block, factor) pairs, got {self.layer_rates!r}.") from None
        for block, factor in pairs:
            _positive(f"The rate factor of {block}", factor)
        object.__setattr__(self, "layer_rates", pairs)  # lists from JSON become the tuples of a frozen spec

    def replace(self, **changes):
        """A copy with `changes`; validated, so a bad value raises and nothing changes."""
        return dataclasses.replace(self, **changes)


def set_optimizer(session, spec=None, **changes):
    """Replace the optimizer spec, or change some of its fields: set_optimizer(learning_rate=3e-4).

    Refused during a fit: its optimizer is built when it starts, so a change would silently
    wait for the next run. Options the chosen optimizer ignores (momentum with Adam) are refused.
    `Session.set_optimizer` is this function.
    """
    if session.training:
        raise StateError("A fit is running, and its optimizer was built when it started: a change now would "
                         "only apply to the next run. Stop the fit (session.stop()) or wait for it, then change it.")
    session.optimizer = changed_spec(session.optimizer, spec, changes)
    return session


def changed_spec(current, spec=None, changes=None):
    """`spec` (or `current`) with `changes`, refused with the reason when a field is unknown, a
    value is bad, or an option the chosen optimizer ignores is given (momentum with Adam). A
    whole spec "gives" the fields it changes: fine_tune puts specs back whole."""
    changes = changes or {}
    if spec is not None and not isinstance(spec, OptimizerSpec):
        raise ConfigError(f"Expected an OptimizerSpec, got {type(spec).__name__}.")
    try:
        new = (spec or current).replace(**changes)
    except TypeError as error:
        fields = ", ".join(f.name for f in dataclasses.fields(OptimizerSpec))
        raise ConfigError(f"{error}. OptimizerSpec fields: {fields}.") from None
    check_options_apply(new, [*changes, *(field.name for field in dataclasses.fields(OptimizerSpec)
                                          if getattr(new, field.name) != getattr(current, field.name))])
    return new


# Options only some optimizers read; given to another one they would do nothing.
USED_BY = {"momentum": ("sgd", "rmsprop"), "nesterov": ("sgd",)}


def check_options_apply(spec, given):
    """Refuse options in `given` (names set explicitly, to values other than the defaults)
    that `spec.optimizer` ignores. A value carried over from an earlier optimizer is kept
    quietly: it applies again if that optimizer is chosen again."""
    defaults = OptimizerSpec()
    ignored = [name for name in dict.fromkeys(given) if name in USED_BY and spec.optimizer not in USED_BY[name]
               and getattr(spec, name) != getattr(defaults, name)]
    if ignored:
        users = " or ".join(repr(o) for o in USED_BY[ignored[0]])
        raise ConfigError(f"{spec.optimizer} ignores {' and '.join(ignored)}: it would change nothing. Choose "
                          f"optimizer={users} to use {ignored[0]}, or leave it out.")


def warmup_steps(kind, warmup_fraction, total_steps):
    """How many steps the schedule `kind` spends warming up over a run of `total_steps`."""
    if kind in ("constant", "cosine"):
        return 0
    return max(1, round(warmup_fraction * max(int(total_steps), 1)))


def check_run_length(spec, total_steps):
    """Refuse a warmup that covers the whole run: it would never reach the learning rate
    (a warmup_cosine run of one step trains at rate 0)."""
    warmup = warmup_steps(spec.schedule, spec.warmup_fraction, total_steps)
    if warmup >= total_steps > 0:
        raise ConfigError(
            f"The {spec.schedule} warmup takes {warmup} step{'s' * (warmup > 1)} but the run has only {total_steps}: "
            f"it would never reach learning_rate {spec.learning_rate:g}. Train longer (more epochs, or a smaller "
            f"batch size), lower warmup_fraction, or use schedule='cosine' or 'constant'."
        )


def _positive(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{name} must be a positive number, got {value!r}.")


def _in_range(name, value, low, high, upper_open=False):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{name} must be a number, got {value!r}.")
    if value < low or value > high or (upper_open and value == high):
        raise ConfigError(f"{name} must be in [{low}, {high}{')' if upper_open else ']'}, got {value!r}.")


@keras.saving.register_keras_serializable(package="tune_widgets")
class Schedule(keras.optimizers.schedules.LearningRateSchedule):
    """The learning rate at each step for `OptimizerSpec.schedule` (see its docstring)."""

    def __init__(self, kind, peak, total_steps, warmup_fraction=0.1, final_lr_ratio=0.0):
        self.kind, self.peak, self.total_steps = kind, float(peak), max(int(total_steps), 1)
        self.warmup_fraction, self.final_lr_ratio = float(warmup_fraction), float(final_lr_ratio)

    def __call__(self, step):
        ops = keras.ops
        step = ops.cast(step, "float32")
        peak, total, floor = self.peak, float(self.total_steps), self.peak * self.final_lr_ratio
        if self.kind == "constant":
            return ops.full_like(step, peak)
        warmup = float(warmup_steps(self.kind, self.warmup_fraction, self.total_steps))
        start = peak / 25.0 if self.kind == "one_cycle" else 0.0
        end = floor if self.kind != "one_cycle" or self.final_lr_ratio else peak / 1e5
        rising = start + (peak - start) * (
            step / warmup if self.kind == "warmup_cosine" else (1 - ops.cos(math.pi * step / max(warmup, 1.0))) / 2
        )
        progress = ops.clip((step - warmup) / max(total - warmup, 1.0), 0.0, 1.0)
        falling = end + (peak - end) * (1 + ops.cos(math.pi * progress)) / 2
        return ops.where(step < warmup, rising, falling)

    def get_config(self):
        return {"kind": self.kind, "peak": self.peak, "total_steps": self.total_steps,
                "warmup_fraction": self.warmup_fraction, "final_lr_ratio": self.final_lr_ratio}


def schedule_for(spec, total_steps):
    return Schedule(spec.schedule, spec.learning_rate, total_steps, spec.warmup_fraction, spec.final_lr_ratio)


def learning_rates(spec, total_steps):
    """The learning rate at every step as a numpy array: the panel's preview curve."""
    return np.asarray(schedule_for(spec, total_steps)(np.arange(max(int(total_steps), 1))), dtype="float64")


def build_optimizer(spec, total_steps, factors=None):
    """A fresh Keras optimizer for `spec` over `total_steps` training steps.

    factors: {id(variable): multiplier of the rate} (see `layer_rates.variable_factors`);
    with any, the optimizer scales those variables' updates.
    """
    rate = float(spec.learning_rate) if spec.schedule == "constant" else schedule_for(spec, total_steps)
    common = {"learning_rate": rate, "clipnorm": spec.clipnorm}
    if factors:
        classes, common = OPTIMIZER_CLASSES, {**common, "factors": factors}
    else:
        classes = {"adam": keras.optimizers.Adam, "adamw": keras.optimizers.AdamW,
                   "sgd": keras.optimizers.SGD, "rmsprop": keras.optimizers.RMSprop}
    optimizer = classes[spec.optimizer]
    if spec.optimizer == "adamw":
        return optimizer(weight_decay=spec.weight_decay, **common)
    if spec.optimizer == "sgd":
        return optimizer(momentum=spec.momentum, nesterov=spec.nesterov, weight_decay=spec.weight_decay or None, **common)
    if spec.optimizer == "rmsprop":
        return optimizer(momentum=spec.momentum, weight_decay=spec.weight_decay or None, **common)
    return optimizer(weight_decay=spec.weight_decay or None, **common)
