"""Panels: thin views over a `Session`. Each works alone; `dashboard` shows them together."""

import ipywidgets as widgets

from .data_panel import DataPanel
from .evaluation_panel import EvaluationPanel
from .export_panel import ExportPanel
from .layer_map import LayerMap
from .model_panel import ModelPanel
from .optimizer_panel import OptimizerPanel
from .runs_panel import RunsPanel
from .training_panel import TrainingPanel
from .tuning_panel import TuningPanel


class Dashboard(widgets.VBox):
    """Every panel over one session: model, data and optimizer beside the layer map, then
    training, tuning, evaluation, export and the runs."""

    def __init__(self, session, epochs=3):
        self.session = session
        self.model_panel = ModelPanel(session)
        self.data_panel = DataPanel(session)
        self.layer_map = LayerMap(session)
        self.optimizer_panel = OptimizerPanel(session)
        self.training_panel = TrainingPanel(session, epochs=epochs)
        self.tuning_panel = TuningPanel(session)
        self.evaluation_panel = EvaluationPanel(session)
        self.runs_panel = RunsPanel(session)
        self.export_panel = ExportPanel(session)
        left = widgets.VBox([self.model_panel, self.data_panel, self.optimizer_panel], layout=widgets.Layout(width="40%"))
        right = widgets.VBox([widgets.HTML("<b>Layers</b> (click to freeze; shift-click for a range)"), self.layer_map],
                             layout=widgets.Layout(width="60%"))
        super().__init__([widgets.HBox([left, right]), self.training_panel, self.tuning_panel, self.evaluation_panel,
                          self.export_panel, self.runs_panel])
        self.add_class("tw-dashboard")


def dashboard(session, epochs=3):
    """All panels over `session`, in one widget."""
    return Dashboard(session, epochs=epochs)


__all__ = ["Dashboard", "DataPanel", "EvaluationPanel", "ExportPanel", "LayerMap", "ModelPanel", "OptimizerPanel", "RunsPanel",
           "TrainingPanel", "TuningPanel", "dashboard"]
