"""The ONNX export: `model.onnx` through Keras' own export (tf2onnx on the TensorFlow backend),
from the deploy model (`graph.deploy_model`): token ids in for text, float32 pixels 0–255 at
the network's size for images (the network's preprocessing inside); probabilities or the score out."""

import importlib.util

from ..models.head import input_names
from . import graph

NAME = "onnx"
RUNTIME = "onnxruntime"

runtime_inputs = graph.numeric_inputs


def refusal(session, options):
    missing = [name for name in ("tf2onnx", "onnx") if importlib.util.find_spec(name) is None]
    if missing:
        return (f"Keras' ONNX export needs {' and '.join(missing)}, which is not installed: "
                f"pip install tf2onnx==1.17.0 onnx==1.23.2 (or pip install -r requirements.lock).")
    return "" if session.backbone.tokenizer is not None else graph.check_preprocessing(session.backbone)


def write(session, model, folder, options):
    deploy = graph.deploy_model(session, model)
    artifact = folder / "model.onnx"
    deploy.export(str(artifact), format="onnx", verbose=False)
    if session.backbone.tokenizer is not None:
        return artifact, (f"{', '.join(input_names(model))}: int32[n, length] (the checkpoint's tokenizer, "
                          f"[CLS] and [SEP] included) → probabilities.")
    shape = tuple(session.backbone.input_shape)
    return artifact, f"pixels: float32[n, {shape[0]}, {shape[1]}, {shape[2]}], 0–255 → probabilities; preprocessing inside."
