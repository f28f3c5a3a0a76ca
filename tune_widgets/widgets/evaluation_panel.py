"""Evaluation: confusion matrix with class names, per-class precision/recall/F1, worst examples."""

import html

import ipywidgets as widgets
import plotly.graph_objects as go

from .base import Panel
from .render import example_html


class EvaluationPanel(Panel):
    title = "Evaluation"
    css_class = "tw-evaluation-panel"

    def __init__(self, session, k=5):
        self.k = k
        self.run = widgets.Button(description="Evaluate", icon="check")
        self.run.add_class("tw-evaluate")
        self.confusion = go.FigureWidget(go.Heatmap(z=[[0]], colorscale="Blues", showscale=False))
        self.confusion.update_layout(height=340, width=420, margin={"l": 80, "r": 10, "t": 30, "b": 60},
                                     xaxis_title="predicted", yaxis_title="true", title="confusion matrix")
        self.confusion.add_class("tw-confusion")
        self.table = widgets.HTML()
        self.table.add_class("tw-per-class")
        self.worst = widgets.HTML()
        self.worst.add_class("tw-worst")
        self.summary = widgets.HTML()
        self.results = widgets.HBox([self.confusion, self.table], layout=widgets.Layout(display="none"))
        super().__init__(session, [self.run, self.summary, self.results, self.worst])
        self.run.on_click(lambda _: self.attempt(session.evaluate, k=self.k))
        session.observe(self._show, names=["evaluation"])
        session.observe(lambda c: setattr(self.run, "disabled", c["new"]), names=["training"])
        self.clear_error_when("evaluation", "training", "model")
        self._show()

    def _show(self, change=None):
        report = self.session.evaluation
        if report is None:
            self.summary.value = "<i>No evaluation yet: train, then click Evaluate.</i>"
            return
        self.results.layout.display = "flex"  # hidden until there is a matrix to show
        names = list(report.class_names)
        with self.confusion.batch_update():
            heatmap = self.confusion.data[0]
            heatmap.z, heatmap.x, heatmap.y = report.confusion[::-1].tolist(), names, names[::-1]
            heatmap.text = report.confusion[::-1].tolist()
            heatmap.texttemplate = "%{text}"
        self.summary.value = (f"<b>{html.escape(report.name)}</b>: {int(report.support.sum())} examples · "
                              f"accuracy <b>{report.accuracy:.3f}</b> · loss {report.loss:.4f} · "
                              f"macro F1 {report.macro_f1:.3f}")
        rows = "".join(
            f"<tr><td>{html.escape(r['class'])}</td><td>{r['precision']:.2f}</td><td>{r['recall']:.2f}</td>"
            f"<td>{r['f1']:.2f}</td><td>{r['support']}</td></tr>" for r in report.per_class()
        )
        self.table.value = ("<table><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th>"
                            f"<th>support</th></tr>{rows}</table>")
        items = "".join(
            f"<tr><td>{example_html(e.example)}</td><td>{html.escape(e.true)}</td><td>{html.escape(e.predicted)}</td>"
            f"<td>{e.confidence:.2f}</td></tr>" for e in report.worst
        )
        self.worst.value = ("<b>Worst examples</b> (highest loss)<table><tr><th>example</th><th>true</th>"
                            f"<th>predicted</th><th>p(true)</th></tr>{items}</table>")
