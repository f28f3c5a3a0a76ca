"""Evaluation: confusion matrix with class names, per-class precision/recall/F1, worst examples
with what decided each (Grad-CAM over pictures, highlighted tokens: `Session.explain`); for
regression, predicted against true and the residuals, in the same figure."""

import html

import ipywidgets as widgets
import numpy as np
import plotly.graph_objects as go

from ..errors import TuneWidgetsError
from ..evaluation import RegressionReport
from .base import Panel
from .figures import LazyFigure
from .render import example_html, heatmap_thumbnail, table, tokens_html

SIDE_BY_SIDE = {"xaxis": {"domain": [0, 0.46]}, "xaxis2": {"domain": [0.54, 1], "anchor": "y2", "visible": True},
                "yaxis2": {"anchor": "x2", "visible": True}}
ALONE = {"xaxis": {"domain": [0, 1]}, "xaxis2": {"visible": False}, "yaxis2": {"visible": False}}


class EvaluationPanel(Panel):
    title = "Evaluation"
    css_class = "tw-evaluation-panel"

    def __init__(self, session, k=5):
        self.k = k
        self.run = widgets.Button(description="Evaluate", icon="check")
        self.run.add_class("tw-evaluate")
        # One figure for either report (each FigureWidget carries a ~5 MB front end), built for
        # the first report (see figures.py).
        self.figure_box = LazyFigure(_report_figure)
        self.table = widgets.HTML()
        self.table.add_class("tw-per-class")
        self.worst = widgets.HTML()
        self.worst.add_class("tw-worst")
        self.summary = widgets.HTML()
        self.results = widgets.HBox([self.figure_box, self.table], layout=widgets.Layout(display="none"))
        super().__init__(session, [self.run, self.summary, self.results, self.worst])
        self.run.on_click(lambda _: self.attempt(session.evaluate, k=self.k))
        session.observe(self._show, names=["evaluation"])
        session.observe(lambda c: setattr(self.run, "disabled", c["new"]), names=["training"])
        self.clear_error_when("evaluation", "training", "model")
        self._show()

    @property
    def figure(self):
        """The report's FigureWidget (built on first use)."""
        return self.figure_box.figure

    def _show(self, change=None):
        report = self.session.evaluation
        if report is None:
            self.summary.value = "<i>No evaluation yet: train, then click Evaluate.</i>"
            return
        self.results.layout.display = "flex"  # hidden until there is a report to show
        if isinstance(report, RegressionReport):
            self._show_regression(report)
        else:
            self._show_classification(report)

    def _show_classification(self, report):
        names = list(report.class_names)
        with self.figure.batch_update():
            if not isinstance(self.figure.data[0], go.Heatmap):
                self.figure.data = []
                self.figure.add_trace(go.Heatmap(colorscale="Blues", showscale=False))
                self.figure.update_layout(width=420, title="confusion matrix", xaxis_title="predicted",
                                          yaxis_title="true", **ALONE)
            heatmap = self.figure.data[0]
            heatmap.z, heatmap.x, heatmap.y = report.confusion[::-1].tolist(), names, names[::-1]
            heatmap.text = report.confusion[::-1].tolist()
            heatmap.texttemplate = "%{text}"
        self._mark("tw-confusion")
        self.summary.value = (f"<b>{html.escape(report.name)}</b>: {int(report.support.sum())} examples · "
                              f"accuracy <b>{report.accuracy:.3f}</b> · loss {report.loss:.4f} · "
                              f"macro F1 {report.macro_f1:.3f}")
        self.table.value = table(
            ("class", "precision", "recall", "F1", "support"),
            ((html.escape(r["class"]), f"{r['precision']:.2f}", f"{r['recall']:.2f}", f"{r['f1']:.2f}", r["support"])
             for r in report.per_class()))
        why = self._why(report.worst)
        self.worst.value = "<b>Worst examples</b> (highest loss)" + table(
            ("example", "true", "predicted", "p(true)", *(("why (what decided it)",) if why else ())),
            ((example_html(e.example), html.escape(e.true), html.escape(e.predicted), f"{e.confidence:.2f}",
              *((reason,) if why else ())) for e, reason in zip(report.worst, why or [None] * len(report.worst))))

    def _why(self, worst):
        """Each worst example's explanation as HTML (Grad-CAM over the picture, highlighted
        tokens), or None where the model cannot be explained (feature vectors, no spatial layer)."""
        examples = [e.example for e in worst]
        if not examples or not (isinstance(examples[0], str) or np.ndim(examples[0]) >= 2):
            return None
        try:
            found = self.session.explain(examples)
        except TuneWidgetsError:
            return None
        return [f"{html.escape(item['class'])}: " + (tokens_html(item["tokens"]) if "tokens" in item
                                                    else heatmap_thumbnail(example, item["heatmap"]))
                for example, item in zip(examples, found)]

    def _show_regression(self, report):
        """Predicted against true (the diagonal is perfect) beside a histogram of the residuals."""
        low = float(min(report.true.min(), report.predicted.min()))
        high = float(max(report.true.max(), report.predicted.max()))
        with self.figure.batch_update():
            self.figure.data = []
            self.figure.add_trace(go.Scatter(x=report.true, y=report.predicted, mode="markers", name="examples",
                                             marker={"size": 5, "opacity": 0.6}))
            self.figure.add_trace(go.Scatter(x=[low, high], y=[low, high], mode="lines", name="perfect",
                                             line={"dash": "dot", "color": "gray"}))
            self.figure.add_trace(go.Histogram(x=report.residuals, name="residuals", xaxis="x2", yaxis="y2"))
            self.figure.update_layout(width=640, title="predicted against true · residuals", showlegend=False,
                                      xaxis_title="true", yaxis_title="predicted", **SIDE_BY_SIDE)
            self.figure.layout.xaxis2.title, self.figure.layout.yaxis2.title = "predicted − true", "examples"
        self._mark("tw-regression-plots")
        self.summary.value = (f"<b>{html.escape(report.name)}</b>: {len(report.true)} examples · "
                              f"RMSE <b>{report.rmse:.4f}</b> · MAE {report.mae:.4f} · R² {report.r2:.3f} · "
                              f"MSE (the loss) {report.mse:.4f}")
        self.table.value = table(("metric", "value"), ((name, f"{value:.4f}") for name, value in
                                                        (("MSE", report.mse), ("MAE", report.mae),
                                                         ("RMSE", report.rmse), ("R²", report.r2))))
        self.worst.value = "<b>Worst examples</b> (largest error)" + table(
            ("example", "true", "predicted", "|error|"),
            ((example_html(e.example), f"{e.true:.3g}", f"{e.predicted:.3g}", f"{abs(e.error):.3g}")
             for e in report.worst))

    def _mark(self, css_class):
        """Name what the figure shows, for pages and tests that look for it."""
        for name in ("tw-confusion", "tw-regression-plots"):
            self.figure.remove_class(name)
        self.figure.add_class(css_class)



def _report_figure():
    figure = go.FigureWidget(go.Heatmap(z=[[0]], colorscale="Blues", showscale=False))
    figure.update_layout(height=340, width=420, margin={"l": 80, "r": 10, "t": 30, "b": 60},
                         xaxis_title="predicted", yaxis_title="true", title="confusion matrix")
    figure.add_class("tw-confusion")
    return figure
