"""The LR finder: train briefly while the rate grows exponentially, then put everything back.

Leslie Smith's range test as fastai runs it: one short fit in which batch i trains at
start × (end / start)^(i / (steps − 1)), recording each batch's loss. The fit ends when the
smoothed loss passes `divergence` × its minimum (or turns NaN), or after `steps` batches. The
weights (all of them: BatchNorm statistics included) are then restored bit for bit, and the
freeze plan and optimizer spec are never touched. The sweep is an ordinary fit: it shows in
`session.runs` with `config["purpose"] == "lr_find"`, trains on the frozen prefix's cached
features when the cache applies, skips validation, and Stop ends it within a batch.

The suggestion is fastai's "valley" rule, on the smoothed loss: take the longest stretch of
rates over which the loss keeps falling (the longest decreasing subsequence), and suggest the
rate about halfway down it. It is steadier than the steepest slope, which noise moves about.
"""

import dataclasses
import math

import keras

from ..errors import ConfigError
from ..models.snapshot import WeightSnapshot
from ..training import jobs
from ..training.callbacks import Callback, Order

MAX_STEPS = 500


@dataclasses.dataclass(frozen=True)
class LRFinderResult:
    """What a sweep measured: the rate and loss (raw and smoothed) of each batch, the
    suggested rate (None when there were too few batches to pick one), and why it ended
    ("diverged", "completed" after all steps, or "stopped")."""

    rates: tuple
    losses: tuple
    smoothed: tuple
    suggestion: float | None
    ended: str
    run_id: str = ""

    @property
    def suggestion_index(self):
        return None if self.suggestion is None else self.rates.index(self.suggestion)

    def __repr__(self):
        best = f"suggestion {self.suggestion:.2g}" if self.suggestion is not None else "no suggestion"
        span = f"{self.rates[0]:.1g}–{self.rates[-1]:.1g}" if self.rates else "no batches"
        return f"LRFinderResult({len(self.rates)} batches over {span}, {self.ended}; {best})"


@keras.saving.register_keras_serializable(package="tune_widgets")
class ExponentialRates(keras.optimizers.schedules.LearningRateSchedule):
    """start × (end / start)^(step / (steps − 1)): the finder's rate at each step."""

    def __init__(self, start, end, steps):
        self.start, self.end, self.steps = float(start), float(end), int(steps)

    def __call__(self, step):
        progress = keras.ops.cast(step, "float32") / max(self.steps - 1, 1)
        return self.start * keras.ops.power(self.end / self.start, progress)

    def rate(self, step):
        return self.start * (self.end / self.start) ** (step / max(self.steps - 1, 1))

    def get_config(self):
        return {"start": self.start, "end": self.end, "steps": self.steps}


class LRFinder(Callback):
    """The sweep, as a training callback. `model` is the whole model whose weights are put
    back after the fit (the fit itself may train only the suffix over cached features)."""

    order = Order.LR_FINDER

    def __init__(self, model, start, end, steps, divergence=4.0):
        super().__init__()
        self.whole, self.snapshot = model, WeightSnapshot.of(model)
        self.schedule = ExponentialRates(start, end, steps)
        self.divergence = divergence
        # a moving average over about half the sweep: fastai's 0.98 at its 100 steps
        self.smoothing = min(0.98, max(0.8, 1 - 2 / steps))
        self.rates, self.losses, self.smoothed, self.ended = [], [], [], "stopped"
        self._average = 0.0

    def on_train_begin(self, logs=None):
        self.trainer.validate = self.trainer.guard_divergence = False  # it ends on divergence itself
        self.model.optimizer.learning_rate = self.schedule  # a fresh optimizer: step 0 is this fit's first batch

    def on_train_batch_begin(self, batch, logs=None):
        self.model.reset_metrics()  # Keras logs an epoch's running mean: reset, it logs this batch's loss

    def on_train_batch_end(self, batch, logs=None):
        loss = float((logs or {}).get("loss", math.nan))
        step = len(self.rates)
        self.rates.append(self.schedule.rate(step))
        self.losses.append(loss)
        self._average = self.smoothing * self._average + (1 - self.smoothing) * loss
        self.smoothed.append(self._average / (1 - self.smoothing ** (step + 1)))
        if not math.isfinite(self.smoothed[-1]) or self.smoothed[-1] > self.divergence * min(self.smoothed):
            self.ended, self.model.stop_training = "diverged", True
        elif step + 1 >= self.schedule.steps:
            self.ended, self.model.stop_training = "completed", True

    def after_fit(self):
        self.snapshot.restore(self.whole)

    def result(self, run):
        ended = "stopped" if run.status == "stopped" else self.ended
        return LRFinderResult(tuple(self.rates), tuple(self.losses), tuple(self.smoothed),
                              valley(self.rates, self.smoothed), ended, run.run_id)


