"""The workshop page (served by Voilà, `make app`): the dashboard's panels for a room that
writes no code, each browser tab with its own kernel, session and folder (`saving.Sandbox`).

No panel on it takes a free path: the model is a shipped one or from the catalogue, the data a
shipped set or an upload, and uploads and exports land in the tab's own folder; the export's
Download button sends it over the tab's own kernel connection.
"""

import ipywidgets as widgets

from ..errors import TuneWidgetsError
from ..saving.sandbox import Sandbox
from ..session import Session
from .data_panel import DataPanel
from .evaluation_panel import EvaluationPanel
from .export_panel import ExportPanel
from .layer_map import LayerMap
from .model_panel import ModelPanel
from .training_panel import TrainingPanel


class WorkshopPage(widgets.VBox):
    def __init__(self, session, sandbox, epochs=3):
        self.session, self.sandbox = session, sandbox
        self.model_panel = ModelPanel(session, paths=False)
        self.data_panel = DataPanel(session, paths=False)
        self.layer_map = LayerMap(session)
        self.training_panel = TrainingPanel(session, epochs=epochs)
        self.evaluation_panel = EvaluationPanel(session)
        self.export_panel = ExportPanel(session, folder=sandbox.folder)
        for upload in (self.data_panel.csv_upload, self.data_panel.image_upload):
            upload.observe(self._keep, names="value")
        left = widgets.VBox([self.model_panel, self.data_panel], layout=widgets.Layout(width="40%"))
        right = widgets.VBox([widgets.HTML("<b>Layers</b> (click to freeze)"), self.layer_map],
                             layout=widgets.Layout(width="60%"))
        super().__init__([widgets.HBox([left, right]), self.training_panel, self.evaluation_panel, self.export_panel])
        self.add_class("tw-workshop")

    def _keep(self, change):
        """Uploads are kept in the tab's folder too, under names that cannot leave it."""
        for item in change["new"]:
            try:
                self.sandbox.keep(item["name"], item["content"])
            except TuneWidgetsError as error:
                self.data_panel.show_error(str(error))


def workshop_page(root=None, epochs=3):
    """A page over a new session whose runs, uploads and exports stay in a new folder under `root`."""
    sandbox = Sandbox(root)
    return WorkshopPage(Session(runs_dir=sandbox.folder / "tune_runs"), sandbox, epochs=epochs)
