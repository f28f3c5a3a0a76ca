"""tune-widgets: interactive fine-tuning of pretrained Keras models in JupyterLab.

The core (this package's top level) knows nothing of widgets: `Session` holds the state and
every operation. The panels in `tune_widgets.widgets` are views over a session.
"""

import os

from . import environment

environment.configure()  # before TensorFlow, Keras or transformers are first imported
environment.import_tensorflow()

from .data.labelled import LabelledData, labelled, split  # noqa: E402
from .data.datasets import load_digits, load_faces, load_tweets, minilm_folder, mobilenetv2_file  # noqa: E402
from .errors import CheckpointError, ConfigError, DataError, ExportError, FitError, LayerSelectionError, ModelSourceError, RunError, SaveError, StateError, TuneWidgetsError, TuneWidgetsWarning, UnknownModelError, WeightsUnavailableError
from .evaluation import EvaluationReport, RegressionReport  # noqa: E402
from .data import read_csv, read_images  # noqa: E402
from .models.freezing import FreezePlan, LayerInfo  # noqa: E402
from .models.head import FineTuneModel, HeadSpec  # noqa: E402
from .training.optimizers import OptimizerSpec  # noqa: E402
from .session import Session  # noqa: E402
from .runs.record import RunRecord  # noqa: E402
from .training import Callback  # noqa: E402

QUICK = os.environ.get("TUNE_WIDGETS_QUICK", "") not in ("", "0")

__all__ = [
    "Callback", "CheckpointError", "ConfigError", "DataError", "EvaluationReport", "FineTuneModel", "FitError",
    "FreezePlan", "HeadSpec", "LabelledData", "LayerInfo", "LayerSelectionError", "ModelSourceError",
    "ExportError", "OptimizerSpec", "QUICK", "RegressionReport", "RunError", "RunRecord", "SaveError", "Session", "StateError",
    "TuneWidgetsError",
    "TuneWidgetsWarning", "UnknownModelError", "WeightsUnavailableError", "labelled", "load_digits", "load_faces",
    "load_tweets", "minilm_folder", "mobilenetv2_file", "read_csv", "read_images", "split",
]
