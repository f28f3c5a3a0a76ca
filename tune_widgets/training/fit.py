"""One fit's lifecycle, from the checks to the run's end.

`Session.fit` makes a `Fit`: it checks everything and builds the run's config before anything
changes, `begin` opens the run (its folder, the session's `training`, `progress` and `runs`),
and `run` trains (in the caller's thread or a worker) and always ends the run. The fit reports
only through the session's traits, so every open view follows it.
"""

import threading
import time
import warnings

from ..data import bucketing
from ..errors import ConfigError, StateError, TuneWidgetsWarning
from ..models.freezing import apply_plan
from ..models.head import input_names
from ..models.predict import outputs_logits
from ..models.task import task_named
from ..runs.config import run_config
from ..runs.record import RunRecord
from ..validation import check_something_trains, whole_number
from . import acceleration, distribute
from .callbacks import CancelFit, check_callbacks
from .divergence import DivergenceGuard
from .layer_rates import check as check_layer_rates
from .layer_rates import variable_factors
from .optimizers import build_optimizer, check_run_length
from .progress import Progress, ProgressReporter
from .signals import LayerSignals
from .trainer import Trainer, fit_stage


class Fit:
    """A fit of `session` for `epochs`, its run written to `store` (see `Session.fit` for the
    options). Raises the error that stops it, with nothing changed, when constructed."""

    def __init__(self, session, store, epochs, batch_size=None, *, callbacks=(), seed=None, cache="auto",
                 tags=None, jit_compile=False, mixed_precision=False):
        if mixed_precision:
            acceleration.check_mixed_precision()
        epochs = whole_number("epochs", epochs)
        batch_size = session.check_ready(batch_size)
        check_something_trains(session.layers)
        callbacks = check_callbacks(callbacks, session.optimizer)
        total_steps = -(-len(session.train_data) // batch_size) * epochs
        check_run_length(session.optimizer, total_steps)
        config = run_config(session, epochs, batch_size, seed)
        clashes = sorted(set(tags or {}) & (set(config) - {"purpose"}))
        if clashes:
            raise ConfigError(f"Run tags {clashes} would replace the fit's own settings: name them otherwise.")
        config.update(tags or {}, jit_compile=bool(jit_compile), mixed_precision=bool(mixed_precision))
        self.session, self.store, self.cache = session, store, cache
        self.epochs, self.batch_size, self.seed, self.callbacks = epochs, batch_size, seed, callbacks
        self.record = RunRecord(config=config, total_steps=total_steps)
        self.stop_requested = threading.Event()

    def begin(self):
        """Open the run: its folder first (which may raise RunError, changing nothing; it keeps
        an in-memory model's architecture), then the session's traits say a fit is running."""
        self.store.begin(self.record, self.session.backbone.model)
        session = self.session
        session.progress = {}
        session.runs = [*session.runs, self.record]
        session.training = True

    def run(self):
        """The fit itself: cache pass, compile, train. Returns the RunRecord.

        Whatever happens (an error or an interrupt anywhere, a user callback's included), the run
        ends with a final status and its error, the views get the final progress, and the session
        is idle again. An error that is not the toolkit's own comes back as a FitError naming the
        stage. A loss that turns NaN or inf ends the run as "diverged", the last good weights back
        (see divergence.py).
        """
        session, run = self.session, self.record
        try:
            with fit_stage(run, "preparing the fit"):
                apply_plan(session.model, session.plan)
                with fit_stage(run, "caching the frozen layers' outputs",
                               "Pass cache=False to fit without the cache."), distribute.scope(session.strategy):
                    model, train_x, validation_x, run.config["cache"] = self._inputs()
                writers = self.store.callbacks(run, session.model, tensorboard=session.tensorboard)
                reporter = ProgressReporter(lambda progress: setattr(session, "progress", progress.as_dict()))
                signals = [] if any(isinstance(c, LayerSignals) for c in self.callbacks) else [LayerSignals()]
                for callback in (*signals, *self.callbacks):
                    if isinstance(callback, LayerSignals):
                        callback.starting_point = session.starting_point
                trainer = Trainer(model, train_x, session.train_data.labels, run=run, epochs=self.epochs,
                                  batch_size=self.batch_size, seed=self.seed, stop_requested=self.stop_requested,
                                  validation=(validation_x, session.validation_data.labels), whole=session.model,
                                  callbacks=[reporter, DivergenceGuard(), *signals, *writers, *self.callbacks])
                with fit_stage(run, "compiling the model"):
                    session.compile(run.total_steps, model, jit_compile=run.config["jit_compile"])
                with fit_stage(run, "training", acceleration.JIT_ADVICE if run.config["jit_compile"] else ""), \
                        acceleration.mixed_precision(model, run.config["mixed_precision"]):
                    return trainer.fit()
        except CancelFit as cancel:
            run.status, run.error = cancel.status, cancel.error
            if run.error:
                warnings.warn(run.error, TuneWidgetsWarning, stacklevel=3)
            return run
        finally:
            self._end()
            self.store.finish(run)  # the final weight save, once the session is idle

    def _inputs(self):
        """(model, train inputs, validation inputs, cache info): the suffix on cached features
        when the frozen prefix can be cached, else the whole model on the encoded data."""
        session = self.session
        if not self.cache:
            names = input_names(session.model)
            return (session.model, *(bucketing.as_inputs(session.encoded[part], names)
                                     for part in ("train", "validation")),
                    {"used": False, "reason": "cache=False"})
        started = time.perf_counter()

        def report(done, total):
            if self.stop_requested.is_set():
                raise CancelFit("stopped while caching features")
            session.progress = Progress("caching", done, total, 0, self.epochs,
                                        time.perf_counter() - started).as_dict()

        return session.feature_cache.prepare(session.model, session.plan, session.encoded, self.batch_size, report,
                                             strategy=session.strategy)

    def _end(self):
        """The run gets a final status and the views the final progress; the session is idle
        again even if a view fails or a second interrupt arrives meanwhile."""
        session = self.session
        try:
            self.store.end(self.record)  # the run's folder gets its final status (never raises)
            session.progress = Progress.final(self.record).as_dict()
        finally:
            session.training = False
            session.runs = list(session.runs)  # the record changed in place: tell the views


def check_ready(session, batch_size=None):
    """Raise the error that would stop a fit now (busy, no model or data, a head that does
    not fit the data, a bad batch size); return the batch size a fit would use."""
    batch_size = session.batch_size if batch_size is None else whole_number("batch_size", batch_size)
    session.check_idle()
    session.require_model()
    if session.train_data is None:
        raise StateError("There is no training data: call set_data(...) first.")
    if session.head_mismatch:
        raise StateError(session.head_mismatch)
    check_layer_rates(session.layers, session.optimizer.layer_rates)
    return batch_size


def compile_model(session, total_steps=1, model=None, jit_compile=False):
    """Apply the plan and compile with a fresh optimizer. `fit` does this itself, every time,
    so a freeze change can never be trained with a stale compiled graph. `model`: the model
    to compile (the suffix the cache trains), by default the session's. `Session.compile` is
    this function."""
    apply_plan(session.require_model(), session.plan)
    model = model or session.model
    loss, metrics = task_named(session.task).loss_and_metrics(from_logits=outputs_logits(session))
    factors = variable_factors(model, session.layers, session.optimizer.layer_rates)
    with distribute.scope(session.strategy):
        model.compile(optimizer=build_optimizer(session.optimizer, total_steps, factors), loss=loss, metrics=metrics,
                      jit_compile=jit_compile)
    return model
