"""Runs: a table of every run (this session's and those on disk), their curves overlaid, the
config fields that differ, and restore / delete / export.

The table is the session's `runs`: a fit from a cell appears as it starts and its row follows
its epochs. Curves are drawn in one FigureWidget, reused for every selection (each instance
carries a ~5 MB front end) and built at the first (see figures.py); the comparison itself is
plain data from `runs.compare`.
"""

import html

import ipywidgets as widgets
import plotly.colors
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..errors import StateError
from ..runs.compare import config_diff, overlay, summary
from .base import Panel, labelled
from .figures import LazyFigure
from .render import table

COLUMNS = (("run_id", "run", 8), ("started", "started", 16), ("status", "status", 11), ("plan", "freeze plan", 30),
           ("optimizer", "optimizer", 24), ("epochs", "epochs", 7), ("best", "best validation", 28))
PANEL_OF = {"loss": 1, "val_loss": 1, "accuracy": 2, "val_accuracy": 2}  # the chart's two panels
STYLE = "<style>.tw-runs-table select, .tw-runs-header {font-family: monospace; font-size: 12px}</style>"


class RunsPanel(Panel):
    title = "Runs"
    css_class = "tw-runs-panel"

    def __init__(self, session):
        self.header = widgets.HTML(STYLE + f'<pre class="tw-runs-header" style="margin:0">{html.escape(row_text(None))}</pre>')
        self.table = widgets.SelectMultiple(options=[], rows=6, layout=widgets.Layout(width="auto"))
        self.table.add_class("tw-runs-table")
        self.chart_box = LazyFigure(_runs_chart)
        self.diff = widgets.HTML()
        self.diff.add_class("tw-runs-diff")
        self.weights = widgets.ToggleButtons(options=["last", "best"], value="last", style={"button_width": "50px"})
        self.restore = widgets.Button(description="Restore weights", icon="undo")
        self.delete = widgets.Button(description="Delete…", icon="trash")
        self.confirm = widgets.Button(description="Delete", button_style="danger")
        self.cancel = widgets.Button(description="Cancel")
        self.question = widgets.HTML()
        self.confirmation = widgets.HBox([self.question, self.confirm, self.cancel], layout=widgets.Layout(display="none"))
        self.path = widgets.Text("train.py", layout=widgets.Layout(width="200px"))
        self.export = widgets.Button(description="Export script", icon="file-code-o")
        self.message = widgets.HTML()
        for button, name in ((self.restore, "restore"), (self.delete, "delete"), (self.confirm, "confirm"),
                             (self.export, "export")):
            button.add_class(f"tw-runs-{name}")
        super().__init__(session, [
            self.header, self.table,
            widgets.HBox([self.weights, self.restore, self.delete, labelled("Export to", self.path, "70px"), self.export],
                         layout=widgets.Layout(flex_flow="row wrap")),  # a half-width column wraps them
            self.confirmation, self.message, widgets.HBox([self.chart_box, self.diff]),
        ])
        self._shown = {}  # run_id -> (status, epochs) drawn, to redraw only what changed
        self._refreshing = False
        self.table.observe(self._on_select, names="value")
        self.restore.on_click(lambda _: self._act(self._restore))
        self.delete.on_click(lambda _: self._act(self._ask_delete))
        self.confirm.on_click(lambda _: self._act(self._delete))
        self.cancel.on_click(lambda _: self._close_confirmation())
        self.export.on_click(lambda _: self._act(self._export))
        session.observe(self._show_runs, names=["runs", "progress"])
        self._show_runs()

    @property
    def chart(self):
        """The curves' FigureWidget (built on first use)."""
        return self.chart_box.figure

    # ---- the table follows the session ---------------------------------------------------------

    def _show_runs(self, change=None):
        runs = self.session.runs
        state = {run.run_id: (run.status, len(run.epochs)) for run in runs}
        if state == self._shown:
            return
        changed = {run_id for run_id, seen in state.items() if self._shown.get(run_id) != seen}
        self._shown = state
        before = self.table.value
        selected = tuple(run_id for run_id in before if run_id in state)
        self._refreshing = True
        try:
            self.table.options = [(row_text(summary(run)), run.run_id) for run in reversed(runs)]  # newest first
            self.table.value = selected
        finally:
            self._refreshing = False
        if changed & set(selected) or selected != before:
            self._show_selection()

    def _on_select(self, change):
        if not self._refreshing:
            self._show_selection()

    def selected_runs(self):
        """The selected RunRecords, oldest first."""
        chosen = set(self.table.value)
        return [run for run in self.session.runs if run.run_id in chosen]

    def _show_selection(self):
        runs = self.selected_runs()
        curves = overlay(runs)
        palette = plotly.colors.qualitative.Plotly
        color = {run.run_id: palette[i % len(palette)] for i, run in enumerate(runs)}
        self.chart.data = []
        if curves:
            self.chart.add_traces(
                [go.Scatter(x=list(c.x), y=list(c.y), mode="lines+markers", name=f"{c.run_id} {c.metric}",
                            legendgroup=c.run_id, line={"color": color[c.run_id],
                                                        "dash": "dash" if c.metric.startswith("val_") else None})
                 for c in curves],
                rows=[1] * len(curves), cols=[PANEL_OF.get(c.metric, 1) for c in curves])
        self.diff.value = diff_table(runs)

    # ---- actions ---------------------------------------------------------------------------------

    def _act(self, action):
        self.message.value = ""
        self.attempt(action)

    def _one(self, doing):
        runs = self.selected_runs()
        if len(runs) != 1:
            raise StateError(f"Select exactly one run to {doing} (selected: {len(runs)}).")
        return runs[0]

    def _restore(self):
        run = self._one("restore")
        self.session.load_run(run.run_id, weights=self.weights.value)
        self.message.value = f"Restored the {self.weights.value} weights of run {html.escape(run.run_id)}."

    def _ask_delete(self):
        runs = self.selected_runs()
        if not runs:
            raise StateError("Select the runs to delete first.")
        ids = ", ".join(run.run_id for run in runs)
        where = "their folders too" if self.session.runs_dir is not None else "from this session"
        self.question.value = f"Delete {len(runs)} run{'s' if len(runs) > 1 else ''} ({html.escape(ids)}), {where}?"
        self.confirmation.layout.display = "flex"

    def _delete(self):
        runs = self.selected_runs()
        self._close_confirmation()
        for run in runs:
            self.session.delete_run(run.run_id)
        self.message.value = f"Deleted {len(runs)} run{'s' if len(runs) != 1 else ''}."

    def _close_confirmation(self):
        self.confirmation.layout.display = "none"

    def _export(self):
        run = self._one("export")
        path = self.session.export_script(self.path.value.strip(), run=run.run_id)
        self.message.value = f"Wrote <code>{html.escape(str(path))}</code>."


