"""LoRA: low-rank adapters on chosen Dense, EinsumDense and Embedding layers (Keras' `enable_lora`).

An adapter adds (alpha / rank) · A·B to a layer's kernel (or embedding table): A and B train, the
kernel stays as it was. Which layers carry adapters, with which rank and alpha, is plain data (a
`LoraPlan`) read back from the model, so it always says what the model holds.

Adapters and freezing (`freezing.apply_plan` keeps this true after every freeze change):
- adapters always train, also inside a frozen layer or block: freeze the encoder, adapt its
  attention, and only the adapters (and the unfrozen head) learn;
- an adapted kernel never trains; the rest of an adapted layer (its bias) follows the plan;
- a frozen block keeps running in inference mode while its adapters train (dropout off), as every
  frozen layer does (`FineTuneModel`); an unfrozen block trains with its dropout;
- the frozen-prefix cache stops below the lowest layer that trains anything, adapters included,
  so the layers under the lowest adapter are still computed once.

Keras cannot undo `enable_lora`; `remove` does it in place (the adapters are dropped, or merged
into the kernel first). Saving needs no merge step: Keras writes an adapted kernel as
W + (alpha/rank)·A·B, and `saving.model_files.strip_saved_config` removes the LoRA settings from the saved config,
so the file is a plain model that loads without adapters.
"""

import dataclasses
import fnmatch
import math
import re

import keras
import numpy as np

from ..errors import ConfigError, LayerSelectionError, did_you_mean
from . import keras_internals
from .freezing import hold_lora_flags, layer_table, lora_weights, select

ELIGIBLE = (keras.layers.Dense, keras.layers.EinsumDense, keras.layers.Embedding)
PREFERRED = ("query_dense", "value_dense", "query", "value")  # KerasHub's Backbone.default_lora_layer_names()


@dataclasses.dataclass(frozen=True)
class Target:
    """A layer LoRA can adapt: its path ("transformer_layer_0/self_attention_layer/query", or a
    top-level layer's name), the top-level layer holding it, and the size of the weight it adapts."""

    path: str
    owner: str
    type: str
    params: int
    preferred: bool  # part of KerasHub's choice for a block: the query and value projections


@dataclasses.dataclass(frozen=True)
class Adapter:
    path: str
    rank: int
    alpha: float
    params: int  # weights in A and B


@dataclasses.dataclass(frozen=True)
class LoraPlan:
    """The adapters a model holds, in model order. Immutable; compare, show and save it."""

    adapters: tuple = ()

    @property
    def paths(self):
        return tuple(adapter.path for adapter in self.adapters)

    @property
    def params(self):
        return sum(adapter.params for adapter in self.adapters)

    def to_config(self):
        return [dataclasses.asdict(adapter) for adapter in self.adapters]

    def __bool__(self):
        return bool(self.adapters)

    def __repr__(self):
        if not self.adapters:
            return "LoraPlan(no adapters)"
        shown = ", ".join(f"{a.path} (r{a.rank}, α{a.alpha:g})" for a in self.adapters[:4])
        more = f", … {len(self.adapters) - 4} more" if len(self.adapters) > 4 else ""
        return f"LoraPlan({len(self.adapters)} adapters, {self.params:,} weights: {shown}{more})"


def targets(model):
    """Every layer of `model` LoRA can adapt, in model order, as `Target`s."""
    return tuple(Target(layer.path, owner.name, type(layer).__name__, _size(keras_internals.adapted_weight(layer)),
                        layer is not owner and layer.name in PREFERRED)
                 for owner, layer in _eligible(model))


def plan_of(model):
    """The `LoraPlan` of what `model` holds now."""
    return LoraPlan(tuple(
        Adapter(layer.path, int(layer.lora_rank), float(layer.lora_alpha),
                sum(_size(v) for v in lora_weights(layer)[1]))
        for _, layer in _eligible(model) if layer.lora_enabled
    ))