def valley(rates, smoothed):
    """fastai's valley rule (see the module docstring); None with fewer than 5 finite points.
    O(n²) in the points: a few hundred at most."""
    count = next((i for i, value in enumerate(smoothed) if not math.isfinite(value)), len(smoothed))
    losses = smoothed[:count]  # a NaN or inf stays in the moving average: only a tail is lost
    if count < 5:
        return None
    lengths, best_end = [1] * count, 0
    for i in range(1, count):
        for j in range(i):
            if losses[i] < losses[j] and lengths[i] < lengths[j] + 1:
                lengths[i] = lengths[j] + 1
        if lengths[i] > lengths[best_end]:
            best_end = i
    start = best_end - lengths[best_end] + 1
    section = (best_end - start) / 3
    return float(rates[start + int(section) + int(section / 2)])


def default_steps(examples, batch_size):
    """Ten epochs' worth of batches, at least 20 and at most 100 (fastai's default)."""
    per_epoch = -(-examples // batch_size)
    return min(100, max(20, 10 * per_epoch))


def check(start, end, steps, divergence):
    for name, value in (("start", start), ("end", end), ("divergence", divergence)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            raise ConfigError(f"find_lr: {name} must be a positive number, got {value!r}.")
    if start >= end:
        raise ConfigError(f"find_lr: the rate range runs from start={start:g} up to end={end:g}, so start must be "
                          f"the smaller: swap them (start={end:g}, end={start:g}).")
    if not isinstance(steps, int) or isinstance(steps, bool) or not 5 <= steps <= MAX_STEPS:
        raise ConfigError(f"find_lr: steps must be a whole number from 5 to {MAX_STEPS}, got {steps!r}.")
    if divergence <= 1:
        raise ConfigError(f"find_lr: divergence is a multiple of the lowest loss, above 1 (like 4), got {divergence!r}.")


def find_lr(session, start=1e-7, end=10.0, steps=None, *, divergence=4.0, batch_size=None, seed=None,
            background=False, cache="auto"):
    """The LR finder: train `steps` batches (default: ten epochs' worth, 20 to 100) at rates
    growing exponentially from `start` to `end`, stop once the smoothed loss passes
    `divergence` × its minimum, then put the weights back bit for bit. Returns an
    LRFinderResult (rates, losses, suggestion by fastai's valley rule), or a Future of it with
    background=True, and keeps it in `session.lr_finder`. The sweep is a run with
    config["purpose"] == "lr_find". `Session.find_lr` is this function."""
    batch_size = session.check_ready(batch_size)
    model = session.model
    steps = default_steps(len(session.train_data), batch_size) if steps is None else steps
    check(start, end, steps, divergence)
    finder = LRFinder(model, start, end, steps, divergence)
    epochs = -(-steps // -(-len(session.train_data) // batch_size))
    tags = {"purpose": "lr_find", "lr_find": {"start": start, "end": end, "steps": steps, "divergence": divergence}}
    outcome = session.fit(epochs=epochs, batch_size=batch_size, callbacks=[finder], seed=seed, cache=cache,
                          background=background, tags=tags)

    def finish(run):
        result = finder.result(run)
        session.lr_finder = result
        return result

    return jobs.chain(outcome, finish) if background else finish(outcome)
