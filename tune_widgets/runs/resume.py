"""Rebuilding a stored run: its model, head, freeze plan and optimizer spec from config.json,
then its weights. Everything is built and checked before the session is touched."""

import dataclasses
import warnings
from pathlib import Path

import keras

from ..saving import model_files as saving
from ..errors import ConfigError, ModelSourceError, RunError, TuneWidgetsWarning
from ..models.freezing import FreezePlan, layer_table
from ..models.backbone import IN_MEMORY, load_backbone
from ..models.head import HeadSpec, build_classifier
from ..models.task import task_named
from ..training import distribute
from ..training.optimizers import OptimizerSpec
from ..models.snapshot import WeightSnapshot
from ..models import keras_internals, lora
from . import architecture
from .config import restored_data_warning, signature
from .store import DEFAULT, weights_marks


@dataclasses.dataclass(frozen=True, eq=False)
class Restored:
    """What a session takes from a stored run (see `restore`)."""

    backbone: object
    head: HeadSpec
    keep_head: bool
    model: object
    plan: FreezePlan
    optimizer: OptimizerSpec
    origin: dict  # {"run_id", "weights", "step", "epochs_before"}: the next fit's config's resumed_from
    config: dict


def restore(stored, which="last", *, backbone=None, model=None, head=None, keep_head=None):
    """A `Restored` for `stored` (a StoredRun), with its `which` weights loaded.

    The session's current backbone is reused when it is the run's source, and its current
    model too when it has the run's head and shape (a quick restore from the runs panel);
    otherwise the backbone is loaded again from the source named in config.json (an in-memory
    model's from the architecture its run kept). A model whose weights are loaded in place is
    rolled back if loading fails.
    """
    config = stored.config
    path = stored.weights(which)
    try:
        spec = config["backbone"]
        wanted_head, keep = HeadSpec(**config["head"]), bool(spec["keep_head"])
        optimizer = OptimizerSpec(**config["optimizer"])
        frozen, source, adapters = list(config["frozen"]), config["model"], list(config.get("lora") or ())
        task = task_named(config.get("task"))
        outputs = task.outputs(config["class_names"])
    except (KeyError, TypeError, ConfigError) as error:
        raise RunError(f"{stored.folder / 'config.json'} lacks or garbles {error}: this run cannot be restored.") from None
    same_source = backbone is not None and backbone.source == source
    if same_source and model is not None and head == wanted_head and keep_head == keep \
            and signature(model) == config["signature"]:
        target = model
    else:
        if not same_source:
            backbone = _load_backbone(stored, source, spec)
        target = (build_classifier(backbone, None, None) if keep
                  else build_classifier(backbone, wanted_head, outputs, task=task))
        for adapter in adapters:  # LoRA adapters the run trained, before its weights go in
            lora.add(target, layer_table(target), adapter["path"], adapter["rank"], adapter["alpha"])
        if signature(target) != config["signature"]:
            raise RunError(
                f"Run {stored.run_id} was made for a different model: its weights do not fit "
                f"{backbone.source!r} with this head ({len(target.layers)} layers). Load the run's own "
                f"model first, or load_run a run of this model."
            )
    unknown = sorted(set(frozen) - {layer.name for layer in target.layers})
    if unknown:
        raise RunError(f"Run {stored.run_id} froze layers this model lacks ({unknown[:5]}): it was made for "
                       f"a different model.")
    snapshot = WeightSnapshot.of(target) if target is model else None
    try:
        target.load_weights(path)
    except Exception as error:  # h5py and Keras raise several kinds for a damaged file
        if snapshot is not None:
            snapshot.restore(target)
        raise RunError(f"{path} could not be loaded ({type(error).__name__}: {error}); the session is unchanged.") from None
    _fresh_adapters(target)
    marks, before = weights_marks(path), (config.get("resumed_from") or {}).get("epochs_before", 0)
    origin = {"run_id": stored.run_id, "weights": which, "step": marks.get("step"),
              "epochs_before": before + marks.get("epochs", 0)}  # where the next run's epochs count on from
    return Restored(backbone, wanted_head, keep, target, FreezePlan(frozen), optimizer, origin, config)


