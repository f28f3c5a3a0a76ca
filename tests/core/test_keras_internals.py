"""`models/keras_internals.py` against the installed Keras: one test per function, on tiny real
models, asserting what the package relies on. A Keras upgrade that moves a private attribute
fails here with the function's name and the Keras version, not deep inside a fit.

The last tests read the package's source: no private Keras access outside keras_internals, and
every private Keras method our classes override is listed in `OVERRIDDEN`.
"""

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import keras
import numpy as np
import pytest

import tune_widgets
from tune_widgets.models import keras_internals as ki
from tune_widgets.models.head import FineTuneModel

PACKAGE = Path(tune_widgets.__file__).parent
INTERNALS = PACKAGE / "models" / "keras_internals.py"
# Our own attributes that a Keras object also has under the same name: allowed on `self` only.
OURS = {"_lock": "Session's and TrainingPanel's lock", "_inputs": "Fit's method"}


def moved(function, what):
    return (f"keras_internals.{function.__name__} no longer {what} on Keras {keras.__version__}: "
            f"update it in tune_widgets/models/keras_internals.py")


def call(function, *args, **kwargs):
    """`function(*args, **kwargs)`, failing with its name and the Keras version if Keras moved
    what it reads."""
    try:
        return function(*args, **kwargs)
    except Exception as error:
        pytest.fail(moved(function, f"works ({type(error).__name__}: {error})"))


def dense_model():
    inputs = keras.Input((4,), name="values")
    x = keras.layers.Dense(3, name="hidden")(inputs)
    return keras.Model(inputs, keras.layers.Dense(2, name="out")(x), name="dense_model")


def nested_model():
    inner = dense_model()
    inputs = keras.Input((4,), name="outer_values")
    return keras.Model(inputs, keras.layers.Dense(1, name="top")(inner(inputs)), name="outer")


def lora_dense():
    layer = keras.layers.Dense(3, name="adapted")
    layer.build((None, 4))
    layer.enable_lora(2)
    return layer


def test_producing_layer_is_the_layer_that_made_a_tensor():
    model = dense_model()
    assert call(ki.producing_layer, model.inputs[0]) is model.layers[0], \
        moved(ki.producing_layer, "gives a model input's InputLayer")
    assert call(ki.producing_layer, model.outputs[0]) is model.get_layer("out"), \
        moved(ki.producing_layer, "gives an output's layer")


def test_histories_kept_leaves_a_model_whose_input_a_cut_re_points_saveable(tmp_path):
    values, mask = keras.Input((6,), name="values"), keras.Input((6,), name="mask")
    hidden = keras.layers.Dense(6, name="hidden")(values)
    joined = keras.layers.Concatenate(name="join")([hidden, mask])
    model = keras.Model([values, mask], keras.layers.Dense(2, name="out")(joined))
    with call(ki.histories_kept, model.inputs):
        keras.Model([hidden, mask], model.output)  # clones the graph from `hidden`, `mask` taken as is
    try:
        model.save(tmp_path / "whole.keras")  # without the block: "could not find node key"
    except RuntimeError as error:
        pytest.fail(moved(ki.histories_kept, f"puts back the input's history ({error})"))


def test_graph_nodes_and_inbound_nodes_tell_a_models_own_calls_of_a_shared_layer():
    model = dense_model()
    shared = model.get_layer("hidden")
    other_input = keras.Input((4,), name="other")
    keras.Model(other_input, shared(other_input))
    own = {id(node) for node in call(ki.graph_nodes, model)}
    assert len(own) == len(model.layers), moved(ki.graph_nodes, "gives a node per layer of the model")
    nodes = call(ki.inbound_nodes, shared)
    assert len(nodes) == 2, moved(ki.inbound_nodes, "gives a node per call of a layer")
    assert [id(node) in own for node in nodes] == [True, False], moved(ki.graph_nodes, "leaves out other models' calls")
    assert nodes[1].input_tensors[0] is other_input, \
        moved(ki.inbound_nodes, "gives nodes whose input_tensors are the call's inputs")


def test_is_functional_tells_a_graph_of_layers():
    model, inner = nested_model(), dense_model()
    fine_tune = FineTuneModel(inner.inputs, inner.outputs)
    for functional in (model, model.layers[1], fine_tune):
        assert call(ki.is_functional, functional), moved(ki.is_functional, f"recognises {type(functional).__name__}")
    sequential = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    for other in (sequential, keras.layers.Dense(2)):
        assert not call(ki.is_functional, other), moved(ki.is_functional, f"tells {type(other).__name__} apart")


