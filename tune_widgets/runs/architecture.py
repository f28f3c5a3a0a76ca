"""The architecture of an in-memory keras.Model, kept in the folder of each of its runs.

config.json names a model by its source (a keras.applications name, a folder, a file), and an
in-memory model has none: its run keeps the model itself as FILE, written once, when the run
begins (atomically), which resume loads with safe_mode=True. A model that Keras could not load
back that way (a layer class it does not know, a Lambda layer's code) is not kept; the run's
config says why (its backbone's "architecture"), and resume repeats it.
"""

import keras

from ..models import keras_internals
from ..models.backbone import IN_MEMORY
from ..saving.atomic import atomic_path
from ..saving.model_files import strip_saved_config

FILE = "model.keras"
KERAS_PACKAGES = ("keras", "keras_hub", "keras_cv", "keras_nlp")  # where safe_mode finds a class unregistered


def kept(backbone):
    """What a run's config records of its model's architecture: None for a source config.json
    names, FILE when the run keeps it, or why it cannot."""
    if backbone.source != IN_MEMORY:
        return None
    return _unloadable(backbone.model) or FILE


def _unloadable(model):
    """Why `model` saved as a .keras file would not load back with safe_mode=True ("" if it would)."""
    for layer in keras_internals.sublayers(model, include_self=False):
        kind = type(layer)
        if isinstance(layer, keras.layers.Lambda):
            return f"its layer {layer.name!r} is a Lambda, whose Python code safe_mode=True refuses to load"
        if kind.__module__.split(".")[0] not in KERAS_PACKAGES \
                and keras.saving.get_registered_object(keras.saving.get_registered_name(kind)) is not kind:
            return (f"its layer {layer.name!r} is a {kind.__name__}, a class Keras cannot rebuild unless it is "
                    f"registered with @keras.saving.register_keras_serializable()")
    try:
        keras.saving.serialize_keras_object(model)
    except Exception as error:  # a layer's get_config, whatever it raises
        return f"Keras cannot save it ({type(error).__name__}: {error})"
    return ""


def write(folder, model):
    """Save `model` as the run folder's FILE, atomically. LoRA settings are left out of it: its
    adapted kernels are saved merged, and resume adds the run's adapters again."""
    with atomic_path(folder / FILE) as temporary:
        model.save(temporary)
        if any(getattr(layer, "lora_enabled", False) for layer in keras_internals.sublayers(model)):
            strip_saved_config(temporary)
