"""The training loop: one `model.fit`, with every feature around it a callback.

Callbacks (see `callbacks.py`) run in their `order` and see the `Trainer` of the fit in
progress, which holds the run record and the stop request; plain Keras callbacks run after
ours (`callbacks.KerasCallbacks`). Stopping is a flag (`stop_requested`, a threading.Event set
from any thread) read at the next batch end, so a fit ends within one batch and keeps its
weights.
"""

import contextlib
import threading
import time

import keras

from ..data import bucketing
from ..errors import FitError, TuneWidgetsError
from .callbacks import Callback, CancelFit, KerasCallbacks, Recorder, StopControl, Validation, packed


@contextlib.contextmanager
def fit_stage(run, doing, advice=""):
    """Ends `run` as failed on an error, and turns a foreign error into a FitError that says
    what the fit was doing. The toolkit's own errors and CancelFit pass through unchanged (the
    first stage to see an error records it: stages nest)."""
    try:
        yield
    except CancelFit:
        raise
    except TuneWidgetsError as error:
        if run.status == "running":
            run.status, run.error = "failed", f"{type(error).__name__}: {error}"
        raise
    except Exception as error:
        run.status, run.error = "failed", f"{type(error).__name__}: {error}"
        raise FitError(f"The fit failed while {doing}: {run.error}" + (f"\n{advice}" if advice else "")) from error
    except BaseException as interrupt:  # KeyboardInterrupt, SystemExit: the run ends, the interrupt goes on
        run.status, run.error = "stopped", type(interrupt).__name__
        raise


class Trainer:
    """Runs one fit: owns the run record, the stop flag and the ordered callbacks.

    `validate` (True) is a flag a callback may clear before the first epoch ends, for a fit
    whose epochs are not worth a validation pass (the LR finder's sweep). `guard_divergence`
    (True) likewise, for a fit that seeks divergence, ends itself on it and puts the weights
    back (the LR finder again): `divergence.DivergenceGuard` then stands aside. `whole`: the
    session's model, which plain Keras callbacks see (`model` is its suffix on the cached path).
    """

    validate = True
    guard_divergence = True

    def __init__(self, model, x, y, *, run, epochs, batch_size, validation=None, callbacks=(), seed=None,
                 stop_requested=None, whole=None):
        self.model, self.x, self.y, self.run, self.whole = model, x, y, run, whole or model
        self.epochs, self.batch_size, self.seed = epochs, batch_size, seed
        self.stop_requested = stop_requested or threading.Event()
        extra = [Validation(*validation, batch_size)] if validation is not None else []
        plain = [callback for callback in callbacks if not isinstance(callback, Callback)]
        extra += [KerasCallbacks(plain)] if plain else []
        ours = [callback for callback in callbacks if isinstance(callback, Callback)]
        self.callbacks = sorted([StopControl(), Recorder(), *extra, *ours], key=lambda callback: callback.order)
        for callback in self.callbacks:
            callback.trainer = self

    def fit(self):
        """Train; return the run record (status completed or stopped; an error propagates)."""
        self.started = time.perf_counter()
        try:
            if self.seed is not None:
                keras.utils.set_random_seed(self.seed)
            if bucketing.lengths_of(self.x) is not None:  # text: batches of similar length, trimmed
                feed = bucketing.Batches(self.x, self.y, self.batch_size, shuffle=True, seed=self.seed)
                self.model.fit(feed.dataset(), epochs=self.epochs, callbacks=self.callbacks, verbose=0, shuffle=False)
            else:
                self.model.fit(packed(self.x), self.y, epochs=self.epochs, batch_size=self.batch_size,
                               callbacks=self.callbacks, verbose=0, shuffle=True)
            self.run.status = "stopped" if self.stop_requested.is_set() else "completed"
        finally:
            self.run.duration = time.perf_counter() - self.started
            for callback in self.callbacks:
                callback.after_fit()
        return self.run