def test_sequential_graph_is_the_graph_a_built_sequential_runs_on():
    sequential = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="only")])
    graph = call(ki.sequential_graph, sequential)
    assert ki.is_functional(graph), moved(ki.sequential_graph, "gives a Functional")
    assert graph.get_layer("only") is sequential.get_layer("only"), moved(ki.sequential_graph, "shares the layers")
    assert call(ki.sequential_graph, keras.Sequential([keras.layers.Dense(2)])) is None, \
        moved(ki.sequential_graph, "is None before the Sequential is built")


def test_graph_inputs_flattens_a_dict_in_model_inputs_order():
    first, second = keras.Input((2,), name="first"), keras.Input((2,), name="second")
    model = keras.Model([first, second], keras.layers.Add()([first, second]))
    a, b = np.zeros((1, 2), "float32"), np.ones((1, 2), "float32")
    flat = call(ki.graph_inputs, model, {"second": b, "first": a})
    assert [np.array(t).tolist() for t in flat] == [a.tolist(), b.tolist()], moved(ki.graph_inputs, "orders a dict")
    assert len(call(ki.graph_inputs, dense_model(), np.zeros((1, 4), "float32"))) == 1, \
        moved(ki.graph_inputs, "gives a one-element list for one tensor")


def test_set_mask_reaches_the_next_layers_mask_argument():
    class MaskSeen(keras.layers.Layer):
        supports_masking = True

        def call(self, x, mask=None):
            return mask

    x, mask = keras.ops.ones((2, 3)), keras.ops.convert_to_tensor([[True, False, True], [False, True, True]])
    call(ki.set_mask, x, mask)
    seen = MaskSeen()(x)
    assert seen is not None and np.array_equal(np.array(seen), np.array(mask)), \
        moved(ki.set_mask, "gives layers the mask")


def test_run_functional_graph_calls_each_layer_through_operation_fn():
    model, called = dense_model(), []

    def operation_fn(layer):
        called.append(layer.name)
        return layer

    x = np.arange(8, dtype="float32").reshape(2, 4)
    outputs = call(ki.run_functional_graph, model, ki.graph_inputs(model, x), operation_fn)
    assert called == ["hidden", "out"], \
        moved(ki.run_functional_graph, "calls operation_fn for each layer, inputs left out")
    assert np.allclose(np.array(keras.tree.flatten(outputs)[0]), np.array(model(x))), \
        moved(ki.run_functional_graph, "computes what the model does")


def test_operation_caller_passes_training_only_to_layers_that_take_it():
    x = np.ones((64, 8), "float32")
    dropout = keras.layers.Dropout(0.5)
    assert np.array_equal(np.array(call(ki.operation_caller, dropout, training=False)(x)), x), \
        moved(ki.operation_caller, "passes training=False")
    assert not np.array_equal(np.array(ki.operation_caller(dropout, training=True)(x)), x), \
        moved(ki.operation_caller, "passes training=True")
    dense = keras.layers.Dense(2)
    dense.build((None, 8))
    assert call(ki.operation_caller(dense, training=True), x).shape == (64, 2), \
        moved(ki.operation_caller, "leaves training out for a layer that does not take it")


def test_sublayers_reach_inside_nested_models():
    model = nested_model()
    inner = model.layers[1]
    everything = call(ki.sublayers, model, include_self=True, recursive=True)
    assert everything[0] is model and inner in everything, moved(ki.sublayers, "starts with the layer itself")
    assert inner.get_layer("hidden") in everything, moved(ki.sublayers, "goes inside a nested model")
    assert model not in call(ki.sublayers, model, include_self=False), moved(ki.sublayers, "leaves the layer out")
    assert inner.get_layer("hidden") not in call(ki.sublayers, model, recursive=False), \
        moved(ki.sublayers, "stays on top")
    dense = keras.layers.Dense(2)
    assert list(call(ki.sublayers, dense)) == [dense], moved(ki.sublayers, "gives a plain layer itself")


def test_own_variables_do_not_follow_the_trainable_flag():
    norm = keras.layers.BatchNormalization()
    norm.build((None, 3))
    norm.trainable = False
    assert not norm.trainable_weights
    trainable = [v.path.split("/")[-1] for v in call(ki.own_trainable_variables, norm)]
    fixed = [v.path.split("/")[-1] for v in call(ki.own_non_trainable_variables, norm)]
    assert trainable == ["gamma", "beta"], moved(ki.own_trainable_variables, "lists a frozen layer's variables")
    assert fixed == ["moving_mean", "moving_variance"], moved(ki.own_non_trainable_variables, "lists moving statistics")
    layer = lora_dense()
    assert {v.path.split("/")[-1] for v in ki.own_trainable_variables(layer)} == \
        {"kernel", "bias", "lora_kernel_a", "lora_kernel_b"}, \
        moved(ki.own_trainable_variables, "keeps the adapted kernel")


