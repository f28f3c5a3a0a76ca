"""A user's own Keras model, made tunable layer by layer, and fed as it expects.

The usual transfer-learning model wraps a whole network as one layer:
`x = MobileNetV2(include_top=False)(inputs); x = GlobalAveragePooling2D()(x); ...`. Its layer
list is then five rows, and nothing inside the network can be frozen, cached or shown.
`open_nested` rebuilds such a model as one flat graph holding the same weights, so the layer map
shows the network's own blocks. The layers are copies: a layer used by two graphs answers
`layer.output` with its first graph's tensor, so sharing them with the nested original would
put a new head on the wrong graph.

Such a network also expects its family's input scaling (MobileNetV2 takes pixels in [-1, 1]),
which lives in `keras.applications.<family>.preprocess_input`, outside the model. A
`keras.applications` network fed straight from the model's input is recognised by its name, and
its family's preprocessing is used; `preprocessing_module` resolves a declared one.
"""

import importlib
import re
import warnings

import keras

from ..errors import ConfigError, TuneWidgetsWarning
from . import keras_internals

# keras.applications networks whose preprocess_input changes the pixels, by the default name
# each constructor gives its model (e.g. MobileNetV2(alpha=1.0, input_shape=(160, 160, 3)) is
# "mobilenetv2_1.00_160"). Networks that rescale inside the model (EfficientNet, ConvNeXt,
# MobileNetV3, RegNet) need nothing and are left out.
FAMILIES = (
    (r"mobilenetv2_[\d.]+_\d+", "mobilenet_v2"),
    (r"mobilenet_[\d.]+_\d+", "mobilenet"),
    (r"resnet(50|101|152)", "resnet"),
    (r"resnet(50|101|152)v2", "resnet_v2"),
    (r"vgg16", "vgg16"),
    (r"vgg19", "vgg19"),
    (r"inception_v3", "inception_v3"),
    (r"inception_resnet_v2", "inception_resnet_v2"),
    (r"xception", "xception"),
    (r"densenet(121|169|201)", "densenet"),
    (r"nasnet_(mobile|large)", "nasnet"),
)
PREFIX = "keras.applications."


def open_nested(model):
    """(flat model, recognised preprocessing module or None).

    Nested functional and Sequential models are inlined, every layer copied with its weights,
    in one pass over the graph. If that fails (two layers of one name, a custom layer without
    `get_config`), the model is kept as it is, with a warning.
    """
    if not any(keras_internals.is_functional(layer) or isinstance(layer, keras.Sequential) for layer in model.layers):
        return model, None
    inputs = [keras.Input(batch_shape=t.shape, dtype=t.dtype, name=keras_internals.producing_layer(t).name)
              for t in model.inputs]
    fed_by_input = {id(tensor) for tensor in inputs}
    found = []

    def inline(operation):
        if isinstance(operation, keras.Sequential):
            operation = keras_internals.sequential_graph(operation) or operation
        if keras_internals.is_functional(operation):
            def run_inside(*args, **kwargs):  # call arguments such as training=False: Keras 3 overrides them anyway
                if all(id(t) in fed_by_input for t in keras.tree.flatten(args)):
                    found.append(family(operation.name))
                return keras_internals.run_functional_graph(operation, args[0] if len(args) == 1 else args, inline)
            return run_inside

        def copy(*args, **kwargs):
            layer = operation.__class__.from_config(operation.get_config())
            outputs = layer(*args, **kwargs)
            layer.set_weights(operation.get_weights())
            return outputs
        return copy

    try:
        outputs = keras_internals.run_functional_graph(model, inputs, inline)
        flat = keras.Model(_single(inputs), outputs, name=model.name)
    except Exception as error:  # two layers of one name, a layer that cannot be copied
        warnings.warn(f"{model.name}'s nested models cannot be opened into one layer list "
                      f"({type(error).__name__}: {error}); each stays one row of the layer map.",
                      TuneWidgetsWarning, stacklevel=4)
        return model, None
    known = [module for module in found if module]
    return flat, (PREFIX + known[0]) if known else None


def family(name):
    """The keras.applications module name for a network's default model name, or None."""
    return next((module for pattern, module in FAMILIES if re.fullmatch(pattern, name)), None)


def preprocessing_module(choice):
    """'keras.applications.<module>' for a declared preprocessing: a module name with or without
    the prefix ("mobilenet_v2"), or None for raw 0–255 pixels. Raises ConfigError otherwise."""
    if choice is None:
        return None
    if not isinstance(choice, str):
        raise ConfigError(f"preprocessing must be a keras.applications module name or None, not {type(choice).__name__}.")
    name = choice if choice.startswith(PREFIX) else PREFIX + choice
    try:
        module = importlib.import_module(name)
    except ImportError:
        module = None
    if module is None or not hasattr(module, "preprocess_input"):
        choices = ", ".join(sorted({module for _, module in FAMILIES}))
        raise ConfigError(f"Unknown preprocessing {choice!r}: use one of {choices} (keras.applications modules), "
                          f"or None for raw 0–255 pixels.")
    return name


def _single(tensors):
    return tensors[0] if len(tensors) == 1 else tensors
