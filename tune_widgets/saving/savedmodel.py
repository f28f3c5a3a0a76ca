"""The SavedModel export: a TF Serving folder (`<path>/1/`) whose `serve` signature takes raw
inputs, so a server or a script needs only TensorFlow:

- text: a batch of strings (`text`), tokenized inside the graph (see `graph.WordPieceTokenizer`;
  TF Text's ops, which TF Serving ships, so a script imports `tensorflow_text` before loading);
  a second signature, `tokenize`, gives the token ids themselves;
- images: `uint8` pictures (`pictures`, n×h×w×c, any h and w; grey ones too for a colour network),
  resized and preprocessed inside;
- outputs: `probabilities` and `classes` (the class names, one row per example), or `score`.
"""

import tensorflow as tf

from ..models.head import input_names
from . import graph

NAME = "savedmodel"
RUNTIME = "tensorflow"
VERSION = "1"  # TF Serving serves the highest numbered subfolder


def refusal(session, options):
    backbone = session.backbone
    if backbone.tokenizer is not None:
        reason = graph.tokenizer_refusal(backbone.tokenizer)
        return f"A SavedModel takes strings, but {reason}. Use format='onnx' or 'litert' (token ids)." if reason else ""
    return graph.check_preprocessing(backbone)


def write(session, model, folder, options):
    """Write the SavedModel under `folder`; returns (artifact path, notes)."""
    deploy = graph.deploy_model(session, model)
    classes = list(session.class_names or ())
    # A plain tf.Module holding the TensorFlow variables themselves: Keras' ExportArchive tracks
    # each weight twice (as a Keras variable and as its tf.Variable), doubling the folder's size.
    module = tf.Module()
    module.weights = [weight.value for weight in deploy.weights]
    backbone = session.backbone
    if backbone.tokenizer is not None:
        module.tokenizer = tokenizer = graph.WordPieceTokenizer(backbone.tokenizer)
        names = input_names(model)
        spec = tf.TensorSpec([None], tf.string, name="text")

        @tf.function(input_signature=[spec])
        def serve(text):
            return _outputs(deploy(tokenizer.inputs(text, names), training=False), classes)

        @tf.function(input_signature=[spec])
        def tokenize(text):
            return {"token_ids": tokenizer(text).to_tensor(default_value=tokenizer.pad_id)}

        signatures = {"serve": serve, "tokenize": tokenize}
        notes = ("serve(text: string[n]) → probabilities, classes; tokenize(text) → token_ids. TF Text's "
                 "tokenizer ops run it: TF Serving links them in; a script imports tensorflow_text first.")
    else:
        shape = tuple(backbone.input_shape)

        channels = None if shape[-1] == 3 else shape[-1]  # a colour network takes grey pictures too

        @tf.function(input_signature=[tf.TensorSpec([None, None, None, channels], tf.uint8, name="pictures")])
        def serve(pictures):
            return _outputs(deploy(graph.resize(pictures, shape), training=False), classes)

        signatures = {"serve": serve}
        notes = (f"serve(pictures: uint8[n, h, w, {'1 or 3' if channels is None else channels}], any h and w) → "
                 f"probabilities, classes; resized to {shape[0]}×{shape[1]} and preprocessed inside.")
    if not classes:
        notes = notes.replace("probabilities, classes", "score")
    module.serve = serve
    artifact = folder / VERSION
    tf.saved_model.save(module, str(artifact), signatures={**signatures, "serving_default": serve})
    return artifact, notes


def _outputs(values, classes):
    if not classes:
        return {"score": values[:, 0]}
    names = tf.constant(classes)
    return {"probabilities": values, "classes": tf.tile(names[None], [tf.shape(values)[0], 1])}


def runtime_inputs(session, examples):
    """What the runtime check feeds: the raw examples themselves."""
    if session.backbone.tokenizer is not None:
        return {"text": [str(text) for text in examples]}
    return {"pictures": examples}
