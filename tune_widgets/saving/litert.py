"""The LiteRT (TFLite) export: one `model.tflite` for phones and microcontrollers, converted from
the deploy model (`graph.deploy_model`) with TFLite's built-in ops only, so `ai-edge-litert`'s
interpreter runs it as it is (no Flex delegate).

- images: float32 pixels 0–255 at the network's size in, the network's preprocessing inside,
  probabilities (or the score) out; quantize="int8" stores the weights as int8 (dynamic range:
  about 4× smaller), and the result reports the accuracy it costs on the check's examples;
- text: the token-ids signature (TFLite's built-ins cannot run TF Text's tokenizer ops), with the
  checkpoint's tokenizer files beside it (vocab.txt ...) for the app to tokenize with.
"""

import shutil
from pathlib import Path

from ..models.head import input_names
from . import graph

NAME = "litert"
RUNTIME = "ai_edge_litert"
QUANTIZE = (None, "int8")
TOKENIZER_FILES = ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")

runtime_inputs = graph.numeric_inputs


def refusal(session, options):
    if options.get("quantize") not in QUANTIZE:
        return f"quantize must be None or 'int8' (dynamic-range int8 weights), got {options.get('quantize')!r}."
    return "" if session.backbone.tokenizer is not None else graph.check_preprocessing(session.backbone)


def write(session, model, folder, options):
    import tensorflow as tf

    deploy = graph.deploy_model(session, model)
    specs = {name: tf.TensorSpec(tensor.shape, tensor.dtype, name=name) for name, tensor in
             zip(input_names(deploy), deploy.inputs)}
    serve = tf.function(lambda **inputs: deploy(inputs if len(inputs) > 1 else inputs[next(iter(inputs))],
                                                training=False))
    holder = tf.Module()
    holder.weights = [weight.value for weight in deploy.weights]
    # From the function itself, not through a SavedModel on disk as Keras' own LiteRT export goes
    # (the same conversion, without writing and reading back the whole model once more).
    converter = tf.lite.TFLiteConverter.from_concrete_functions([serve.get_concrete_function(**specs)], holder)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]  # what ai-edge-litert runs alone
    if options.get("quantize") == "int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    artifact = folder / "model.tflite"
    artifact.write_bytes(converter.convert())
    tokenizer = session.backbone.tokenizer
    if tokenizer is None:
        shape = tuple(session.backbone.input_shape)
        return artifact, (f"serve(pixels: float32[n, {shape[0]}, {shape[1]}, {shape[2]}], 0–255) → probabilities; "
                          f"resize pictures to {shape[0]}×{shape[1]} first; preprocessing is inside.")
    copied = [name for name in TOKENIZER_FILES if (Path(tokenizer.folder) / name).exists()]
    (folder / "tokenizer").mkdir()
    for name in copied:
        shutil.copy2(Path(tokenizer.folder) / name, folder / "tokenizer" / name)
    return artifact, (f"serve({', '.join(input_names(model))}: int32[n, length]) → probabilities. LiteRT's built-in "
                      f"ops cannot tokenize: tokenize with the files in tokenizer/ ({', '.join(copied)}), at most "
                      f"{tokenizer.sequence_length} tokens with [CLS] and [SEP].")