def _load_backbone(stored, source, spec):
    path = _kept_architecture(stored, spec) if source == IN_MEMORY else source
    try:
        # Pretrained weights are not needed: the run's own weights replace every one of them.
        backbone = load_backbone(path, input_shape=spec.get("input_shape"), weights=None,
                                 sequence_length=spec.get("sequence_length") or 64)
    except ModelSourceError as error:
        raise RunError(f"Run {stored.run_id}'s model {source!r} cannot be loaded again: {error}") from None
    saving.restore(backbone, path, spec.get("sequence_length") or 64)
    if source == IN_MEMORY:
        backbone.source = IN_MEMORY  # so the runs that go on from it keep its architecture too
    backbone.weights = spec.get("weights")  # the recipe's, for the next run's config and export
    backbone.preprocessing = spec.get("preprocessing")  # as the run fed it (load_model may have chosen it)
    return backbone


def _kept_architecture(stored, spec):
    """The .keras file in which the run of an in-memory model kept its architecture; a RunError
    saying why when there is none."""
    path = stored.folder / architecture.FILE
    if path.is_file():
        return path
    why = spec.get("architecture")
    raise RunError(
        f"Run {stored.run_id} was made from an in-memory keras.Model, which config.json cannot rebuild: "
        f"load that model first (session.load_model(model)), then load the run again."
        + (f" Its architecture was not kept: {why}." if why not in (None, architecture.FILE) else "")
    )


def _fresh_adapters(model):
    """Keras saves an adapted kernel with its adapters merged in, and zeroes both adapter
    matrices when it loads one: the model computes what it did, but A·B = 0 with A = 0 would
    never learn again. A gets a fresh start, as enable_lora gives it (B stays 0: no change)."""
    for layer in keras_internals.sublayers(model, include_self=False):
        if getattr(layer, "lora_enabled", False):
            layer.lora_kernel_a.assign(keras.initializers.HeUniform()(layer.lora_kernel_a.shape))


# ---- the session's operations: Session.load_run and Session.resume are these -----------------

def load_run(session, run, weights="last"):
    """Restore a stored run (its id, RunRecord or folder): the model, head, freeze plan and
    optimizer spec from its config.json, then its "last" or "best" weights. The next fit
    continues from them. The data is not stored: when the session's data differs from the
    run's, a warning says how."""
    session.check_idle()
    with distribute.scope(session.strategy):
        restored = restore(session.run_store.open(run), weights, backbone=session.backbone, model=session.model,
                           head=session.head, keep_head=session.keeps_own_head)
    with session.hold_trait_notifications():
        session.adopt(restored.backbone, restored.model, restored.plan, head=restored.head,
                      keep_head=restored.keep_head, restored=restored)  # reset() returns to the run's weights
        session.optimizer = restored.optimizer
    warn_if_data_differs(session)
    return session


def resume(cls, run_dir, *, weights="last", data=None, runs_dir=DEFAULT, **session_options):
    """A new session holding the run in `run_dir` (see `load_run`), its runs_dir the folder
    around it. With `data`, the data is set as the run held out its validation split."""
    run_dir = Path(run_dir).expanduser()
    session = cls(runs_dir=run_dir.parent if runs_dir is DEFAULT else runs_dir, **session_options)
    session.load_run(run_dir, weights)
    if data is not None:
        config = session.restored_run.config
        session.set_data(data, batch_size=config["batch_size"], **(config["data"]["split"] or {}))
    return session


def warn_if_data_differs(session, stacklevel=2):
    """Warn when the session's data differs from the data of the run load_run restored."""
    warning = restored_data_warning(session.restored_run, session.train_data, session.validation_data,
                                    session.data_split)
    if warning:
        warnings.warn(warning, TuneWidgetsWarning, stacklevel=stacklevel + 1)