def test_adapted_weight_is_the_variable_lora_keeps_fixed():
    layer = lora_dense()
    kernel = call(ki.adapted_weight, layer)
    assert any(kernel is v for v in layer.weights) and kernel.path.endswith("kernel") and not kernel.trainable, \
        moved(ki.adapted_weight, "gives a Dense layer's kernel variable")
    layer.lora_kernel_b.assign(np.ones(layer.lora_kernel_b.shape))
    assert not np.allclose(np.array(layer.kernel), np.array(kernel)), \
        moved(ki.adapted_weight, "differs from the merged kernel")
    embedding = keras.layers.Embedding(5, 2)
    embedding.build((None,))
    table = call(ki.adapted_weight, embedding)
    assert any(table is v for v in embedding.weights) and table.path.endswith("embeddings"), \
        moved(ki.adapted_weight, "gives an Embedding's table")
    einsum = keras.layers.EinsumDense("ab,bc->ac", output_shape=3)
    einsum.build((None, 4))
    assert call(ki.adapted_weight, einsum).path.endswith("kernel"), \
        moved(ki.adapted_weight, "gives an EinsumDense kernel")


def test_drop_variable_removes_an_adapter_from_the_layer():
    layer = lora_dense()
    adapters = [layer.lora_kernel_a, layer.lora_kernel_b]
    for variable in adapters:
        call(ki.drop_variable, layer, variable)
    assert not any(v is a for v in layer.weights for a in adapters), moved(ki.drop_variable, "untracks the variable")
    assert not hasattr(layer, "lora_kernel_a"), moved(ki.drop_variable, "removes the attribute")
    layer.lora_enabled = False
    x = np.ones((1, 4), "float32")
    assert np.allclose(np.array(layer(x)), x @ np.array(layer.kernel) + np.array(layer.bias)), \
        moved(ki.drop_variable, "leaves a working layer")


def test_scope_strategy_is_none_outside_a_strategy():
    import tensorflow as tf

    assert call(ki.scope_strategy, dense_model()) is None, moved(ki.scope_strategy, "is None outside a strategy")
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    with strategy.scope():
        model = dense_model()
    assert call(ki.scope_strategy, model) is strategy, \
        moved(ki.scope_strategy, "gives the strategy a model was made in")


def test_symbolic_build_builds_the_optimizer_from_a_batch():
    model = dense_model()
    model.compile(optimizer="adam", loss="mse")
    call(ki.symbolic_build, model, (np.zeros((2, 4), "float32"), np.zeros((2, 2), "float32")))
    assert model.optimizer.built, moved(ki.symbolic_build, "builds the optimizer")


def test_variable_index_is_the_position_in_the_built_list():
    model = dense_model()
    optimizer = keras.optimizers.Adam()
    optimizer.build(model.trainable_variables)
    indices = [call(ki.variable_index, optimizer, v) for v in model.trainable_variables]
    assert indices == list(range(len(model.trainable_variables))), moved(ki.variable_index, "follows the build order")


def test_uses_weight_decay_follows_the_exclusions():
    model = dense_model()
    optimizer = keras.optimizers.AdamW(weight_decay=0.1)
    optimizer.exclude_from_weight_decay(var_names=["bias"])
    optimizer.build(model.trainable_variables)
    decayed = {v.path: call(ki.uses_weight_decay, optimizer, v) for v in model.trainable_variables}
    assert decayed == {v.path: v.path.endswith("kernel") for v in model.trainable_variables}, \
        moved(ki.uses_weight_decay, "leaves excluded variables out")


def test_public_module_names_a_keras_applications_module():
    module = call(ki.public_module, keras.applications.MobileNetV2.__module__)
    assert module == "keras.applications.mobilenet_v2", moved(ki.public_module, "turns a constructor's module public")
    assert hasattr(importlib.import_module(module), "preprocess_input")
    assert ki.public_module(None) is None


@pytest.mark.parametrize("cls, name, parameters", ki.OVERRIDDEN, ids=[name for _, name, _ in ki.OVERRIDDEN])
def test_overridden_methods_still_exist_with_our_parameters(cls, name, parameters):
    method = getattr(cls, name, None)
    assert callable(method), (f"{cls.__name__}.{name} is gone on Keras {keras.__version__}: "
                              f"see OVERRIDDEN in keras_internals.py")
    found = tuple(inspect.signature(method).parameters)[1:]
    assert found == parameters, (f"{cls.__name__}.{name} takes {found} on Keras {keras.__version__}, our override "
                                 f"{parameters}: see OVERRIDDEN in keras_internals.py")


