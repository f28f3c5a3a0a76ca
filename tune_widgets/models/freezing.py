"""Which layers are frozen: a plain-data plan, one selector syntax, one function to apply it.

A `FreezePlan` is a frozen set of layer names. It says nothing about Keras until
`apply_plan` sets `layer.trainable`, so plans can be compared, shown, saved with a run and
turned into code. Selectors (`select`) accept, alone or in a list:

- an int (layer index, negative counts from the end) or a `range`/`slice` of indices;
- a layer name, or a block name ("transformer_layer_3", "conv4", "head");
- a glob pattern ("conv5_*") or a regular expression prefixed "re:" ("re:block[67]").
"""

import dataclasses
import fnmatch
import numbers
import re

import keras
import numpy as np

from ..errors import ConfigError, LayerSelectionError, did_you_mean
from . import keras_internals

# Names that start a block: ResNet/DenseNet stages (conv2_block1_... → conv2), EfficientNet
# stages (block2a_... → block2), MobileNetV2 (block_3_... → block_3), VGG (block1_conv1),
# transformer layers (KerasHub's names per family: DeBERTa's, Gemma's, ALBERT's shared groups),
# and the head this package adds.
_BLOCK_PATTERNS = (
    re.compile(r"^(transformer_layer_\d+)"),
    re.compile(r"^(disentangled_attention_encoder_layer_\d+)"),
    re.compile(r"^(decoder_block_\d+)"),
    re.compile(r"^(group_\d+)_inner_layer"),
    re.compile(r"^(conv\d+)_"),
    re.compile(r"^(block_?\d+)[a-z]?_"),
    re.compile(r"^(stage_?\d+)"),
    re.compile(r"^(mixed\d+)"),
    re.compile(r"^(head)_"),
    re.compile(r"^(stem|top)_"),
)


@dataclasses.dataclass(frozen=True)
class LayerInfo:
    """One row of the layer table: what the layer map and `Session.layers()` show."""

    index: int
    name: str
    type: str
    block: str
    params: int  # weights that train when the layer is unfrozen
    fixed_params: int  # weights that never train (BatchNorm moving statistics, kernels under LoRA)
    frozen: bool
    adapter_params: int = 0  # LoRA adapters: they train even when the layer is frozen


@dataclasses.dataclass(frozen=True)
class FreezePlan:
    """The set of frozen layer names. Immutable: every change returns a new plan."""

    frozen: frozenset = frozenset()

    def __post_init__(self):
        object.__setattr__(self, "frozen", frozenset(self.frozen))

    def with_frozen(self, names, frozen=True):
        names = set(names)
        return FreezePlan(self.frozen | names if frozen else self.frozen - names)

    def __repr__(self):
        return f"FreezePlan({len(self.frozen)} frozen: {sorted(self.frozen)})"


def block_names(names):
    """The block of each layer name; unmatched layers join the block before them (or 'stem')."""
    blocks, current = [], "stem"
    for name in names:
        for pattern in _BLOCK_PATTERNS:
            match = pattern.match(name)
            if match:
                current = match.group(1)
                break
        else:
            if "embedding" in name:
                current = "embeddings"
        blocks.append(current)
    return blocks


def layer_table(model, plan=None):
    """A `LayerInfo` per layer of `model`, frozen state from `plan` (or the model's flags)."""
    layers = list(model.layers)
    blocks = block_names([layer.name for layer in layers])
    rows = []
    for index, (layer, block) in enumerate(zip(layers, blocks)):
        if isinstance(layer, keras.layers.InputLayer):
            block = "inputs"
        trainable, fixed, adapters = _parameter_split(layer)
        frozen = layer.name in plan.frozen if plan is not None else not layer.trainable
        rows.append(LayerInfo(index, layer.name, type(layer).__name__, block, trainable, fixed, frozen, adapters))
    return tuple(rows)


def _parameter_split(layer):
    """(trainable-when-unfrozen, never-trainable, LoRA adapter) weight counts, whatever the
    current flags.

    `layer.trainable_weights` is empty while a layer is frozen, so the split is read from each
    sublayer's own variable lists instead.
    """
    trainable = fixed = adapters = 0
    for sublayer in keras_internals.sublayers(layer, include_self=True, recursive=True):
        base, lora = lora_weights(sublayer) or (None, ())
        for variable in keras_internals.own_trainable_variables(sublayer):
            if any(variable is v for v in lora):
                adapters += _size(variable)
            elif variable is base:
                fixed += _size(variable)
            else:
                trainable += _size(variable)
        fixed += sum(_size(v) for v in keras_internals.own_non_trainable_variables(sublayer))
    return trainable, fixed, adapters


def lora_weights(layer):
    """(the weight Keras' LoRA keeps fixed, [its adapters A, B]) when `layer` has LoRA enabled,
    else None. Dense and EinsumDense adapt their kernel, Embedding its table."""
    if not getattr(layer, "lora_enabled", False):
        return None
    if isinstance(layer, keras.layers.Embedding):
        return keras_internals.adapted_weight(layer), [layer.lora_embeddings_a, layer.lora_embeddings_b]
    return keras_internals.adapted_weight(layer), [layer.lora_kernel_a, layer.lora_kernel_b]


