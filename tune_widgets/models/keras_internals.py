"""Every private Keras access of the package, each behind a named function.

The package needs what Keras' public API does not give: to walk a functional graph node by node
and run it with other call arguments per layer, to read a layer's own variable lists whatever
their flags and the kernel LoRA leaves unmerged, to reach an optimizer's per-variable bookkeeping.
Private attributes move between Keras releases, so they are all here: on a Keras upgrade
this is the one module to read, and tests/core/test_keras_internals.py names the function that
broke. Written for keras>=3.15,<3.16 (the pin in pyproject.toml).

Methods our classes override, which Keras itself calls, stay in those classes; `OVERRIDDEN`
lists them so the tests check that Keras still has each one, with the same parameters.
"""

import contextlib

import keras
from keras.src.backend import set_keras_mask
from keras.src.models import functional

# (Keras class, private method, its parameters after self) that our classes override.
OVERRIDDEN = (
    (keras.Model, "_maybe_symbolic_build", ("iterator", "data_batch")),  # models/head.py: FineTuneModel
    (keras.optimizers.Optimizer, "_apply_weight_decay", ("variables",)),  # training/layer_rates.py: LayerRates
)


# The functional graph.

def producing_layer(tensor):
    """The layer whose output `tensor` is (for a model input, its InputLayer)."""
    return tensor._keras_history.operation


@contextlib.contextmanager
def histories_kept(tensors):
    """Put back each tensor's link to the layer that made it when the block ends: building a
    model from intermediate tensors re-points an `Input` used as is at a cloned node."""
    histories = [(tensor, tensor._keras_history) for tensor in tensors]
    try:
        yield
    finally:
        for tensor, history in histories:
            tensor._keras_history = history


def graph_nodes(model):
    """The nodes of `model`'s own graph; a layer shared with another model has nodes there too."""
    return [node for nodes in model._nodes_by_depth.values() for node in nodes]


def inbound_nodes(layer):
    """A node for every call of `layer`, in whichever graph it was made."""
    return layer._inbound_nodes


def is_functional(model):
    """Whether `model` is a graph of layers (`keras.Model(inputs, outputs)`), not a subclass's call."""
    return isinstance(model, functional.Functional)


def sequential_graph(model):
    """The functional graph a built Sequential runs on, or None before it is built."""
    return getattr(model, "_functional", None)


def graph_inputs(model, inputs):
    """`inputs` (a tensor, list or dict) as the flat list `run_functional_graph` takes."""
    return model._standardize_inputs(inputs)


def set_mask(tensor, mask):
    """Attach a Keras mask to `tensor`, as a layer that emits a mask does."""
    set_keras_mask(tensor, mask)


def run_functional_graph(model, inputs, operation_fn):
    """Run `model`'s graph on `inputs`, calling `operation_fn(layer)(*args, **kwargs)` in place of
    each layer: the way to change one layer's call arguments, or to rebuild the graph."""
    return model._run_through_graph(inputs, operation_fn=operation_fn)


def operation_caller(operation, **call_context_args):
    """`operation` as Functional calls it: each call-context argument (`training`...) is passed
    only if the layer's `call` takes it."""
    return functional.operation_fn(operation, **call_context_args)


# Layers and their variables.

def sublayers(layer, include_self=True, recursive=True):
    """The layers inside `layer` (itself first with `include_self`), at every depth with
    `recursive`: `layer.layers` exists on models only."""
    return layer._flatten_layers(include_self=include_self, recursive=recursive)


def own_trainable_variables(layer):
    """The variables `layer` itself made as trainable, whatever the flags now (its
    `trainable_weights` are empty while it is frozen)."""
    return layer._trainable_variables


def own_non_trainable_variables(layer):
    """The variables `layer` itself made as non-trainable (BatchNorm's moving statistics)."""
    return layer._non_trainable_variables


def adapted_weight(layer):
    """The variable Keras' LoRA adapts in a Dense, EinsumDense or Embedding layer: with LoRA on,
    `kernel`/`embeddings` give the merged value W + (alpha/rank)·A·B instead."""
    return layer._embeddings if isinstance(layer, keras.layers.Embedding) else layer._kernel


def drop_variable(layer, variable):
    """What `del layer.<name of variable>` does (untrack it, remove the attribute), without the
    `gc.collect()` Keras runs on each delete."""
    layer._untrack_variable(variable)
    super(keras.layers.Layer, layer).__delattr__(variable.name)  # the attribute has the weight's name


# Training.

def scope_strategy(model):
    """The tf.distribute strategy `model` was made under, or None; the public
    `distribute_strategy` gives the default strategy instead of None."""
    return model._distribute_strategy


def symbolic_build(model, data_batch):
    """Build `model`, its compiled loss and metrics and its optimizer from the shapes of one
    batch, as `fit` does under a strategy."""
    model._symbolic_build(data_batch=data_batch)


def variable_index(optimizer, variable):
    """The position of `variable` in the list the built `optimizer` was built with."""
    return optimizer._get_variable_index(variable)


def uses_weight_decay(optimizer, variable):
    """Whether `optimizer` decays `variable` (not excluded by name or by exclude_from_weight_decay)."""
    return optimizer._use_weight_decay(variable)


# Module names.

def public_module(module):
    """keras.src.applications.resnet → keras.applications.resnet: a keras.applications
    constructor's `__module__` is its private home."""
    return module.replace("keras.src.applications.", "keras.applications.") if module else None


def initial_epoch(model):
    """The epoch BackupAndRestore told `model.fit` to resume at (None: from the start)."""
    return getattr(model, "_initial_epoch", None)


def set_initial_epoch(model, epoch):
    """Where `model.fit` starts: BackupAndRestore's resume point, kept by Keras on the model."""
    model._initial_epoch = epoch


# Weights files written after the fact.

def save_weights_as_of(model, values, path):
    """`model.save_weights(path)`, but each variable saved with its value in `values` ({variable
    path: array}, taken earlier) where there is one: the file says what the model held then,
    while the model trains again or changes meanwhile. A LoRA-adapted kernel, which Keras saves
    merged and computes as it saves, is the one value read now."""
    from keras.src.saving import saving_lib

    class AsOf(saving_lib.H5IOStore):  # _save_state takes only Keras' own store types
        def __setitem__(self, key, value):
            if isinstance(value, keras.Variable) and value.path in values:
                value = values[value.path]
            super().__setitem__(key, value)

    store = AsOf(path, mode="w")
    try:
        saving_lib._save_state(model, weights_store=store, assets_store=None, inner_path="", visited_saveables=set())
    finally:
        store.close()
