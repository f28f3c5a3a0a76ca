"""The session: one object that holds a fine-tuning's state and every operation on it.

Panels observe its traits and call its methods; a notebook cell calls the same methods, so a
change made either way reaches every open view. Each operation validates and computes first and
assigns last: after an error the session holds exactly what it held before.
"""

import dataclasses
import functools
import numbers
import threading
import time
import warnings
from pathlib import Path

import keras
import numpy as np
import traitlets

from . import acceleration, bucketing
from . import data as data_module
from . import distribute, jobs, saving
from .cache import FeatureCache
from .divergence import DivergenceGuard
from .errors import ConfigError, RunError, StateError, TuneWidgetsError, TuneWidgetsWarning
from .evaluation import regression_report, report
from .freezing import FreezePlan, apply_plan, layer_table, plan_from_model, select
from .models import HeadSpec, build_classifier, input_names, load_backbone, loss_and_metrics
from .optim import OptimizerSpec, build_optimizer, check_options_apply, check_run_length
from .reset import StartingPoint
from .runs import describe, export
from .runs.resume import restore
from .runs.store import RunStore, default_runs_dir
from .training import CancelFit, Progress, RunRecord, Trainer, final_progress, fit_stage
from .tuning import lora as lora_module
from .tuning import lr_find, sweep, unfreezing
from .tuning import rates as discriminative
from .user_models import preprocessing_module
from .validation import check_something_trains, screen_rows, whole_number

ALL = slice(None)
DEFAULT = object()  # runs_dir: tune_runs/ in the working directory (see runs.store.default_runs_dir)


