"""The runs panel without a browser: compare, restore, delete (with its confirm step), export."""

import pytest

import tune_widgets as tw
from tune_widgets.runs import config_diff, overlay
from tune_widgets.models.snapshot import WeightSnapshot
from tune_widgets.widgets import RunsPanel

pytestmark = pytest.mark.runs


def test_the_diff_leaves_out_measurements_and_names_missing_fields():
    base = {"optimizer": {"learning_rate": 0.001, "schedule": "constant"}, "cache": {"used": True, "seconds": 1.5}}
    other = {"optimizer": {"learning_rate": 0.01, "schedule": "constant"}, "cache": {"used": True, "seconds": 0.2},
             "resumed_from": {"run_id": "ab12cd34"}}
    assert config_diff([base, other]) == {"optimizer.learning_rate": [0.001, 0.01],
                                          "resumed_from.run_id": [None, "ab12cd34"]}
    assert config_diff([base, base]) == {}


def test_the_panel_compares_restores_deletes_and_exports_runs(file_session, runs_dir, tmp_path):
    panel = RunsPanel(file_session)  # open before the fits: runs from cells appear in it
    first = file_session.fit(epochs=2, seed=0)
    after_first = WeightSnapshot.of(file_session.model)
    file_session.set_optimizer(learning_rate=0.01)
    second = file_session.fit(epochs=1, seed=0)
    assert [run_id for _, run_id in panel.table.options] == [second.run_id, first.run_id]  # newest first
    label = panel.table.options[1][0]
    assert all(word in label for word in (first.run_id, "completed", "up to conv1_relu", "adam @ 0.001", "2/2",
                                          "val_loss"))

    assert config_diff([first.config, second.config]) == {"epochs": [2, 1], "optimizer.learning_rate": [0.001, 0.01]}
    curves = overlay([first, second])
    assert [(c.run_id, c.metric) for c in curves] == [(run.run_id, metric) for run in (first, second)
                                                      for metric in ("loss", "val_loss", "accuracy", "val_accuracy")]
    assert curves[0].x == (1, 2) and curves[0].y == tuple(row["loss"] for row in first.epochs)

    chart = panel.chart
    panel.table.value = (second.run_id, first.run_id)
    assert sorted(trace.name for trace in chart.data) == sorted(f"{c.run_id} {c.metric}" for c in curves)
    assert list(chart.data[0].y) == [row["loss"] for row in first.epochs]
    assert "<code>epochs</code>" in panel.diff.value and "<code>optimizer.learning_rate</code>" in panel.diff.value
    assert panel.diff.value.count("<code>") == 2

    panel.restore.click()
    assert "Select exactly one run to restore (selected: 2)" in panel.error_text
    panel.table.value = (first.run_id,)
    assert len(chart.data) == 4 and panel.chart is chart  # one figure, reused
    panel.restore.click()
    assert panel.error_text == "" and after_first.equals(file_session.model)
    assert file_session.optimizer.learning_rate == 0.001  # the run's optimizer spec came back too

    panel.path.value = str(tmp_path / "train.py")
    panel.export.click()
    assert (tmp_path / "train.py").exists() and "Wrote" in panel.message.value

    panel.table.value = (second.run_id,)
    panel.delete.click()
    assert panel.confirmation.layout.display == "flex" and second.run_id in panel.question.value
    panel.cancel.click()
    assert panel.confirmation.layout.display == "none" and len(file_session.runs) == 2
    panel.delete.click()
    panel.confirm.click()
    assert file_session.runs == [first] and [run_id for _, run_id in panel.table.options] == [first.run_id]
    assert [path.name[-8:] for path in runs_dir.iterdir()] == [first.run_id]

    restarted = RunsPanel(tw.Session(runs_dir=runs_dir))  # after a kernel restart, from disk
    assert [run_id for _, run_id in restarted.table.options] == [first.run_id]
