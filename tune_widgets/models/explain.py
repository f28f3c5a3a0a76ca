"""Why the model decided: Grad-CAM for images, token occlusion for text, as plain data.

Images: Grad-CAM (Selvaraju et al.) on the last layer whose output is a spatial map (the last
convolutional block of a CNN), or on the patch tokens of a ViT-style backbone laid back on their
grid: each channel weighted by the mean gradient of the decided class's log-probability, summed,
negatives dropped, scaled to [0, 1] and resized to the picture. Text: each token masked out in
turn (padding_mask 0, as if it were not there), its score the fall in the decided class's
probability; occlusion needs no access inside the encoder, so every text family gets it alike.
`Session.explain` is `explain`.
"""

import math

import keras
import numpy as np
import tensorflow as tf

from ..data import LabelledData, encode, examples
from ..errors import StateError
from ..validation import screen_rows
from .head import input_names
from .predict import outputs, outputs_logits


def explain(session, examples_given, target=None):
    """A plain-data explanation per example, of the class the model decides (or class `target`,
    a name or number): {"class", "probability", "heatmap" (H×W in [0, 1], the picture's own size),
    "layer"} for images, {"class", "probability", "tokens": [(token, score), ...]} for text."""
    model = session.require_model()
    if session.task != "classification":
        raise StateError("explain shows what decided a class: it needs classification data (set_data with labels "
                         "that name classes).")
    if isinstance(examples_given, str):
        examples_given = [examples_given]
    rows, _ = screen_rows(examples_given, droppable=False)
    raw, kind = examples(rows)
    data = LabelledData(raw, np.zeros(len(raw), "int32"), ("",), kind)
    x = encode(data, session.backbone)
    probabilities = outputs(session, model, x)
    chosen = probabilities.argmax(-1) if target is None else np.full(len(raw), _class_index(session, target))
    names = session.class_names
    if kind == "text":
        found = [{"tokens": _occlusion(session, model, x, i, c)} for i, c in enumerate(chosen)]
    else:
        layer, heatmaps = grad_cam(model, x, chosen, logits=outputs_logits(session))
        found = [{"heatmap": _sized(heatmap, np.shape(example)[:2]), "layer": layer}
                 for heatmap, example in zip(heatmaps, raw)]
    return [{"class": names[c], "probability": float(probabilities[i, c]), **item}
            for i, (c, item) in enumerate(zip(chosen, found))]


def _sized(heatmap, shape):
    """`heatmap` resized to the picture as given (the model may take it resized)."""
    if tuple(heatmap.shape) == tuple(shape):
        return heatmap
    return np.clip(tf.image.resize(heatmap[..., None], shape)[..., 0].numpy(), 0, 1)


def _class_index(session, target):
    names = list(session.class_names)
    if isinstance(target, str) and target in names:
        return names.index(target)
    if isinstance(target, (int, np.integer)) and not isinstance(target, bool) and 0 <= target < len(names):
        return int(target)
    raise StateError(f"target must be one of the classes {names} (a name or its number), not {target!r}.")


def spatial_layer(model):
    """(the layer Grad-CAM reads, grid side or None): the last top-level layer whose output is a
    spatial map, or a sequence of patch tokens (a square number of them, after a class token or
    not: then with the side of their grid); raises StateError when there is none."""
    candidates = [layer for layer in model.layers[:-1] if not isinstance(layer, keras.layers.InputLayer)]
    for layer in reversed(candidates):
        shape = _output_shape(layer)
        if shape is not None and len(shape) == 4:
            return layer, None
        if shape is not None and len(shape) == 3 and shape[1]:
            for count in (shape[1], shape[1] - 1):
                side = math.isqrt(count)
                if side > 1 and side * side == count:
                    return layer, side
    raise StateError("This model has no layer with a spatial output (a convolutional map or patch tokens) for "
                     "Grad-CAM to read.")


def _output_shape(layer):
    try:
        output = layer.output
    except (AttributeError, ValueError):
        return None
    return tuple(output.shape) if hasattr(output, "shape") else None


def grad_cam(model, x, classes, logits=False):
    """(layer name, [H×W heatmap in [0, 1] per example]) for `classes` (one per example)."""
    layer, side = spatial_layer(model)
    probe = keras.Model(model.inputs, [layer.output, model.output])
    inputs = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        features, predictions = probe(inputs, training=False)
        scores = tf.nn.log_softmax(predictions) if logits else tf.math.log(predictions + 1e-12)
        chosen = tf.gather(scores, tf.constant(classes, dtype="int32"), axis=1, batch_dims=1)
    grads = tape.gradient(chosen, features)
    if side is not None:  # patch tokens: drop a class token, lay the rest on their grid
        features, grads = (tensor[:, -side * side:, :] for tensor in (features, grads))
        features, grads = (tf.reshape(t, (-1, side, side, t.shape[-1])) for t in (features, grads))
    weights = tf.reduce_mean(grads, axis=(1, 2), keepdims=True)
    cams = tf.nn.relu(tf.reduce_sum(weights * features, axis=-1))[..., None]
    cams = tf.image.resize(cams, inputs.shape[1:3])[..., 0].numpy()
    peaks = cams.reshape(len(cams), -1).max(1)
    return layer.name, [cam / peak if peak > 0 else cam for cam, peak in zip(cams, peaks)]


def _occlusion(session, model, x, row, cls):
    """[(token, score)] for the real tokens of example `row` (the tokenizer's framing left out):
    the decided class's probability with all tokens, less that with the token masked out."""
    tokenizer = session.backbone.tokenizer
    ids, mask = x["token_ids"][row], x["padding_mask"][row]
    positions = [p for p in range(len(ids)) if mask[p] and int(ids[p]) not in tokenizer.special_ids]
    if not positions:
        return []
    copies = {name: np.repeat(value[row:row + 1], len(positions) + 1, axis=0) for name, value in x.items()}
    for copy, position in enumerate(positions, start=1):
        copies["padding_mask"][copy, position] = 0
    # a list, not the dict: the dict's padding mask would have the batches trimmed by length
    probabilities = outputs(session, model, [copies[name] for name in input_names(model)])[:, cls]
    tokens = tokenizer.tokens([int(ids[p]) for p in positions])
    return [(token, float(probabilities[0] - probability)) for token, probability in zip(tokens, probabilities[1:])]
