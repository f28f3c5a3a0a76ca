"""Divergence: a loss that is no longer finite ends the run at once and puts the last good
weights back.

After a NaN loss every gradient is NaN, and one more step makes every weight NaN: training on
keeps nothing, and the earlier weights are gone. `DivergenceGuard` is a training callback. It
keeps a memory snapshot of what the fit can change (`WeightSnapshot.of_training_layers`),
taken at the start and again after each epoch whose losses are finite; it checks the loss
after every batch and the losses after every epoch; on a NaN or inf it restores the snapshot
and raises `Diverged`, which ends the run as "diverged" with a message that suggests a lower
rate. The bad batch is never recorded, so charts and run records stay finite.
"""

import math

from ..models.snapshot import WeightSnapshot
from .callbacks import CancelFit, Callback, Order

WATCHED = ("loss", "val_loss")


class Diverged(CancelFit):
    """The loss became NaN or infinite; the weights are back to their last good state."""

    status = "diverged"

    @property
    def error(self):
        return str(self)


class DivergenceGuard(Callback):
    """Ends the fit within one batch of a non-finite loss, restoring the last good weights."""

    order = Order.DIVERGENCE

    def on_train_begin(self, logs=None):
        self.good, self.good_epoch, self.epoch = WeightSnapshot.of_training_layers(self.model), None, 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        self._check(logs)

    def on_epoch_end(self, epoch, logs=None):
        self._check(logs)
        if self.trainer.guard_divergence:
            self.good, self.good_epoch = WeightSnapshot.of_training_layers(self.model), epoch

    def _check(self, logs):
        if not self.trainer.guard_divergence:  # a fit that handles divergence itself (the LR finder)
            return
        bad = {name: float(value) for name, value in (logs or {}).items()
               if name in WATCHED and not math.isfinite(float(value))}
        if bad:
            self.good.restore(self.model)
            raise Diverged(self._message(bad))

    def _message(self, bad):
        name, value = next(iter(bad.items()))
        step = len(self.trainer.run.batches) + (name == "loss")  # a batch's loss: the step not recorded
        where = (f"the end of epoch {self.good_epoch + 1}, the last with finite losses" if self.good_epoch is not None
                 else "where they were when the run started")
        rate = self.trainer.run.config.get("optimizer", {}).get("learning_rate")
        advice = (f"Lower the learning rate (it is {rate:g}; try {rate / 10:g})" if rate
                  else "Lower the learning rate")
        return (f"The run diverged: the {name.replace('_', ' ')} became {value} at step {step} (epoch "
                f"{self.epoch + 1}), so it was stopped there. The weights are back to {where}. "
                f"{advice}, or set clipnorm=1.0 to bound each step.")
