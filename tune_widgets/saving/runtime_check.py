"""Run an exported artifact in its own runtime, in a fresh process that imports neither
tune-widgets nor Keras, as a phone, a browser or a server would (see `deploy.verify`).

    python runtime_check.py FORMAT ARTIFACT INPUTS.npz OUTPUT.npz

Writes the artifact's outputs on the inputs and the seconds one example takes. Keras and
tune-widgets cannot be imported here at all (`Refused`): TensorFlow runs without them, and TF
Text's tokenizer ops are registered from their libraries alone (its Python package imports Keras).
"""

import importlib.abc
import importlib.machinery
import importlib.util
import pathlib
import sys
import time

import numpy as np

REFUSED = ("keras", "tf_keras", "tune_widgets")


class Refused(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Makes `import keras` (and the others) fail in this process."""

    def find_spec(self, name, path=None, target=None):
        return importlib.machinery.ModuleSpec(name, self) if name.split(".")[0] in REFUSED else None

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        raise ImportError(f"{module.__name__} is refused in the runtime check: the artifact must run without it")


def savedmodel(artifact, inputs):
    import tensorflow as tf

    if "text" in inputs:  # the tokenizer's ops, as TF Serving links them in
        text = importlib.util.find_spec("tensorflow_text").submodule_search_locations[0]
        for library in sorted(pathlib.Path(text, "python", "ops").glob("_*.so")):
            tf.load_op_library(str(library))
    serve = tf.saved_model.load(artifact).signatures["serve"]
    feed = {name: tf.constant(value) for name, value in inputs.items()}
    run = lambda feed: {k: v.numpy() for k, v in serve(**feed).items()}  # noqa: E731
    return _first(run(feed), ("probabilities", "score")), lambda: run({k: v[:1] for k, v in feed.items()})


def litert(artifact, inputs):
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_path=artifact).get_signature_runner()
    names = list(runner.get_input_details())
    feed = _matched(names, inputs)
    outputs = runner(**feed)
    return next(iter(outputs.values())), lambda: runner(**{k: v[:1] for k, v in feed.items()})


def onnx(artifact, inputs):
    import onnxruntime

    session = onnxruntime.InferenceSession(artifact, providers=["CPUExecutionProvider"])
    feed = _matched([i.name for i in session.get_inputs()], inputs)
    return session.run(None, feed)[0], lambda: session.run(None, {k: v[:1] for k, v in feed.items()})


def _matched(names, inputs):
    """The runtime's input names, each given the input whose name it carries (tf2onnx and the
    LiteRT converter decorate names: "serve_token_ids", "token_ids:0")."""
    if len(names) == 1 and len(inputs) == 1:
        return {names[0]: next(iter(inputs.values()))}
    return {name: next(v for k, v in sorted(inputs.items(), key=lambda kv: -len(kv[0])) if k in name) for name in names}


def _first(outputs, keys):
    return next(outputs[key] for key in keys if key in outputs)


def main(kind, artifact, inputs_path, output_path):
    with np.load(inputs_path) as stored:
        inputs = {name: stored[name] for name in stored.files}
    outputs, one = {"savedmodel": savedmodel, "litert": litert, "onnx": onnx}[kind](artifact, inputs)
    one()  # the first call may build kernels: time the second
    start = time.perf_counter()
    one()
    latency = time.perf_counter() - start
    loaded = [name for name in REFUSED if name in sys.modules and sys.modules[name] is not None]
    np.savez(output_path, outputs=np.asarray(outputs, dtype="float32"), latency=latency,
             loaded=np.asarray(loaded, dtype="U32"))


if __name__ == "__main__":
    sys.meta_path.insert(0, Refused())
    main(*sys.argv[1:5])