def hold_lora_flags(layer):
    """Keep LoRA's rule inside `layer` after its `trainable` flag was set: adapters always
    train, the weights they adapt never do. (Keras' setter turns every weight of the layer
    on or off, these included.)"""
    for sublayer in keras_internals.sublayers(layer, include_self=True, recursive=True):
        adapted = lora_weights(sublayer)
        if adapted:
            base, adapters = adapted
            base.trainable = False
            for variable in adapters:
                variable.trainable = True


def _size(variable):
    size = 1
    for dim in variable.shape:
        size *= int(dim)
    return size


def plan_from_model(model):
    return FreezePlan(layer.name for layer in model.layers if not layer.trainable)


def apply_plan(model, plan):
    """Set each layer's `trainable` flag from the plan. Returns the names whose flag changed.

    LoRA adapters inside a layer train whatever its flag (see `tuning/lora.py`)."""
    changed = []
    for layer in model.layers:
        trainable = layer.name not in plan.frozen
        if layer.trainable != trainable or any(
            sub.trainable != trainable for sub in keras_internals.sublayers(layer, include_self=False)
        ):
            layer.trainable = trainable  # Keras propagates the flag to every sublayer
            hold_lora_flags(layer)
            changed.append(layer.name)
    return changed


def select(table, selector):
    """Indices of the layers `selector` picks (see module docstring); never empty.

    Raises LayerSelectionError, naming close matches, when something selects nothing.
    """
    if isinstance(selector, (list, tuple, set, frozenset)):
        if not selector:
            raise LayerSelectionError("An empty list selects no layers. Name at least one layer.")
        indices = []
        for item in selector:
            indices += [i for i in select(table, item) if i not in indices]
        return sorted(indices)
    count = len(table)
    if count == 0:
        raise LayerSelectionError("There is no model yet: load one before freezing layers.")
    if isinstance(selector, (bool, np.bool_)):
        raise LayerSelectionError(f"{selector!r} is not a layer selector. Use an index, name or pattern.")
    if isinstance(selector, numbers.Integral):  # numpy integers too
        selector = int(selector)
        if not -count <= selector < count:
            raise LayerSelectionError(f"Layer index {selector} is out of range: the model has {count} layers (0–{count - 1}).")
        return [selector % count]
    if isinstance(selector, range):
        selector = slice(selector.start, selector.stop, selector.step)
    if isinstance(selector, slice):
        indices = list(range(count))[selector]
        if not indices:
            raise LayerSelectionError(f"The range {selector.start}:{selector.stop} selects no layers of {count}.")
        return indices
    if not isinstance(selector, str):
        raise LayerSelectionError(
            f"A layer selector must be an index, range, name, block, pattern or a list of them, not {type(selector).__name__}."
        )
    names = [row.name for row in table]
    if selector in names:
        return [names.index(selector)]
    blocks = [row.block for row in table]
    if selector in blocks:
        return [i for i, block in enumerate(blocks) if block == selector]
    if selector.startswith("re:"):
        try:
            pattern = re.compile(selector[3:])
        except re.error as error:
            raise LayerSelectionError(f"{selector!r} is not a valid regular expression: {error}.") from error
        matches = [i for i, name in enumerate(names) if pattern.search(name)]
    elif any(ch in selector for ch in "*?["):
        matches = [i for i, name in enumerate(names) if fnmatch.fnmatchcase(name, selector)]
    else:
        matches = []
    if not matches:
        hint = did_you_mean(selector, dict.fromkeys(names + blocks))
        raise LayerSelectionError(
            f"No layer or block matches {selector!r}.{hint or ' Use a layer name, a block name, a glob like conv5_* or re:<regex>.'}"
        )
    return matches


def plan_to(table, selector):
    """The plan that freezes everything below a point (see `Session.freeze_to`)."""
    if isinstance(selector, numbers.Integral) and not isinstance(selector, (bool, np.bool_)):
        selector, count = int(selector), len(table)
        if not 0 <= selector <= count:
            raise ConfigError(f"freeze_to({selector}) is out of range: the model has {count} layers.")
        stop = selector
    else:
        stop = max(select(table, selector)) + 1
    return FreezePlan([row.name for row in table][:stop])


def exact_plan(table, names):
    """The plan freezing exactly `names` (what the layer map sends); unknown names are refused."""
    names = list(names)
    known = {row.name for row in table}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise LayerSelectionError(f"No layers named {unknown[:5]} in this model.")
    return FreezePlan(names)


def parameter_counts(table):
    """{"total", "trainable", "frozen", "adapters"}: weights that train now, those that don't,
    and the LoRA adapters among the trainable ones."""
    adapters = sum(row.adapter_params for row in table)
    trainable = sum(row.params for row in table if not row.frozen) + adapters
    total = sum(row.params + row.fixed_params + row.adapter_params for row in table)
    return {"total": total, "trainable": trainable, "frozen": total - trainable, "adapters": adapters}
