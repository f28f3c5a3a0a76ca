"""The model being tuned: where it comes from, its head and task, and what can change in it.

- `sources`, `hub`, `families`: what a source names, hub ids as local folders (cache or
  download), per-architecture facts; `backbone`: one `load_backbone` (a loader per kind).
- `head`: the head spec, the FineTuneModel that puts a head on a backbone, token pooling.
- `task`: Classification and Regression, each owning its loss, metrics, outputs and report.
- `user_models`: opening a user's nested model, its image preprocessing.
- `freezing`: the freeze plan, the layer table, selectors.
- `lora`: low-rank adapters.
- `snapshot`, `reset`: weights kept and put back.
- `keras_internals`: every private Keras access, behind a named function; `upstream_fixes`:
  workarounds for bugs in pinned libraries, each named.
- `predict`: predictions and evaluation reports.
"""

from .backbone import APPLICATION_NAMES, Backbone, load_backbone
from .head import POOLINGS, FineTuneModel, HeadSpec, TokenPooling, build_classifier, input_names
from .task import CLASSIFICATION, REGRESSION, Classification, Regression, Task, task_named

__all__ = ["APPLICATION_NAMES", "CLASSIFICATION", "POOLINGS", "REGRESSION", "Backbone", "Classification",
           "FineTuneModel", "HeadSpec", "Regression", "Task", "TokenPooling", "build_classifier", "input_names",
           "load_backbone", "task_named"]
