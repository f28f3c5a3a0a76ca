"""The session: one object that holds a fine-tuning's state and every operation on it.

Panels observe its traits and call its methods; a notebook cell calls the same methods, so a
change made either way reaches every open view. Each operation validates and computes first and
assigns last: after an error the session holds exactly what it held before. The work itself is
delegated: to `models/` (loading, heads, tasks, freezing, LoRA), `data/`, `training/` (a `Fit`
per fit), `tuning/`, `runs/` and `saving/`. Many methods are functions of those modules bound
here (`load_run = resume.load_run`): each takes the session first and uses only its public
members, so a tool reads like a user's cell.
"""

import dataclasses
import threading
import warnings

import keras
import traitlets

from .data import encode_split, training_split
from .errors import StateError, TuneWidgetsError, TuneWidgetsWarning
from .models import lora as lora_module
from .models import explain as explaining
from .models import predict as predicting
from .models.backbone import load_backbone
from .models.freezing import FreezePlan, apply_plan, exact_plan, layer_table, parameter_counts, plan_from_model, \
    plan_to, select
from .models.head import HeadSpec, classifier_for, model_for_data
from .models.reset import StartingPoint
from .models.task import CLASSIFICATION, TASKS, task_named
from .models.task import head_mismatch as head_mismatch_of
from .models.user_models import preprocessing_module
from .runs import export, resume, store
from .runs.store import DEFAULT
from .saving import deploy, model_files
from .training import disk_cache, distribute, jobs, optimizers, signals
from .training.cache import FeatureCache
from .training.fit import Fit, check_ready, compile_model
from .training.optimizers import OptimizerSpec
from .tuning import lr_find, suggest, sweep, unfreezing
from .tuning import rates as discriminative
from .validation import WholeNumber, whole_number

