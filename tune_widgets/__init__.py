"""tune-widgets: interactive fine-tuning of pretrained Keras models in JupyterLab.

The core (this package's top level) knows nothing of widgets: `Session` holds the state and
every operation. The panels in `tune_widgets.widgets` are views over a session.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# TensorFlow 2.21's oneDNN AVX-512 kernels crash the process (segfault, "double free") on the
# filter gradient of 1×1 stride-2 convolutions with few channels at 48 px and more: training the
# `fer` CNN unfrozen dies this way. The AVX2 kernels are correct and measured as fast on our
# CPUs. It takes effect if set before TensorFlow runs its first oneDNN op; set it yourself to
# choose otherwise.
os.environ.setdefault("ONEDNN_MAX_CPU_ISA", "AVX2")

from .data import LabelledData, labelled, split  # noqa: E402
from .datasets import load_digits, load_tweets, minilm_folder  # noqa: E402
from .errors import (  # noqa: E402
    CheckpointError,
    ConfigError,
    DataError,
    FitError,
    LayerSelectionError,
    ModelSourceError,
    StateError,
    TuneWidgetsError,
    TuneWidgetsWarning,
    UnknownModelError,
    WeightsUnavailableError,
)
from .evaluation import EvaluationReport  # noqa: E402
from .freezing import FreezePlan, LayerInfo  # noqa: E402
from .models import FineTuneModel, HeadSpec  # noqa: E402
from .optim import OptimizerSpec  # noqa: E402
from .session import Session  # noqa: E402
from .training import Callback, RunRecord  # noqa: E402

QUICK = os.environ.get("TUNE_WIDGETS_QUICK", "") not in ("", "0")

__all__ = [
    "Callback", "CheckpointError", "ConfigError", "DataError", "EvaluationReport", "FineTuneModel", "FitError",
    "FreezePlan", "HeadSpec", "LabelledData", "LayerInfo", "LayerSelectionError", "ModelSourceError",
    "OptimizerSpec", "QUICK", "RunRecord", "Session", "StateError", "TuneWidgetsError", "TuneWidgetsWarning",
    "UnknownModelError", "WeightsUnavailableError", "labelled", "load_digits", "load_tweets",
    "minilm_folder", "split",
]
