"""Two ways to make a fit faster that do not always pay off on a CPU: XLA compilation
(`jit_compile`) and bfloat16 compute (`mixed_precision`). Both are fit options, off by default;
benchmarks/run.py measures them (see the README's table for what they gave on our machine).
"""

import contextlib
import os
from pathlib import Path

import keras

from ..errors import ConfigError
from ..models import keras_internals

POLICY = "mixed_bfloat16"  # bfloat16 needs no loss scaling, unlike float16
BF16_ISAS = ("AVX512_CORE_BF16", "AVX512_CORE_AMX", "AVX512_CORE_AMX_FP16", "AVX10_1_512_AMX", "ALL")


def check_mixed_precision():
    """Refuse bfloat16 compute where TensorFlow has no bfloat16 matrix kernel: there, oneDNN
    aborts the whole process (not an exception) at the first bfloat16 matmul."""
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        return
    isa = os.environ.get("ONEDNN_MAX_CPU_ISA", "ALL").upper()
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    if isa in BF16_ISAS and "avx512_bf16" in flags:
        return
    raise ConfigError(
        f"mixed_precision needs bfloat16 matrix kernels, which this CPU set-up lacks (oneDNN limited "
        f"to {isa}; tune_widgets limits it to AVX2 to avoid a TensorFlow crash). It was not faster on "
        f"our CPU either: fit without it. To try anyway on a CPU with avx512_bf16, set "
        f"ONEDNN_MAX_CPU_ISA=AVX512_CORE_BF16 before importing tune_widgets."
    )


@contextlib.contextmanager
def mixed_precision(model, enabled=True):
    """Within the block, every layer computes in bfloat16 and keeps float32 weights; the output
    layer stays float32, so the loss and the probabilities are float32. Restored afterwards."""
    if not enabled:
        yield
        return
    layers = [sub for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)
              for sub in keras_internals.sublayers(layer, include_self=True, recursive=True)]
    output_layer = keras_internals.producing_layer(keras.tree.flatten(model.outputs)[0])
    keep = {id(sub) for sub in keras_internals.sublayers(output_layer, include_self=True, recursive=True)}
    saved = [(layer, layer.dtype_policy) for layer in layers]
    try:
        for layer in layers:
            if id(layer) not in keep:
                layer.dtype_policy = POLICY
        yield
    finally:
        for layer, policy in saved:
            layer.dtype_policy = policy


JIT_ADVICE = "XLA could not compile this model: fit with jit_compile=False (the default)."
