"""Panels: thin views over a `Session`. Each works alone; `dashboard` shows them together."""

import ipywidgets as widgets

from .data_panel import DataPanel
from .evaluation_panel import EvaluationPanel
from .export_panel import ExportPanel
from .figures import prefetch
from .layer_map import LayerMap
from .model_panel import ModelPanel
from .optimizer_panel import OptimizerPanel
from .runs_panel import RunsPanel
from .training_panel import TrainingPanel
from .tuning_panel import TuningPanel


class Dashboard(widgets.VBox):
    """Every panel over one session, laid out for a laptop screen (1366×768 and up) in the order
    of the work: model, data and optimizer side by side; the layer map beside the training panel
    and its chart; evaluation beside the runs; then export and the tuning tools. Each row wraps
    to one column where the notebook is narrower than its panels."""

    def __init__(self, session, epochs=3):
        prefetch()  # plotly's widgets load while the page is read; the charts are built when first drawn
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
        layers = widgets.VBox([widgets.HTML("<b>Layers</b> (click to freeze; shift-click for a range)"), self.layer_map])
        layers.add_class("tw-layers-column")
        super().__init__([
            _row([(self.model_panel, 1), (self.data_panel, 1), (self.optimizer_panel, 1)], "tw-setup-row"),
            _row([(layers, 2), (self.training_panel, 3)], "tw-train-row"),
            _row([(self.evaluation_panel, 1), (self.runs_panel, 1)], "tw-results-row"),
            self.export_panel,
            self.tuning_panel,
        ])
        self.add_class("tw-dashboard")


def _row(cells, css_class, basis="340px"):
    """An HBox of (widget, share) that wraps: each cell grows by its share, none below `basis`."""
    for widget, share in cells:
        widget.layout.flex, widget.layout.min_width = f"{share} 1 {basis}", "0"
        widget.layout.margin = "0 12px 8px 0"
    row = widgets.HBox([widget for widget, _ in cells], layout=widgets.Layout(flex_flow="row wrap", width="100%",
                                                                                align_items="flex-start"))
    row.add_class(css_class)
    return row


def dashboard(session, epochs=3):
    """All panels over `session`, in one widget."""
    return Dashboard(session, epochs=epochs)


__all__ = ["Dashboard", "DataPanel", "EvaluationPanel", "ExportPanel", "LayerMap", "ModelPanel", "OptimizerPanel", "RunsPanel",
           "TrainingPanel", "TuningPanel", "dashboard"]
