"""tune-widgets: interactive fine-tuning of pretrained Keras models in JupyterLab.

The core (this package's top level) knows nothing of widgets: `Session` holds the state and
every operation. The panels in `tune_widgets.widgets` are views over a session.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from .data import LabelledData, labelled, split  # noqa: E402
from .datasets import load_digits, load_tweets, minilm_folder  # noqa: E402
from .errors import (  # noqa: E402
    CheckpointError,
    ConfigError,
    DataError,
    LayerSelectionError,
    ModelSourceError,
    StateError,
    TuneWidgetsError,
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
    "Callback", "CheckpointError", "ConfigError", "DataError", "EvaluationReport", "FineTuneModel",
    "FreezePlan", "HeadSpec", "LabelledData", "LayerInfo", "LayerSelectionError", "ModelSourceError",
    "OptimizerSpec", "QUICK", "RunRecord", "Session", "StateError", "TuneWidgetsError",
    "UnknownModelError", "WeightsUnavailableError", "labelled", "load_digits", "load_tweets",
    "minilm_folder", "split",
]