ALL = slice(None)


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
    write TensorBoard event files into each run's folder. feature_cache_dir: where frozen-prefix
    features are kept across kernels (see `training/disk_cache.py`; None: in memory only).
    """

    model = traitlets.Any(None, allow_none=True, help="The FineTuneModel (None until a model and a class count are known).")
    layers = traitlets.Tuple(help="A LayerInfo per layer of the model, with its frozen state.")
    plan = traitlets.Instance(FreezePlan, args=())
    lora = traitlets.Instance(lora_module.LoraPlan, args=(), help="The LoRA adapters the model holds (see models/lora.py).")
    optimizer = traitlets.Instance(OptimizerSpec, args=())
    head = traitlets.Instance(HeadSpec, args=())
    train_data = traitlets.Any(None, allow_none=True)
    validation_data = traitlets.Any(None, allow_none=True)
    batch_size = WholeNumber(32, help="The batch size of the next fit (and of evaluation, at twice it).")
    data_settings = traitlets.Dict(help="How the data was split and read: validation, seed, text_column, label_column.")
    training = traitlets.Bool(False, help="True while a fit runs.")
    progress = traitlets.Dict(help="The running fit's throttled progress (see training.progress.Progress).")
    runs = traitlets.List(help="RunRecords, oldest first: those in runs_dir, then this session's.")
    evaluation = traitlets.Any(None, allow_none=True, help="The latest EvaluationReport.")
    lr_finder = traitlets.Any(None, allow_none=True, help="The latest LRFinderResult (see find_lr).")
    freeze_sweep = traitlets.Any(None, allow_none=True, help="The latest SweepResult, growing point by point.")
    freeze_suggestion = traitlets.Any(None, allow_none=True, help="The latest FreezeSuggestion, until dismissed (None).")

    def __init__(self, *, runs_dir=DEFAULT, strategy=None, tensorboard=False,
                 feature_cache_dir=disk_cache.FROM_ENVIRONMENT, **kwargs):
        run_store = store.store_for(runs_dir)
        super().__init__(**kwargs)
        self.backbone = None
        self.strategy = None
        self.tensorboard = bool(tensorboard)
        self._keep_head = False  # a user model keeps its own head until set_head()
        self.starting_point = None  # what reset() returns to (a models.reset.StartingPoint)
        self._stop_requested = threading.Event()  # the latest fit's
        self._encoded = {}
        self._restored = None  # the run load_run restored, until the model changes
        self._feature_cache = FeatureCache(folder=feature_cache_dir)  # the frozen prefix's outputs, keyed by plan, model and data
        self._lock = threading.RLock()
        self._runs = run_store
        self.runs = run_store.records()
        if strategy is not None:
            self.set_strategy(strategy)

    # ---- model -------------------------------------------------------------------------------

    def load_model(self, source, *, input_shape=None, weights="imagenet", sequence_length=64, head=None,
                   preprocessing="auto", allow_pickle=False, progress=None):
        """Load a model from a keras.applications name, a checkpoint folder, a .keras/.h5 file or a
        keras.Model (see `models.backbone.load_backbone`), and put the head on it once classes are known.

        A user model or file keeps its own head unless `head` (a HeadSpec) asks for a new one.
        preprocessing: how images are scaled for it: "auto" (a keras.applications network's own,
        also when found inside a user model; a saved model's recorded one), a keras.applications
        module name such as "mobilenet_v2", or None for raw 0–255 pixels.
        `allow_pickle=True` opts in to a checkpoint whose weights are only a pickle
        (pytorch_model.bin): it can run code, so only for files you trust (it warns).
        progress(done_bytes, total_bytes) follows a hub download (the model panel's bar).
        """
        self.check_idle()
        declared = preprocessing_module(preprocessing) if preprocessing != "auto" else None
        if isinstance(source, keras.Model):
            source = distribute.in_scope(source, self.strategy)
        with self._scope():
            backbone = load_backbone(source, input_shape=input_shape, weights=weights,
                                     sequence_length=sequence_length, allow_pickle=allow_pickle, progress=progress)
            model_files.restore(backbone, source, sequence_length, declared if preprocessing != "auto" else "auto")
            keep_head = backbone.kind == "model" and head is None
            head = head or self.head
            model = classifier_for(backbone, head, keep_head, self.train_data)
        plan = plan_from_model(model if model is not None else backbone.model)
        with self.hold_trait_notifications():
            self.adopt(backbone, model, plan, head=head, keep_head=keep_head)
        return self

    def adopt(self, backbone, model, plan, *, head, keep_head, restored=None):
        """Hold a loaded backbone and its model (what load_model and `runs.resume.load_run` end
        with): reset() returns to the weights they hold now. `restored`: the stored run they are."""
        encoded = encode_split(backbone, self.train_data, self.validation_data)
        self.backbone, self.starting_point, self._encoded = backbone, StartingPoint.of(backbone), encoded
        self._keep_head, self.head = keep_head, head
        self._set_model(model, plan)
        self._restored = restored

    def set_head(self, num_classes=None, dropout=None, activation=None, pooling=None):
        """Replace the head: class count (None: from the data), dropout, activation, pooling."""
        self.check_idle()
        self._require_backbone()
        current = self.head
        head = HeadSpec(
            num_classes=num_classes,
            dropout=current.dropout if dropout is None else dropout,
            activation=activation or current.activation,
            pooling=pooling or current.pooling,
        )
        with self._scope():
            model = classifier_for(self.backbone, head, False, self.train_data, force=True)
        with self.hold_trait_notifications():
            self.head, self._keep_head = head, False
            self._set_model(model, self._plan_for(model))
        return self

    def _set_model(self, model, plan):
        if model is not None:
            self.starting_point = self.starting_point.with_head(model, self.backbone)
        self._restored = None  # a new model no longer holds a stored run's weights
        self.model = model
        graph = self.graph
        apply_plan(graph, plan)
        self.plan = plan
        self.lora = lora_module.plan_of(graph)  # a new head shares the backbone's layers, adapters included
        self.layers = layer_table(graph, plan)

    def _plan_for(self, model):
        """The current plan carried over to a rebuilt model: same names, new head trainable."""
        names = {layer.name for layer in model.layers}
        return FreezePlan(self.plan.frozen & names)

    @property
    def keeps_own_head(self):
        """Whether the model is a user model with its own head (until `set_head()`)."""
        return self._keep_head

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
        return plan_to(self.layers, selector)

    def set_frozen(self, names):
        """Make exactly `names` frozen (what the layer map sends)."""
        return self._change_plan(exact_plan(self.layers, names))

    def _names(self, selector):
        if not self.layers:
            self._require_backbone()
        return [self.layers[i].name for i in select(self.layers, selector)]

    def _change_plan(self, plan):
        self.check_idle()
        if plan == self.plan:
            return self
        apply_plan(self.graph, plan)
        with self.hold_trait_notifications():
            self.plan = plan
            self.layers = tuple(dataclasses.replace(row, frozen=row.name in plan.frozen) for row in self.layers)
        return self

    @property
    def parameter_counts(self):
        """{"total", "trainable", "frozen", "adapters"}: weights that train now, those that
        don't, and the LoRA adapters among the trainable ones."""
        return parameter_counts(self.layers)

    # ---- LoRA (models/lora.py) -----------------------------------------------------------------

    add_lora = lora_module.add_lora
    remove_lora = lora_module.remove_lora
    lora_targets = property(lora_module.lora_targets)

    @property
    def graph(self):
        """The Keras model the freeze plan and LoRA apply to: the model, or before a head the loaded one."""
        self._require_backbone()
        return self.model if self.model is not None else self.backbone.model

    # ---- optimizer ---------------------------------------------------------------------------

    set_optimizer = optimizers.set_optimizer
    set_rates = discriminative.set_rates

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
        self.check_idle()
        if batch_size is not None:
            batch_size = whole_number("batch_size", batch_size)
        head_classes = None if self._keep_head else self.head.num_classes
        train, held = training_split(data, labels, validation=validation, validation_data=validation_data, seed=seed,
                                     text_column=text_column, label_column=label_column, class_names=class_names,
                                     dropna=dropna, task=task,
                                     num_classes=TASKS.get(task, CLASSIFICATION).classes_given(head_classes))
        encoded = encode_split(self.backbone, train, held)
        with self._scope():
            model = model_for_data(self.backbone, self.head, self._keep_head, self.model, train)
        mismatch = head_mismatch_of(model, train)
        if mismatch:
            warnings.warn(mismatch, TuneWidgetsWarning, stacklevel=2)
        with self.hold_trait_notifications():
            self.train_data, self.validation_data, self._encoded = train, held, encoded
            if batch_size is not None:
                self.batch_size = batch_size
            self.data_settings = {"validation": None if validation_data is not None else validation, "seed": seed,
                                  "text_column": text_column, "label_column": label_column}
            if model is not self.model:
                self._set_model(model, self._plan_for(model) if self.model is not None else self.plan)
        resume.warn_if_data_differs(self)
        return self

    def set_batch_size(self, batch_size):
        """The batch size of the next fit (and of evaluation, at twice it); a whole number ≥ 1."""
        self.batch_size = batch_size
        return self

    @property
    def data_split(self):
        """How set_data held out the validation data ({"validation", "seed"}), or None when it
        was given."""
        settings = self.data_settings
        return {key: settings[key] for key in ("validation", "seed")} if settings.get("validation") is not None else None

    @property
    def encoded(self):
        """{"train", "validation"}: the data as the whole model's inputs ({} before a model and data)."""
        return self._encoded

    @property
    def run_store(self):
        """The RunStore every fit is written to (see `runs/store.py`)."""
        return self._runs

    @property
    def feature_cache(self):
        """The frozen prefix's outputs on this data (see `training/cache.py`)."""
        return self._feature_cache

    @property
    def head_mismatch(self):
        """Why the model's outputs do not fit the data's classes, or "" when they do.

        Data is kept even when it does not fit a user model's own head; fit and evaluate are
        refused with this message until `set_head()` gives the model a head for the data.
        """
        return head_mismatch_of(self.model, self.train_data)

    # ---- training ----------------------------------------------------------------------------

    compile = compile_model
    drift = signals.drift

    def fit(self, epochs=1, batch_size=None, *, callbacks=(), seed=None, background=False, cache="auto", tags=None,
            jit_compile=False, mixed_precision=False):
        """Train for `epochs`; returns the RunRecord (a Future of it with background=True).

        In the background the kernel stays free: `stop()` ends the fit within one batch.
        cache: "auto" (or True) trains on cached outputs of the frozen bottom of the model when
        that is exact (see `training/cache.py`); the run's config says whether it did, and why not.
        tags: plain data added to the run's config, saying what the run was for: the tuning
        tools set "purpose" ("train" unless said otherwise; "lr_find" for the LR finder, whose
        weights are put back), "phase" (fine_tune) and "sweep".
        jit_compile (XLA) and mixed_precision (bfloat16 compute) are off by default: on our CPU
        neither made fine-tuning faster (see training/acceleration.py and the README's benchmark table).
        """
        with self._lock:
            fit = Fit(self, self._runs, epochs, batch_size, callbacks=callbacks, seed=seed, cache=cache, tags=tags,
                      jit_compile=jit_compile, mixed_precision=mixed_precision)
            fit.begin()  # the run's folder, before anything changes (raises RunError)
            self._restored = None  # the next fit continues from this one, as any fit does
            self._stop_requested = fit.stop_requested
        return jobs.run(fit.run, background, "fit")

    check_ready = check_ready

    def stop(self):
        """Ask the running fit to stop after its current batch; the weights are kept."""
        self._stop_requested.set()

    @property
    def stop_requested(self):
        """Whether stop() was called since the latest fit began: tools that run several fits
        (fine_tune, sweep_freeze) check it between them."""
        return self._stop_requested.is_set()

    # ---- tuning: each tool is a function of a session, in its own module of tuning/ -----------

    find_lr = lr_find.find_lr
    fine_tune = unfreezing.fine_tune
    sweep_freeze = sweep.sweep_freeze
    suggest_freeze = suggest.suggest_freeze

    # ---- runs --------------------------------------------------------------------------------

    @property
    def runs_dir(self):
        """The folder runs are written to, or None when they are kept in memory only."""
        return self._runs.root

    @property
    def resumed_from(self):
        """{"run_id", ...} of the stored run `load_run` restored, until the model changes or a fit
        continues from it; None otherwise."""
        return self._restored.origin if self._restored is not None else None

    @property
    def restored_run(self):
        """The `runs.resume.Restored` run that `load_run` put in the session, until the model
        changes or a fit continues from it; None otherwise."""
        return self._restored

    load_run = resume.load_run
    resume = classmethod(resume.resume)
    delete_run = store.delete_run
    export_script = export.export_script

    set_strategy = distribute.set_strategy

    def _scope(self):
        return distribute.scope(self.strategy)

    # ---- evaluation and prediction (models/predict.py) ---------------------------------------

    evaluate = predicting.evaluate
    predict = predicting.predict
    explain = explaining.explain

    @property
    def class_names(self):
        return self.train_data.class_names if self.train_data is not None else None

    @property
    def task(self):
        """"classification" or "regression", from the data (None before any data)."""
        return self.train_data.task if self.train_data is not None else None

    # ---- reset and saving --------------------------------------------------------------------

    def reset(self):
        """Undo training: put back the pretrained weights (kept once, at load) and the weights the
        head started with, bit for bit, so the model is as it was before its first fit.

        Kept: the data and its split, the freeze plan, the optimizer spec, the head spec, the
        LoRA adapters (back at their values as added) and the runs (the history of what was tried).
        Cleared: the evaluation, which described weights that are gone. To go back to a user
        model's own head after set_head, load it again.
        """
        self.check_idle()
        self._require_backbone()
        self.starting_point.restore(self.backbone, self.model)  # the feature cache sees weight changes itself
        self.evaluation = None
        return self

    def save(self, path):
        """Save the model as a .keras file, with a `.tune.json` beside it (class names, tokenizer,
        preprocessing): `load_model(path)` feeds it exactly as now."""
        self.require_model()
        return model_files.save(self, path)

    export_model = deploy.export_model

    # ---- helpers -----------------------------------------------------------------------------

    def check_idle(self):
        """Raise the StateError that stops a change while a fit runs."""
        if self.training:
            raise StateError("A fit is running: stop it (session.stop()) or wait for it before changing the session.")

    def _require_backbone(self):
        if self.backbone is None:
            raise StateError("There is no model yet: call load_model(...) first.")
        return self.backbone

    def require_model(self):
        """The model, or the StateError that says what it still needs."""
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
            what = task_named(self.task).describe(self.train_data)
            parts.append(f"data={len(self.train_data)}+{len(self.validation_data)} {self.train_data.kind} ({what})")
        parts.append(f"optimizer={self.optimizer.optimizer}@{self.optimizer.learning_rate:g}")
        parts.append(f"{len(self.runs)} runs")
        return f"Session({'; '.join(parts)})"



__all__ = ["Session", "TuneWidgetsError"]