def keras_private_names():
    """The private attribute names the Keras objects the package handles carry: tensors, layers,
    models (functional, nested, Sequential), an optimizer, a variable, a node, a callback."""
    model = nested_model()
    sequential = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    optimizer = keras.optimizers.AdamW()
    optimizer.build(model.trainable_variables)
    embedding = keras.layers.Embedding(5, 2)
    embedding.build((None,))
    embedding.enable_lora(1)
    objects = [model, *model.layers, *ki.sublayers(model.layers[1]), model.inputs[0], model.outputs[0], sequential,
               optimizer, embedding, lora_dense(), model.weights[0], ki.graph_nodes(model)[0],
               keras.callbacks.Callback(), keras.optimizers.schedules.ExponentialDecay(1.0, 1, 0.5)]
    names = set()
    for thing in objects:
        names.update(dir(thing), vars(thing) if hasattr(thing, "__dict__") else ())
    return {name for name in names if name.startswith("_") and not name.startswith("__")}


def private_accesses(source, private):
    """(line, what) for each use of Keras' private API in `source`: a keras.src import, name or
    string, or an attribute in `private` (overrides' super() calls and OURS on self excepted)."""
    overridden = {name for _, name, _ in ki.OVERRIDDEN}
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            modules = [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            found += [(node.lineno, f"import {m}") for m in modules if m == "keras.src" or m.startswith("keras.src.")]
        elif isinstance(node, ast.Attribute):
            on = node.value
            if node.attr == "src" and isinstance(on, ast.Name) and on.id == "keras":
                found.append((node.lineno, "keras.src"))
            elif node.attr in private:
                is_super = isinstance(on, ast.Call) and isinstance(on.func, ast.Name) and on.func.id == "super"
                on_self = isinstance(on, ast.Name) and on.id == "self"
                if not (is_super and node.attr in overridden) and not (on_self and node.attr in OURS):
                    found.append((node.lineno, f".{node.attr}"))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if "keras.src" in node.value or node.value in private:
                found.append((node.lineno, repr(node.value[:40])))
    return sorted(found)


def test_no_private_keras_access_outside_keras_internals():
    private = keras_private_names()
    found = [f"{path.relative_to(PACKAGE.parent)}:{line}: {what}"
             for path in sorted(PACKAGE.rglob("*.py")) if path != INTERNALS
             for line, what in private_accesses(path.read_text(), private)]
    assert not found, "Private Keras API outside models/keras_internals.py (add a function there):\n" + "\n".join(found)
    assert set(OURS) <= private, f"OURS lists names no Keras object has now: {sorted(set(OURS) - private)}"


def test_the_source_check_catches_each_kind_of_private_access():
    private = keras_private_names()
    source = ("from keras.src.models import functional\n"
              "import keras.src.backend\n"
              "mask = keras.src.backend.get_keras_mask(x)\n"
              "layer = tensor._keras_history.operation\n"
              "graph = getattr(model, '_functional', None)\n"
              "module = name.replace('keras.src.applications.', '')\n"
              "other._lock\n"
              "super()._maybe_symbolic_build()\n"
              "self._lock\n")
    assert [line for line, _ in private_accesses(source, private)] == [1, 2, 3, 4, 5, 6, 7]


def our_keras_classes():
    """Every class of the package that derives from a Keras class, its modules all imported."""
    for module in pkgutil.walk_packages([str(PACKAGE)], "tune_widgets."):
        importlib.import_module(module.name)
    roots = (keras.layers.Layer, keras.optimizers.Optimizer, keras.callbacks.Callback,
             keras.optimizers.schedules.LearningRateSchedule)
    found, todo = set(), list(roots)
    while todo:
        for sub in todo.pop().__subclasses__():
            if sub not in found:
                found.add(sub)
                todo.append(sub)
    return sorted((cls for cls in found if cls.__module__.startswith("tune_widgets.")), key=lambda c: c.__qualname__)


def test_every_private_keras_method_we_override_is_listed_with_its_parameters():
    listed = {name: parameters for _, name, parameters in ki.OVERRIDDEN}
    overrides = {}
    for cls in our_keras_classes():
        theirs = [base for base in cls.__mro__ if not base.__module__.startswith("tune_widgets.")]
        for ours in (base for base in cls.__mro__ if base.__module__.startswith("tune_widgets.")):
            for name, value in vars(ours).items():
                if name.startswith("_") and not name.startswith("__") and any(hasattr(base, name) for base in theirs):
                    overrides[f"{ours.__module__}.{ours.__qualname__}.{name}"] = (name, value)
    unlisted = sorted(where for where, (name, _) in overrides.items() if name not in listed)
    assert not unlisted, f"Private Keras methods overridden but not in keras_internals.OVERRIDDEN: {unlisted}"
    for where, (name, method) in overrides.items():
        assert tuple(inspect.signature(method).parameters)[1:] == listed[name], f"{where} differs from OVERRIDDEN"
    assert set(listed) == {name for name, _ in overrides.values()}, "OVERRIDDEN lists a method nothing overrides"


def test_keras_internals_imports_only_keras():
    tree = ast.parse(INTERNALS.read_text())
    modules = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    modules |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert {m.split(".")[0] for m in modules} <= {"keras", "tensorflow", "contextlib"}, modules
