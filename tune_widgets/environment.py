"""TensorFlow's environment, set before it is first imported, and a quiet first import.

TensorFlow 2.21 logs through absl from its shared libraries' static initialisers, before it reads
TF_CPP_MIN_LOG_LEVEL: every import prints "oneDNN custom operations are on", "Could not find
cuda drivers" and absl's "All log messages before absl::InitializeLog()" notice (once per
library that carries its own absl), and the first device query prints "failed call to cuInit".
No environment variable reaches those lines (TF_CPP_MIN_LOG_LEVEL=3, TF_ENABLE_ONEDNN_OPTS,
GLOG_minloglevel and CUDA_VISIBLE_DEVICES were all tried), and in a notebook ipykernel shows
C-level stderr as a red block, which looks like an error. So the first import runs with the
process's stderr (file descriptor 2) captured, and only what TF_CPP_MIN_LOG_LEVEL would have
hidden, plus CUDA's "there is no GPU here" errors, is dropped; every other line is written back.
"""

import contextlib
import os
import re
import sys
import tempfile

DEFAULTS = {
    "KERAS_BACKEND": "tensorflow",
    "TF_CPP_MIN_LOG_LEVEL": "2",  # INFO and WARNING off once TensorFlow reads it
    # "PyTorch was not found": true, and irrelevant to a TensorFlow toolkit that only uses
    # transformers' tokenizers. Its logger reads this when transformers is first imported.
    "TRANSFORMERS_VERBOSITY": "error",
    # TensorFlow 2.21's oneDNN AVX-512 kernels crash the process (segfault, "double free") on
    # the filter gradient of 1×1 stride-2 convolutions with few channels at 48 px and more:
    # training the `fer` CNN unfrozen dies this way. The AVX2 kernels are correct and measured
    # as fast on our CPUs. It takes effect if set before TensorFlow runs its first oneDNN op.
    "ONEDNN_MAX_CPU_ISA": "AVX2",
}

# An absl log line: severity letter, MMDD, time, thread id, file:line] message.
ABSL_LINE = re.compile(r"^([IWEF])\d{4} [\d:.]+\s+\d+ [\w.]+:\d+\] (.*)$")
ABSL_PREAMBLE = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
NO_GPU = ("failed call to cuInit", "Could not find cuda drivers", "Unable to register cuDNN factory",
          "Unable to register cuFFT factory", "Unable to register cuBLAS factory",
          "computation placer already registered", "TF-TRT Warning: Could not find TensorRT")
SEVERITIES = "IWEF"


def configure():
    """Set the defaults above where the user has not chosen otherwise."""
    for name, value in DEFAULTS.items():
        os.environ.setdefault(name, value)


def import_tensorflow():
    """Import TensorFlow and probe its devices with start-up notices filtered out of stderr.

    The device probe belongs here: it is when CUDA is initialised, and on a machine without a
    GPU that prints an error line that would otherwise appear on the first model load.
    """
    if "tensorflow" not in sys.modules:
        with filtered_stderr(is_startup_noise):
            import tensorflow

            tensorflow.config.list_physical_devices()
    tf = sys.modules["tensorflow"]
    tf.get_logger().addFilter(_not_retracing)  # a logger keeps one copy of a filter
    return tf


def _not_retracing(record):
    """Every fit compiles afresh (so no freeze change is ever ignored), and TensorFlow warns
    after a few fits that functions were traced again: by design here, so not shown."""
    return "triggered tf.function retracing" not in record.getMessage()


def is_startup_noise(line, min_level=None):
    """Whether a native stderr line is a start-up notice the user did not ask to see."""
    if line.strip() == ABSL_PREAMBLE:
        return True
    match = ABSL_LINE.match(line.strip())
    if match is None:
        return False
    severity, message = match.groups()
    if min_level is None:
        min_level = _min_level()
    return SEVERITIES.index(severity) < min_level or any(text in message for text in NO_GPU)


def _min_level():
    try:
        return int(os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0"))
    except ValueError:
        return 0


@contextlib.contextmanager
def filtered_stderr(drop):
    """Capture file descriptor 2 (C-level stderr) for the block; then write back every line for
    which `drop(line)` is false. Without a usable descriptor 2 the block runs as is."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    with tempfile.TemporaryFile() as capture:
        _flush()
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            _flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            kept = [line for line in capture.read().decode(errors="replace").splitlines(keepends=True)
                    if not drop(line)]
            if kept:
                os.write(2, "".join(kept).encode())


def _flush():
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