def _eligible(model):
    """(top-level layer, adaptable layer in it) pairs, in model order; inside a block in the
    order its weights were made (query, key, value, output, feedforward)."""
    seen = set()
    for owner in model.layers:
        found = [layer for layer in keras_internals.sublayers(owner, include_self=True, recursive=True)
                 if isinstance(layer, ELIGIBLE) and layer.built and id(layer) not in seen]
        order = {id(weight): i for i, weight in enumerate(owner.weights)}
        for layer in sorted(found, key=lambda layer: order.get(id(keras_internals.adapted_weight(layer)), 0)):
            seen.add(id(layer))
            yield owner, layer


def resolve(model, table, selector, whole_blocks=False):
    """The target paths `selector` picks, in model order; raises a toolkit error when a part of
    it picks nothing LoRA can adapt.

    A string with a "/" names sublayers by path: exact, glob ("*/query") or "re:" pattern. Anything
    else picks top-level layers as `freeze` does (`freezing.select`), and each contributes itself
    if it is a Dense, EinsumDense or Embedding layer, or else the query and value projections
    inside it (KerasHub's choice), or else every such layer inside it. With `whole_blocks`
    (removing), a block contributes every such layer inside it.
    """
    candidates = targets(model)
    items = list(selector) if isinstance(selector, (list, tuple, set, frozenset)) else [selector]
    if not items:
        raise LayerSelectionError("An empty list selects no layers. Name at least one layer.")
    chosen = set()
    for item in items:
        if isinstance(item, str) and "/" in item:
            chosen.update(_by_path(model, candidates, item))
            continue
        picked = []
        rows = [table[i] for i in select(table, item)]
        for row in rows:
            picked += _of_layer(candidates, row.name, whole_blocks)
        if not picked:
            kinds = ", ".join(f"{row.name} ({row.type})" for row in rows[:3]) + (" …" if len(rows) > 3 else "")
            raise LayerSelectionError(
                f"LoRA adapts Dense, EinsumDense and Embedding layers, and the blocks that hold them; "
                f"{item!r} picks none: {kinds}. Choose such a layer or block, or a sublayer path like "
                f"'transformer_layer_0/self_attention_layer/query'."
            )
        chosen.update(picked)
    return [t.path for t in candidates if t.path in chosen]


def _of_layer(candidates, name, whole_blocks):
    inside = [t for t in candidates if t.owner == name]
    if any(t.path == name for t in inside):
        return [name]
    preferred = [t.path for t in inside if t.preferred and not whole_blocks]
    return preferred or [t.path for t in inside]


def _by_path(model, candidates, pattern):
    paths = [t.path for t in candidates]
    if pattern.startswith("re:"):
        try:
            regex = re.compile(pattern[3:])
        except re.error as error:
            raise LayerSelectionError(f"{pattern!r} is not a valid regular expression: {error}.") from None
        matches = [p for p in paths if regex.search(p)]
    elif any(ch in pattern for ch in "*?["):
        matches = [p for p in paths if fnmatch.fnmatchcase(p, pattern)]
    else:
        matches = [p for p in paths if p == pattern]
    if matches:
        return matches
    other = next((layer for owner in model.layers for layer in keras_internals.sublayers(owner, include_self=True)
                  if layer.path == pattern), None)
    if other is not None:
        raise LayerSelectionError(
            f"{pattern} is a {type(other).__name__}: LoRA adapts Dense, EinsumDense and Embedding layers only."
        )
    hint = did_you_mean(pattern, paths) or (f" Adaptable: {', '.join(paths[:6])}{' …' if len(paths) > 6 else ''}."
                                             if paths else " This model has none.")
    raise LayerSelectionError(f"No LoRA-adaptable sublayer matches {pattern!r}.{hint}")