def _runs_chart():
    chart = go.FigureWidget(make_subplots(rows=1, cols=2, subplot_titles=("loss (dashed: validation)",
                                                                        "accuracy (dashed: validation)")))
    chart.update_layout(height=280, margin={"l": 40, "r": 10, "t": 30, "b": 30}, showlegend=True)
    chart.update_xaxes(title_text="epoch")
    chart.add_class("tw-runs-chart")
    return chart


def row_text(row):
    """One fixed-width line of the table (the header when `row` is None)."""
    cells = []
    for key, title, width in COLUMNS:
        text = title if row is None else str(row[key])
        cells.append((text[:width - 1] + "…" if len(text) > width else text).ljust(width))
    return "  ".join(cells).rstrip()


def diff_table(runs):
    """The config fields that differ between the selected runs, as an HTML table."""
    if len(runs) < 2:
        return "<i>Select two or more runs to compare their configs.</i>"
    diff = config_diff([run.config for run in runs])
    if not diff:
        return "<i>The selected runs have the same config.</i>"
    return "<b>What differs</b>" + table(
        ("field", *(html.escape(run.run_id) for run in runs)),
        ((f"<code>{html.escape(field)}</code>", *(html.escape(_short(value)) for value in values))
         for field, values in diff.items()))


def _short(value):
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)) and len(value) > 4:
        return f"{len(value)} items: {', '.join(map(str, value[:2]))}, …, {value[-1]}"
    return "—" if value is None else str(value)