class Session(traitlets.HasTraits):
    """Model, data, freeze plan, optimizer spec and runs of one fine-tuning.

    >>> session = Session()
    >>> session.load_model(minilm_folder(), sequence_length=64)
    >>> session.set_data(load_tweets(n=200))
    >>> session.freeze_to("transformer_layer_5")
    >>> run = session.fit(epochs=2)
    >>> session.evaluate()

    runs_dir: where every fit is written (config, metrics, weights; see `runs.store`), by default
    `tune_runs/` in the working directory; None keeps runs in memory only. strategy: a
    `tf.distribute.Strategy` to build and train under (see `set_strategy`). tensorboard: also
    write TensorBoard event files into each run's folder.
    """

    model = traitlets.Any(None, allow_none=True, help="The FineTuneModel (None until a model and a class count are known).")
    layers = traitlets.Tuple(help="A LayerInfo per layer of the model, with its frozen state.")
    plan = traitlets.Instance(FreezePlan, args=())
    lora = traitlets.Instance(lora_module.LoraPlan, args=(), help="The LoRA adapters the model holds (see tuning/lora.py).")
    optimizer = traitlets.Instance(OptimizerSpec, args=())
    head = traitlets.Instance(HeadSpec, args=())
    train_data = traitlets.Any(None, allow_none=True)
    validation_data = traitlets.Any(None, allow_none=True)
    batch_size = traitlets.Int(32)
    data_settings = traitlets.Dict(help="How the data was split and read: validation, seed, text_column, label_column.")
    training = traitlets.Bool(False, help="True while a fit runs.")
    progress = traitlets.Dict(help="The running fit's throttled progress (see training.Progress).")
    runs = traitlets.List(help="RunRecords, oldest first: those in runs_dir, then this session's.")
    evaluation = traitlets.Any(None, allow_none=True, help="The latest EvaluationReport.")
    lr_finder = traitlets.Any(None, allow_none=True, help="The latest LRFinderResult (see find_lr).")
    freeze_sweep = traitlets.Any(None, allow_none=True, help="The latest SweepResult, growing point by point.")

    def __init__(self, *, runs_dir=DEFAULT, strategy=None, tensorboard=False, **kwargs):
        store = _default_store() if runs_dir is DEFAULT else RunStore(runs_dir)
        super().__init__(**kwargs)
        self.backbone = None
        self.strategy = None
        self.tensorboard = bool(tensorboard)
        self._keep_head = False  # a user model keeps its own head until set_head()
        self._start = None  # what reset() returns to (reset.StartingPoint)
        self._stop_requested = threading.Event()
        self._encoded = {}
        self._restored = None  # the run load_run restored, until the model changes
        self._feature_cache = FeatureCache()  # the frozen prefix's outputs, keyed by plan, model and data
        self._lock = threading.RLock()
        self._runs = store
        self.runs = store.records()
        if strategy is not None:
            self.set_strategy(strategy)

    # ---- model -------------------------------------------------------------------------------

    def load_model(self, source, *, input_shape=None, weights="imagenet", sequence_length=64, head=None,
                   preprocessing="auto", allow_pickle=False):
        """Load a model from a keras.applications name, a checkpoint folder, a .keras/.h5 file or a
        keras.Model (see `models.load_backbone`), and put the head on it once classes are known.

        A user model or file keeps its own head unless `head` (a HeadSpec) asks for a new one.
        preprocessing: how images are scaled for it: "auto" (a keras.applications network's own,
        also when found inside a user model; a saved model's recorded one), a keras.applications
        module name such as "mobilenet_v2", or None for raw 0–255 pixels.
        `allow_pickle=True` opts in to a checkpoint whose weights are only a pickle
        (pytorch_model.bin): it can run code, so only for files you trust (it warns).
        """
        self._check_idle()
        declared = preprocessing_module(preprocessing) if preprocessing != "auto" else None
        if isinstance(source, keras.Model):
            source = distribute.in_scope(source, self.strategy)
        with self._scope():
            backbone = load_backbone(source, input_shape=input_shape, weights=weights,
                                     sequence_length=sequence_length, allow_pickle=allow_pickle)
            saving.restore(backbone, source, sequence_length)
            if preprocessing != "auto":
                if declared is not None and backbone.tokenizer is not None:
                    raise ConfigError(f"preprocessing scales images, but {backbone.source} takes text: leave it out.")
                backbone.preprocessing = declared
            keep_head = backbone.kind == "model" and head is None
            head = head or self.head
            encoded = self._encode_all(backbone, self.train_data, self.validation_data)
            model = self._classifier(backbone, head, keep_head, self.train_data)
        plan = plan_from_model(model if model is not None else backbone.model)
        start = StartingPoint.of(backbone)
        with self.hold_trait_notifications():
            self.backbone, self._encoded, self._keep_head, self._start = backbone, encoded, keep_head, start
            self.head = head
            self._set_model(model, plan)
        return self

    def set_head(self, num_classes=None, dropout=None, activation=None, pooling=None):
        """Replace the head: class count (None: from the data), dropout, activation, pooling."""
        self._check_idle()
        self._require_backbone()
        current = self.head
        head = HeadSpec(
            num_classes=num_classes,
            dropout=current.dropout if dropout is None else dropout,
            activation=activation or current.activation,
            pooling=pooling or current.pooling,
        )
        with self._scope():
            model = self._classifier(self.backbone, head, False, self.train_data, force=True)
        with self.hold_trait_notifications():
            self.head, self._keep_head = head, False
            self._set_model(model, self._plan_for(model))
        return self

    def _classifier(self, backbone, head, keep_head, train_data, force=False):
        if keep_head:
            return build_classifier(backbone, None, None)
        if train_data is not None and train_data.task == "regression":
            if head.num_classes:
                raise ConfigError(f"The data holds regression targets, which take one linear output, not "
                                  f"{head.num_classes} classes: leave num_classes=None (set_data(..., "
                                  f"task='classification') makes the data classes).")
            return build_classifier(backbone, head, 1, task="regression", target_mean=float(train_data.labels.mean()))
        classes = head.num_classes or (len(train_data.class_names) if train_data is not None else None)
        if classes is None:
            if force:
                raise StateError("Set data first, or give num_classes: the head needs a class count.")
            return None
        if force and train_data is not None and classes < len(train_data.class_names):
            raise ConfigError(
                f"The head has {classes} classes but the data has {len(train_data.class_names)}: "
                f"leave num_classes=None to follow the data."
            )
        return build_classifier(backbone, head, classes)

    def _set_model(self, model, plan):
        if model is not None:
            self._start = self._start.with_head(model, self.backbone)
        self._restored = None  # a new model no longer holds a stored run's weights
        self.model = model
        graph = model if model is not None else self.backbone.model
        apply_plan(graph, plan)
        self.plan = plan
        self.lora = lora_module.plan_of(graph)  # a new head shares the backbone's layers, adapters included
        self.layers = layer_table(graph, plan)

    def _plan_for(self, model):
        """The current plan carried over to a rebuilt model: same names, new head trainable."""
        names = {layer.name for layer in model.layers}
        return FreezePlan(self.plan.frozen & names)

    # ---- freezing ----------------------------------------------------------------------------

    def freeze(self, selector=ALL):
        """Freeze the layers `selector` picks (index, range, name, block, glob, "re:…", list)."""
        return self._change_plan(self.plan.with_frozen(self._names(selector), True))

    def unfreeze(self, selector=ALL):
        """Unfreeze the layers `selector` picks; see `freeze`."""
        return self._change_plan(self.plan.with_frozen(self._names(selector), False))

    def freeze_to(self, selector):
        """Freeze everything below a point and unfreeze the rest.

        An int n freezes layers[:n] (like slicing); a name, block or pattern freezes up to and
        including the last layer it selects.
        """
        return self._change_plan(self.plan_to(selector))

    def plan_to(self, selector):
        """The plan `freeze_to(selector)` would apply, without applying it."""
        if isinstance(selector, numbers.Integral) and not isinstance(selector, (bool, np.bool_)):
            selector, count = int(selector), len(self.layers)
            if not 0 <= selector <= count:
                raise ConfigError(f"freeze_to({selector}) is out of range: the model has {count} layers.")
            stop = selector
        else:
            stop = max(select(self.layers, selector)) + 1
        names = [row.name for row in self.layers]
        return FreezePlan(names[:stop])

    def set_frozen(self, names):
        """Make exactly `names` frozen (what the layer map sends)."""
        names = list(names)
        known = {row.name for row in self.layers}
        unknown = [n for n in names if n not in known]
        if unknown:
            from .errors import LayerSelectionError

            raise LayerSelectionError(f"No layers named {unknown[:5]} in this model.")
        return self._change_plan(FreezePlan(names))

    def _names(self, selector):
        if not self.layers:
            self._require_backbone()
        return [self.layers[i].name for i in select(self.layers, selector)]

    def _change_plan(self, plan):
        self._check_idle()
        if plan == self.plan:
            return self
        graph = self.model if self.model is not None else self.backbone.model
        apply_plan(graph, plan)
        with self.hold_trait_notifications():
            self.plan = plan
            self.layers = tuple(dataclasses.replace(row, frozen=row.name in plan.frozen) for row in self.layers)
        return self

    @property
    def parameter_counts(self):
        """{"total", "trainable", "frozen", "adapters"}: weights that train now, those that
        don't, and the LoRA adapters among the trainable ones."""
        adapters = sum(row.adapter_params for row in self.layers)
        trainable = sum(row.params for row in self.layers if not row.frozen) + adapters
        total = sum(row.params + row.fixed_params + row.adapter_params for row in self.layers)
        return {"total": total, "trainable": trainable, "frozen": total - trainable, "adapters": adapters}

    # ---- LoRA --------------------------------------------------------------------------------

    def add_lora(self, selector, rank=8, alpha=None):
        """Add low-rank adapters: they train, the weights they adapt stay put (see tuning/lora.py).

        `selector` picks top-level layers as `freeze` does (a block adapts its query and value
        projections, KerasHub's choice), or sublayers by a path with "/" ("transformer_layer_5/
        self_attention_layer/key", "*/query"). alpha=None means alpha = rank (a scale of 1).
        """
        self._check_idle()
        graph = self._graph()
        added = lora_module.add(graph, self.layers, selector, rank, alpha)
        if added:
            self._start = self._start.with_adapters(lora_module.adapter_values(graph, added))
            self._adapters_changed(graph)
        return self

    def remove_lora(self, selector=ALL, *, merge=False):
        """Drop the adapters `selector` picks (all of a picked block's), and what they learned;
        merge=True folds what they learned into the adapted weights first."""
        self._check_idle()
        graph = self._graph()
        if lora_module.remove(graph, self.layers, selector, merge):
            self._adapters_changed(graph)
        return self

    @property
    def lora_targets(self):
        """The layers and sublayers LoRA can adapt (`tuning.lora.Target`s), in model order."""
        return lora_module.targets(self._graph()) if self.layers else ()

    def _adapters_changed(self, graph):
        self._feature_cache = FeatureCache()  # where the frozen prefix ends moves with the adapters
        with self.hold_trait_notifications():
            self.lora = lora_module.plan_of(graph)
            self.layers = layer_table(graph, self.plan)

    def _graph(self):
        self._require_backbone()
        return self.model if self.model is not None else self.backbone.model

    # ---- optimizer ---------------------------------------------------------------------------

    def set_optimizer(self, spec=None, **changes):
        """Replace the optimizer spec, or change some of its fields: set_optimizer(learning_rate=3e-4).

        Refused during a fit: its optimizer is built when it starts, so a change would silently
        wait for the next run. Options the chosen optimizer ignores (momentum with Adam) are refused.
        """
        if self.training:
            raise StateError("A fit is running, and its optimizer was built when it started: a change now would "
                             "only apply to the next run. Stop the fit (session.stop()) or wait for it, then change it.")
        if spec is not None and not isinstance(spec, OptimizerSpec):
            raise ConfigError(f"Expected an OptimizerSpec, got {type(spec).__name__}.")
        try:
            new = (spec or self.optimizer).replace(**changes)
        except TypeError as error:
            fields = ", ".join(f.name for f in dataclasses.fields(OptimizerSpec))
            raise ConfigError(f"{error}. OptimizerSpec fields: {fields}.") from None
        current = self.optimizer  # a whole spec "gives" the fields it changes: fine_tune puts specs back whole
        check_options_apply(new, [*changes, *(field.name for field in dataclasses.fields(OptimizerSpec)
                                              if getattr(new, field.name) != getattr(current, field.name))])
        self.optimizer = new
        return self

    def set_rates(self, rates=None, *, lowest=None):
        """Discriminative learning rates: a multiplier of the learning rate per layer group
        (a block holding weights), applied to each variable's update by every optimizer.

        set_rates(lowest=0.01): the lowest block at 1/100 of the head's rate, geometric between;
        set_rates(slice(1e-5, 1e-3)): fastai's form, the head at 1e-3 (the learning rate) and
        the lowest block at 1e-5; set_rates({"transformer_layer_5": 0.5}): named blocks, the
        others × 1; set_rates(None): one rate for every layer. See `tuning/rates.py`.
        """
        return self.set_optimizer(**discriminative.resolve(self.layers, rates, lowest))

    # ---- data --------------------------------------------------------------------------------

    def set_data(self, data, labels=None, *, validation=0.2, validation_data=None, seed=0,
                 text_column=None, label_column=None, class_names=None, batch_size=None, dropna=False,
                 task="auto"):
        """Set the training data (and hold out a seeded, stratified validation split).

        `data` may be arrays, lists of texts, a DataFrame, a tf.data.Dataset, a folder of images or
        LabelledData; `validation_data` (same forms, or an (x, y) pair) replaces the split.
        Missing texts or labels and NaN/inf features are refused, naming their positions;
        `dropna=True` drops those rows instead, with a warning that counts them.
        task="regression" makes numeric labels targets (a linear head, the MSE loss); "auto" does
        so for numbers with fractions, and reads whole numbers and strings as classes.
        """
        self._check_idle()
        if batch_size is not None:
            batch_size = whole_number("batch_size", batch_size)
        full = data_module.labelled(data, labels, text_column=text_column, label_column=label_column,
                                    class_names=class_names, dropna=dropna, task=task,
                                    num_classes=None if task == "regression" else self._head_class_count())
        if validation_data is not None:
            if isinstance(validation_data, tuple) and len(validation_data) == 2:
                validation_data = data_module.labelled(*validation_data, class_names=full.class_names, dropna=dropna,
                                                       task=full.task)
            held = data_module.labelled(validation_data, class_names=full.class_names, text_column=text_column,
                                        label_column=label_column, dropna=dropna, task=full.task)
            train = full
        else:
            train, held = data_module.split(full, validation, seed)
        encoded = self._encode_all(self.backbone, train, held) if self.backbone is not None else {}
        model = self.model
        if self.backbone is not None and (model is None or self._class_count_changed(train)):
            with self._scope():
                model = self._classifier(self.backbone, self.head, self._keep_head, train)
        if model is not None and _head_mismatch(model, train):
            warnings.warn(_head_mismatch(model, train), TuneWidgetsWarning, stacklevel=2)
        with self.hold_trait_notifications():
            self.train_data, self.validation_data, self._encoded = train, held, encoded
            if batch_size is not None:
                self.batch_size = batch_size
            self.data_settings = {"validation": None if validation_data is not None else validation, "seed": seed,
                                  "text_column": text_column, "label_column": label_column}
            if model is not self.model:
                self._set_model(model, self._plan_for(model) if self.model is not None else self.plan)
        self._check_restored_data()
        return self

    @property
    def _data_split(self):
        """How set_data held out the validation data ({"validation", "seed"}), or None when it
        was given."""
        settings = self.data_settings
        return {key: settings[key] for key in ("validation", "seed")} if settings.get("validation") is not None else None

    def _head_class_count(self):
        """The class count the head was given (set_head(num_classes=...)), which integer labels
        must fit; None when the count follows the data."""
        return None if self._keep_head else self.head.num_classes

    def _class_count_changed(self, train):
        if self._keep_head or (self.head.num_classes and train.task == "classification"):
            return False
        return self.model.output.shape[-1] != _outputs_for(train)

    @property
    def head_mismatch(self):
        """Why the model's outputs do not fit the data's classes, or "" when they do.

        Data is kept even when it does not fit a user model's own head; fit and evaluate are
        refused with this message until `set_head()` gives the model a head for the data.
        """
        if self.model is None or self.train_data is None:
            return ""
        return _head_mismatch(self.model, self.train_data)

    def _encode_all(self, backbone, train, held):
        if backbone is None or train is None:
            return {}
        return {"train": data_module.encode(train, backbone), "validation": data_module.encode(held, backbone)}

    # ---- training ----------------------------------------------------------------------------

    def compile(self, total_steps=1, model=None, jit_compile=False):
        """Apply the plan and compile with a fresh optimizer. `fit` does this itself, every time,
        so a freeze change can never be trained with a stale compiled graph."""
        apply_plan(self._require_model(), self.plan)
        model = model or self.model
        loss, metrics = loss_and_metrics(self.task, from_logits=self._outputs_logits)
        factors = discriminative.variable_factors(model, self.layers, self.optimizer.layer_rates)
        with self._scope():
            model.compile(optimizer=build_optimizer(self.optimizer, total_steps, factors), loss=loss, metrics=metrics,
                          jit_compile=jit_compile)
        return model

    def fit(self, epochs=1, batch_size=None, *, callbacks=(), seed=None, background=False, cache="auto", tags=None,
            jit_compile=False, mixed_precision=False):
        """Train for `epochs`; returns the RunRecord (a Future of it with background=True).

        In the background the kernel stays free: `stop()` ends the fit within one batch.
        cache: "auto" (or True) trains on cached outputs of the frozen bottom of the model when
        that is exact (see `cache.py`); the run's config says whether it did, and why not.
        tags: plain data added to the run's config, saying what the run was for: the tuning
        tools set "purpose" ("train" unless said otherwise; "lr_find" for the LR finder, whose
        weights are put back), "phase" (fine_tune) and "sweep".
        jit_compile (XLA) and mixed_precision (bfloat16 compute) are off by default: on our CPU
        neither made fine-tuning faster (see acceleration.py and the README's benchmark table).
        """
        if mixed_precision:
            acceleration.check_mixed_precision()
        epochs = whole_number("epochs", epochs)
        with self._lock:
            batch_size = self.check_ready(batch_size)
            check_something_trains(self.layers)
            total_steps = -(-len(self.train_data) // batch_size) * epochs
            check_run_length(self.optimizer, total_steps)
            config = self._config(epochs, batch_size, seed)
            clashes = sorted(set(tags or {}) & (set(config) - {"purpose"}))
            if clashes:
                raise ConfigError(f"Run tags {clashes} would replace the fit's own settings: name them otherwise.")
            run = RunRecord(config={**config, **(tags or {})}, total_steps=total_steps)
            run.config.update(jit_compile=bool(jit_compile), mixed_precision=bool(mixed_precision))
            self._runs.begin(run)  # the run's folder, before anything changes (raises RunError)
            self._restored = None  # the next fit continues from this one, as any fit does
            self._stop_requested = threading.Event()
            self.progress = {}
            self.runs = [*self.runs, run]
            self.training = True
        job = functools.partial(self._train, run, epochs, batch_size, list(callbacks), seed, cache)
        return jobs.run(job, background, "fit")

    def _train(self, run, epochs, batch_size, callbacks, seed, cache):
        """The fit itself (in the caller's thread or the worker): cache pass, compile, train.

        Whatever happens (an error or an interrupt anywhere, a user callback's included), the run
        ends with a final status and its error, the views get the final progress, and the session
        is idle again. An error that is not the toolkit's own comes back as a FitError naming the
        stage. A loss that turns NaN or inf ends the run as "diverged", the last good weights back
        (see divergence.py).
        """
        try:
            with fit_stage(run, "preparing the fit"):
                apply_plan(self.model, self.plan)
                with fit_stage(run, "caching the frozen layers' outputs",
                               "Pass cache=False to fit without the cache."), self._scope():
                    model, train_x, validation_x, run.config["cache"] = self._training_inputs(cache, batch_size, run)
                writers = self._runs.callbacks(run, self.model, tensorboard=self.tensorboard)
                trainer = Trainer(model, train_x, self.train_data.labels, run=run, epochs=epochs,
                                  batch_size=batch_size, seed=seed, stop_requested=self._stop_requested,
                                  validation=(validation_x, self.validation_data.labels),
                                  callbacks=[Progress(self._report_progress), DivergenceGuard(), *writers, *callbacks])
                with fit_stage(run, "compiling the model"):
                    self.compile(run.total_steps, model, jit_compile=run.config["jit_compile"])
                with fit_stage(run, "training", acceleration.JIT_ADVICE if run.config["jit_compile"] else ""), \
                        acceleration.mixed_precision(model, run.config["mixed_precision"]):
                    return trainer.fit()
        except CancelFit as cancel:
            run.status, run.error = cancel.status, cancel.error
            if run.error:
                warnings.warn(run.error, TuneWidgetsWarning, stacklevel=3)
            return run
        finally:
            self._end_run(run)

    def _end_run(self, run):
        """The run gets a final status and the views the final progress; the session is idle
        again even if a view fails or a second interrupt arrives meanwhile."""
        try:
            self._runs.end(run)  # the run's folder gets its final status (never raises)
            self.progress = final_progress(run, self.progress)
        finally:
            self.training = False
            self.runs = list(self.runs)  # the record changed in place: tell the views

    def check_ready(self, batch_size=None):
        """Raise the error that would stop a fit now (busy, no model or data, a head that does
        not fit the data, a bad batch size); return the batch size a fit would use."""
        batch_size = self.batch_size if batch_size is None else whole_number("batch_size", batch_size)
        self._check_idle()
        self._require_model()
        if self.train_data is None:
            raise StateError("There is no training data: call set_data(...) first.")
        if self.head_mismatch:
            raise StateError(self.head_mismatch)
        discriminative.check(self.layers, self.optimizer.layer_rates)
        return batch_size

    def _training_inputs(self, cache, batch_size, run):
        """(model, train inputs, validation inputs, cache info): the suffix on cached features
        when the frozen prefix can be cached, else the whole model on the encoded data."""
        if not cache:
            names = input_names(self.model)
            return (self.model, *(bucketing.as_inputs(self._encoded[part], names) for part in ("train", "validation")),
                    {"used": False, "reason": "cache=False"})
        started = time.perf_counter()

        def report(done, total):
            if self._stop_requested.is_set():
                raise CancelFit("stopped while caching features")
            self.progress = {"status": "caching", "step": done, "total_steps": total, "epoch": 0,
                             "epochs": run.config["epochs"], "eta": None, "elapsed": time.perf_counter() - started}

        return self._feature_cache.prepare(self.model, self.plan, self._encoded, batch_size, report,
                                           strategy=self.strategy)

    def _report_progress(self, progress):
        self.progress = progress

    def stop(self):
        """Ask the running fit to stop after its current batch; the weights are kept."""
        self._stop_requested.set()

    @property
    def stop_requested(self):
        """Whether stop() was called since the latest fit began: tools that run several fits
        (fine_tune, sweep_freeze) check it between them."""
        return self._stop_requested.is_set()

    def _config(self, epochs, batch_size, seed=None):
        return {
            "purpose": "train",
            "model": self.backbone.source,
            "epochs": epochs,
            "batch_size": batch_size,
            "frozen": sorted(self.plan.frozen),
            "lora": self.lora.to_config(),
            "optimizer": dataclasses.asdict(self.optimizer),
            "head": dataclasses.asdict(self.head),
            "task": self.task,
            **describe.data_record(self.train_data, self.validation_data, self._data_split),
            "parameters": self.parameter_counts,
            "plan_summary": describe.plan_summary(self.layers),
            "backbone": describe.backbone_spec(self.backbone, self._keep_head),
            "signature": describe.signature(self.model),
            "seed": seed,
            "strategy": distribute.spec(self.strategy),
            "resumed_from": self._restored.origin if self._restored is not None else None,
            **({"layer_factors": describe.layer_factors(self.layers, self.optimizer.layer_rates)}
               if self.optimizer.layer_rates else {}),
        }

    # ---- tuning (tune_widgets/tuning/) --------------------------------------------------------

    def find_lr(self, start=1e-7, end=10.0, steps=None, *, divergence=4.0, batch_size=None, seed=None,
                background=False, cache="auto"):
        """The LR finder: train `steps` batches (default: ten epochs' worth, 20 to 100) at rates
        growing exponentially from `start` to `end`, stop once the smoothed loss passes
        `divergence` × its minimum, then put the weights back bit for bit. Returns an
        LRFinderResult (rates, losses, suggestion by fastai's valley rule) and keeps it in
        `lr_finder`. The sweep is a run with config["purpose"] == "lr_find". See `tuning/lr_find.py`.
        """
        return lr_find.find_lr(self, start, end, steps, divergence=divergence, batch_size=batch_size, seed=seed,
                               background=background, cache=cache)

    def fine_tune(self, epochs=1, frozen_epochs=1, *, unfreeze="all", learning_rate=None, lowest=0.01,
                  batch_size=None, seed=None, callbacks=(), background=False):
        """fastai's fine_tune: `frozen_epochs` with everything below the head frozen, then
        `epochs` with the body unfrozen at half the rate, spread by `lowest` (see set_rates).
        unfreeze="gradual" unfreezes one block per epoch from the top instead. One run per
        phase, marked config["phase"]; the optimizer spec is put back afterwards. See
        `tuning/unfreezing.py`."""
        return unfreezing.fine_tune(self, epochs, frozen_epochs, unfreeze=unfreeze, learning_rate=learning_rate,
                                    lowest=lowest, batch_size=batch_size, seed=seed, callbacks=callbacks,
                                    background=background)

    def sweep_freeze(self, points=None, epochs=1, *, metric=None, batch_size=None, seed=0,
                     background=False):
        """A short run per freeze cut point (default: head only, then the top one, two and three
        blocks; or freeze_to selectors), each from the same starting weights, which are put back
        afterwards with the plan. Returns a SweepResult, also kept (growing) in `freeze_sweep`;
        apply its best plan with `set_frozen(result.best.frozen)`. metric=None compares
        "val_accuracy", or "val_loss" for regression. See `tuning/sweep.py`."""
        return sweep.sweep_freeze(self, points, epochs, metric=metric, batch_size=batch_size, seed=seed,
                                  background=background)

    # ---- runs --------------------------------------------------------------------------------

    @property
    def runs_dir(self):
        """The folder runs are written to, or None when they are kept in memory only."""
        return self._runs.root

    def load_run(self, run, weights="last"):
        """Restore a stored run (its id, RunRecord or folder): the model, head, freeze plan and
        optimizer spec from its config.json, then its "last" or "best" weights. The next fit
        continues from them. The data is not stored: when the session's data differs from the
        run's, a warning says how."""
        self._check_idle()
        with self._scope():
            restored = restore(self._runs.open(run), weights, backbone=self.backbone, model=self.model,
                               head=self.head, keep_head=self._keep_head)
        encoded = self._encode_all(restored.backbone, self.train_data, self.validation_data)
        with self.hold_trait_notifications():
            self.backbone, self._encoded, self._keep_head = restored.backbone, encoded, restored.keep_head
            self._start = StartingPoint.of(restored.backbone)  # reset() returns to the run's weights
            self.head, self.optimizer = restored.head, restored.optimizer
            self._set_model(restored.model, restored.plan)
            self._restored = restored
        self._check_restored_data()
        return self

    @classmethod
    def resume(cls, run_dir, *, weights="last", data=None, runs_dir=DEFAULT, **session_options):
        """A new session holding the run in `run_dir` (see `load_run`), its runs_dir the folder
        around it. With `data`, the data is set as the run held out its validation split."""
        run_dir = Path(run_dir).expanduser()
        session = cls(runs_dir=run_dir.parent if runs_dir is DEFAULT else runs_dir, **session_options)
        session.load_run(run_dir, weights)
        if data is not None:
            split = session._restored.config["data"]["split"] or {}
            session.set_data(data, batch_size=session._restored.config["batch_size"], **split)
        return session

    def delete_run(self, run):
        """Delete a run (its id or RunRecord): its folder and its record."""
        run_id = run.run_id if isinstance(run, RunRecord) else run
        record = next((r for r in self.runs if r.run_id == run_id), None)
        if record is None:
            raise StateError(f"There is no run {run_id!r} in this session.")
        if record.status == "running":
            raise StateError(f"Run {run_id} is still training: stop it before deleting it.")
        self._runs.delete(run_id)
        self.runs = [r for r in self.runs if r is not record]
        return self

    def export_script(self, path, run=None, *, data=None, epochs=None):
        """Write a standalone Python script (plain Keras, KerasHub, transformers) that rebuilds
        a run's model, head, freeze plan and optimizer and trains it; see `runs.export`.

        run: a run id or RunRecord; None exports the session as it is now, for `epochs` (by
        default the latest run's). data: the data path written into the script (it also takes
        --data).
        """
        if run is None:
            self._require_model()
            if self.train_data is None:
                raise StateError("There is no training data: call set_data(...) first, or export a run.")
            latest = self.runs[-1].config if self.runs else {}
            config, run_id = self._config(epochs or latest.get("epochs", 1), self.batch_size, latest.get("seed")), None
        else:
            run_id = run.run_id if isinstance(run, RunRecord) else run
            record = next((r for r in self.runs if r.run_id == run_id), None)
            stored = self._runs.open(run) if record is None else None
            config, run_id = (record.config, run_id) if stored is None else (stored.config, stored.run_id)
        return export.write_script(path, config, data=data, run_id=run_id)

    def set_strategy(self, strategy):
        """Train under a `tf.distribute.Strategy` (None: the default device). The model, head
        and optimizer are built under its scope (a keras.Model given to load_model is copied
        into it), so set it before `load_model`; `batch_size` is then the global batch, split
        evenly across the replicas."""
        import tensorflow as tf

        self._check_idle()
        if strategy is not None and not isinstance(strategy, tf.distribute.Strategy):
            raise ConfigError(f"Expected a tf.distribute.Strategy (MirroredStrategy, ...), got {type(strategy).__name__}.")
        if self.backbone is not None and strategy is not self.strategy:
            raise StateError("The model was built outside this strategy's scope: call set_strategy() before "
                             "load_model(...), or pass Session(strategy=...), then load the model again.")
        self.strategy = strategy
        return self

    def _scope(self):
        return distribute.scope(self.strategy)

    def _check_restored_data(self):
        """Warn when the data differs from the data of the run load_run restored."""
        if self._restored is None or self.train_data is None:
            return
        now = describe.data_record(self.train_data, self.validation_data, self._data_split)
        differences = describe.data_differences(self._restored.config, now)
        if differences:
            warnings.warn(f"The data differs from the data run {self._restored.origin['run_id']} trained on: "
                          f"{differences}. Training goes on from its weights, on this data.",
                          TuneWidgetsWarning, stacklevel=3)

    # ---- evaluation and prediction -----------------------------------------------------------

    def evaluate(self, data=None, labels=None, *, k=5, name=None):
        """Evaluate on the validation data, or on `data` (anything set_data takes): an
        EvaluationReport, or a RegressionReport for regression data."""
        model = self._require_model()
        if data is None:
            if self.validation_data is None:
                raise StateError("There is no validation data: call set_data(...) or pass data.")
            if self.head_mismatch:
                raise StateError(self.head_mismatch)
            held, name = self.validation_data, name or "validation"
            cached = self._feature_cache.cached(model, self.plan, self._encoded)
            model, x = (cached[0], cached[2]) if cached else (model, self._encoded["validation"])
        else:
            held = data_module.labelled(data, labels, class_names=self.class_names, task=self.task or "auto")
            x, name = data_module.encode(held, self.backbone), name or "test"
        if held.task == "regression":
            predicted = self._probabilities(model, x)[:, 0]
            result = regression_report(predicted, held.labels, held.examples, k=k, name=name)
        else:
            probabilities = self._probabilities(model, x)
            result = report(probabilities, held.labels, held.class_names, held.examples, k=k, name=name)
        self.evaluation = result
        return result

    def predict(self, examples):
        """Class probabilities for raw examples (texts, images or arrays); for regression, one
        predicted value per example."""
        model = self._require_model()
        if isinstance(examples, str):
            examples = [examples]
        examples, _ = screen_rows(examples)
        raw, kind = data_module.examples(examples)
        raw = data_module.LabelledData(raw, np.zeros(len(raw), "int32"), ("",), kind)
        outputs = self._probabilities(model, data_module.encode(raw, self.backbone))
        return outputs[:, 0] if self.task == "regression" else outputs

    def _probabilities(self, model, x):
        """Class probabilities, computed length-bucketed for text (see bucketing.infer)."""
        inputs = bucketing.as_inputs(x, input_names(model)) if not isinstance(x, list) else x
        output = bucketing.infer(model, inputs, batch_size=self.batch_size * 2)[0]
        if self._outputs_logits:
            output = keras.ops.convert_to_numpy(keras.ops.softmax(output, axis=-1))
        return np.asarray(output)

    @property
    def _outputs_logits(self):
        return not self._keep_head and self.head.activation == "linear"

    @property
    def class_names(self):
        return self.train_data.class_names if self.train_data is not None else None

    @property
    def task(self):
        """"classification" or "regression", from the data (None before any data)."""
        return self.train_data.task if self.train_data is not None else None

    # ---- reset -------------------------------------------------------------------------------

    def reset(self):
        """Undo training: put back the pretrained weights (kept once, at load) and the weights the
        head started with, bit for bit, so the model is as it was before its first fit.

        Kept: the data and its split, the freeze plan, the optimizer spec, the head spec, the
        LoRA adapters (back at their values as added) and the runs (the history of what was tried). Cleared: the evaluation, which described weights
        that are gone. To go back to a user model's own head after set_head, load it again.
        """
        self._check_idle()
        self._require_backbone()
        self._start.restore(self.backbone, self.model)  # the feature cache sees weight changes itself
        self.evaluation = None
        return self

    # ---- saving ------------------------------------------------------------------------------

    def save(self, path):
        """Save the model as a .keras file, with a `.tune.json` beside it (class names, tokenizer,
        preprocessing): `load_model(path)` feeds it exactly as now."""
        self._require_model()
        return saving.save(self, path)

    # ---- helpers -----------------------------------------------------------------------------

    def _check_idle(self):
        if self.training:
            raise StateError("A fit is running: stop it (session.stop()) or wait for it before changing the session.")

    def _require_backbone(self):
        if self.backbone is None:
            raise StateError("There is no model yet: call load_model(...) first.")
        return self.backbone

    def _require_model(self):
        self._require_backbone()
        if self.model is None:
            raise StateError("The head needs a class count: call set_data(...) or set_head(num_classes=...).")
        return self.model

    def __repr__(self):
        parts = [f"model={self.backbone.source!r}" if self.backbone else "no model"]
        if self.layers:
            counts = self.parameter_counts
            parts.append(f"{len(self.layers)} layers, {len(self.plan.frozen)} frozen, "
                         f"{counts['trainable']:,}/{counts['total']:,} params trainable")
            if self.lora:
                parts.append(f"{len(self.lora.adapters)} LoRA adapters")
        if self.train_data is not None:
            what = "regression" if self.task == "regression" else f"{len(self.class_names)} classes"
            parts.append(f"data={len(self.train_data)}+{len(self.validation_data)} {self.train_data.kind} ({what})")
        parts.append(f"optimizer={self.optimizer.optimizer}@{self.optimizer.learning_rate:g}")
        parts.append(f"{len(self.runs)} runs")
        return f"Session({'; '.join(parts)})"


def _outputs_for(data):
    return 1 if data.task == "regression" else len(data.class_names)


def _default_store():
    """tune_runs/ beside the notebook; where that cannot be written (a read-only folder), runs
    stay in memory with a warning rather than the session failing to start."""
    try:
        return RunStore(default_runs_dir())
    except RunError as error:
        warnings.warn(f"{error} Runs are kept in memory only.", TuneWidgetsWarning, stacklevel=3)
        return RunStore(None)


def _head_mismatch(model, data):
    width, wanted = model.output.shape[-1], _outputs_for(data)
    if width is None or width == wanted:
        return ""
    if data.task == "regression":
        return (f"The model has {width} outputs but the data holds regression targets (one output): give it "
                f"a regression head with session.set_head().")
    return (f"The model predicts {width} classes but the data has {wanted}: give it a new head with "
            f"session.set_head(), which takes the class count from the data.")


__all__ = ["Session", "TuneWidgetsError"]