def add(model, table, selector, rank, alpha=None):
    """Enable adapters of `rank` and `alpha` (None: alpha = rank, a scale of 1) on what `selector`
    picks. Everything is checked before the first layer changes. Returns the paths adapted now."""
    if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)) or rank < 1:
        raise ConfigError(f"LoRA rank must be a whole number of at least 1, got {rank!r}.")
    if alpha is not None and (isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.number))
                              or not math.isfinite(alpha) or alpha <= 0):
        raise ConfigError(f"LoRA alpha must be a positive number (or None for alpha = rank), got {alpha!r}.")
    rank, alpha = int(rank), float(rank if alpha is None else alpha)
    layers = {path: _layer(model, path) for path in resolve(model, table, selector)}
    for path, layer in layers.items():
        if layer.lora_enabled and (layer.lora_rank, float(layer.lora_alpha)) != (rank, alpha):
            raise ConfigError(
                f"{path} already has adapters of rank {layer.lora_rank}, alpha {layer.lora_alpha:g}: "
                f"remove_lora({path!r}) first to change them."
            )
        if getattr(layer, "kernel_constraint", None) or getattr(layer, "embeddings_constraint", None):
            raise ConfigError(f"{path} has a weight constraint, which LoRA cannot keep: remove it or choose another layer.")
        if layer.quantization_mode is not None:
            raise ConfigError(f"{path} is quantized ({layer.quantization_mode}): adapt a float layer.")
    added = [path for path, layer in layers.items() if not layer.lora_enabled]
    for path in added:
        layer = layers[path]
        layer.enable_lora(rank, lora_alpha=alpha)
        hold_lora_flags(layer)
    if added:
        _forget_traces(model)
    return added


def remove(model, table, selector, merge=False):
    """Drop the adapters on what `selector` picks, every one inside a picked block (the model
    computes what it did before they were added), or with merge=True fold them into the kernel
    first (it computes what it does now). Returns the paths changed."""
    layers = [_layer(model, path) for path in resolve(model, table, selector, whole_blocks=True)]
    adapted = [layer for layer in layers if layer.lora_enabled]
    for layer in adapted:
        base, adapters = lora_weights(layer)
        if merge:
            merged = layer.embeddings if isinstance(layer, keras.layers.Embedding) else layer.kernel
            base.assign(keras.ops.cast(merged, base.dtype))
        for variable in adapters:
            keras_internals.drop_variable(layer, variable)
        layer.lora_enabled, layer.lora_rank, layer.lora_alpha = False, None, None
        base.trainable = layer.trainable
    if adapted:
        _forget_traces(model)
    return [layer.path for layer in adapted]


def adapter_values(model, paths):
    """{weight path: value} of the adapters on `paths` (what `Session.reset` puts back)."""
    return {variable.path: np.array(variable) for path in paths for variable in lora_weights(_layer(model, path))[1]}


def _forget_traces(model):
    """Compiled functions hold the computation as it was traced: trace again on next use."""
    model.train_function = model.test_function = model.predict_function = None


def _layer(model, path):
    owner, _, rest = path.partition("/")
    layer = model.get_layer(owner)
    if rest:
        layer = next(sub for sub in keras_internals.sublayers(layer, include_self=False) if sub.path == path)
    return layer


def _size(variable):
    return int(np.prod(variable.shape))


# ---- the session's operations: Session.add_lora, remove_lora and lora_targets are these -------

def add_lora(session, selector, rank=8, alpha=None):
    """Add low-rank adapters: they train, the weights they adapt stay put.

    `selector` picks top-level layers as `freeze` does (a block adapts its query and value
    projections, KerasHub's choice), or sublayers by a path with "/" ("transformer_layer_5/
    self_attention_layer/key", "*/query"). alpha=None means alpha = rank (a scale of 1).
    """
    session.check_idle()
    graph = session.graph
    added = add(graph, session.layers, selector, rank, alpha)
    if added:
        session.starting_point = session.starting_point.with_adapters(adapter_values(graph, added))
        _adapters_changed(session, graph)
    return session


def remove_lora(session, selector=slice(None), *, merge=False):
    """Drop the adapters `selector` picks (all of a picked block's), and what they learned;
    merge=True folds what they learned into the adapted weights first."""
    session.check_idle()
    graph = session.graph
    if remove(graph, session.layers, selector, merge):
        _adapters_changed(session, graph)
    return session


def lora_targets(session):
    """The layers and sublayers LoRA can adapt (`Target`s), in model order."""
    return targets(session.graph) if session.layers else ()


def _adapters_changed(session, graph):
    session.feature_cache.clear()  # where the frozen prefix ends moves with the adapters
    with session.hold_trait_notifications():
        session.lora = plan_of(graph)
        session.layers = layer_table(graph, session.plan)
