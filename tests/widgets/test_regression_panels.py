"""The training and evaluation panels on regression data: MAE traces, a scatter and a residual
histogram in the panels' existing figures."""

import numpy as np
import plotly.graph_objects as go
import pytest

import tune_widgets as tw
from tests.core.test_regression import linear_problem, mlp
from tune_widgets.widgets import DataPanel, EvaluationPanel, TrainingPanel

pytestmark = pytest.mark.tuning


def figures(widget):
    if isinstance(widget, go.FigureWidget):
        yield widget
    for child in getattr(widget, "children", ()):
        yield from figures(child)


def test_regression_shows_its_metrics_and_plots_and_classes_bring_the_matrix_back():
    x, y = linear_problem(120)
    session = tw.Session().load_model(mlp(), head=tw.HeadSpec(dropout=0.0)).set_data(x, y)
    training, evaluation, data = TrainingPanel(session, epochs=2), EvaluationPanel(session), DataPanel(session)
    assert "regression targets from" in data.summary.value and data.chart.value.count("<rect") > 0
    run = training.start().result(60)
    chart = training.chart.data
    assert (chart[3].name, chart[4].name) == ("train MAE", "validation MAE")
    assert list(chart[4].y) == [row["val_mae"] for row in run.epochs]

    evaluation.run.click()
    report = session.evaluation
    kinds = [type(trace).__name__ for trace in evaluation.figure.data]
    assert kinds == ["Scatter", "Scatter", "Histogram"]
    assert list(evaluation.figure.data[0].x) == report.true.tolist()
    assert np.allclose(evaluation.figure.data[2].x, report.residuals)
    assert "tw-regression-plots" in evaluation.figure._dom_classes and "tw-confusion" not in evaluation.figure._dom_classes
    assert "R²" in evaluation.summary.value and "RMSE" in evaluation.table.value
    assert evaluation.worst.value.count("<tr>") == 1 + 5

    session.set_data(x, (y > np.median(y)).astype(int), class_names=["low", "high"])
    training.start().result(60)
    assert chart[3].name == "train accuracy"
    evaluation.run.click()
    assert isinstance(evaluation.figure.data[0], go.Heatmap) and len(evaluation.figure.data) == 1
    assert list(evaluation.figure.data[0].x) == ["low", "high"]
    assert "tw-confusion" in evaluation.figure._dom_classes and evaluation.figure.layout.xaxis2.visible is False
    assert len(list(figures(evaluation))) == 1  # both reports share the panel's one figure
