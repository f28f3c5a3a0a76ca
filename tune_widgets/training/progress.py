"""Progress of a running fit, as live views receive it: one value type, built here, and the
callback that sends it at a throttled pace."""

import dataclasses
import time

from .callbacks import Callback, Order


@dataclasses.dataclass(frozen=True)
class Progress:
    """Where a fit is: `status` is "caching" (the cache pass), "running", or the run's final
    status. The session's `progress` trait holds `as_dict()` of the latest one."""

    status: str
    step: int
    total_steps: int
    epoch: int
    epochs: int
    elapsed: float
    eta: float | None = None

    @classmethod
    def running(cls, run, epochs, elapsed):
        """A running fit's progress, its time left estimated from the steps done so far."""
        step, total = len(run.batches), run.total_steps
        eta = elapsed / step * (total - step) if step else None
        return cls("running", step, total, len(run.epochs), epochs, elapsed, eta)

    @classmethod
    def final(cls, run):
        """The last progress of `run`, whatever stage it ended in."""
        return cls(run.status, len(run.batches), run.total_steps, len(run.epochs), run.config.get("epochs", 0),
                   run.duration)

    def as_dict(self):
        return dataclasses.asdict(self)


class ProgressReporter(Callback):
    """Calls `report(progress)` at most every `interval` seconds, and when the fit begins.

    This is what live views listen to (the session sends the final report, with the run's end
    status): throttled here, so a chart costs training nothing per batch and a browser on a
    small laptop is not flooded with redraws.
    """

    order = Order.PROGRESS

    def __init__(self, report, interval=0.5):
        super().__init__()
        self.report, self.interval, self.last = report, interval, 0.0

    def _send(self):
        trainer = self.trainer
        self.last = time.perf_counter()
        self.report(Progress.running(trainer.run, trainer.epochs, self.last - trainer.started))

    def on_train_begin(self, logs=None):
        self._send()

    def on_train_batch_end(self, batch, logs=None):
        self._maybe_send()

    def on_epoch_end(self, epoch, logs=None):
        self._maybe_send()  # short epochs must not bypass the throttle: the browser pays for each

    def _maybe_send(self):
        if time.perf_counter() - self.last >= self.interval:
            self._send()
