"""The run store in one process: what a fit writes, what a new session reads back, bad input."""

import json
import math
import warnings

import h5py
import keras
import numpy as np
import pytest

import tune_widgets as tw
from tune_widgets.runs.config import signature
from tune_widgets.runs.store import read_metrics, weights_marks
from tune_widgets.models.snapshot import WeightSnapshot
from tune_widgets.training import Callback


class Snapshots(Callback):
    """The whole model's weights after each epoch (after the RunWriter has saved them)."""

    order = 30

    def __init__(self, session):
        super().__init__()
        self.session, self.epochs = session, []

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append(WeightSnapshot.of(self.session.model))


def strict(text):
    return json.loads(text, parse_constant=lambda token: pytest.fail(f"invalid JSON token {token}"))


def only_folder(runs_dir):
    (folder,) = [path for path in runs_dir.iterdir() if path.is_dir()]
    return folder


def test_a_fit_writes_its_run_and_a_new_session_restores_it(file_session, runs_dir, digits):
    snapshots = Snapshots(file_session)
    run = file_session.fit(epochs=3, batch_size=3, seed=0, callbacks=[snapshots])  # 53 steps an epoch
    folder = only_folder(runs_dir)
    assert folder.name.endswith(run.run_id)
    assert sorted(p.name for p in folder.iterdir()) == ["best.weights.h5", "config.json", "last.weights.h5",
                                                        "metrics.jsonl", "signals.jsonl", "status.json"]
    config = strict((folder / "config.json").read_text())
    assert config["run_id"] == run.run_id and config["config"] == json.loads(json.dumps(run.config))
    assert config["config"]["cache"]["used"] and config["config"]["data"]["split"] == {"validation": 0.2, "seed": 0}
    status = strict((folder / "status.json").read_text())
    best = min(run.epochs, key=lambda row: row["val_loss"])
    assert status["status"] == "completed" and status["step"] == 3 * 53
    assert status["best"]["epoch"] == best["epoch"] and status["best"]["val_loss"] == best["val_loss"]
    rows = [strict(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    batch_rows = [row for row in rows if row["type"] == "batch"]
    assert len(batch_rows) == 3 * 27 and batch_rows[26]["step"] == 53  # thinned to ≤ 50 an epoch, ends kept
    assert weights_marks(folder / "best.weights.h5")["epochs"] == best["epoch"] + 1

    restarted = tw.Session(runs_dir=runs_dir)  # a kernel restart: the run is read back from disk
    (record,) = restarted.runs
    assert record.run_id == run.run_id and record.status == "completed" and record.epochs == run.epochs
    assert [row["step"] for row in record.batches] == [row["step"] for row in batch_rows]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        restarted.set_data(tw.load_digits(n=220, seed=0))
        restarted.load_run(run.run_id, weights="best")
    assert snapshots.epochs[best["epoch"]].equals(restarted.model)
    assert restarted.plan == file_session.plan and restarted.optimizer == file_session.optimizer
    assert [str(w.message) for w in caught if issubclass(w.category, tw.TuneWidgetsWarning)] == [
        f"The data differs from the data run {run.run_id} trained on: training examples 159 → 179. "
        f"Training goes on from its weights, on this data."]
    with pytest.warns(tw.TuneWidgetsWarning, match="The data differs"):
        restarted.load_run(run.run_id)  # the last weights, into the same model: a quick restore
    assert snapshots.epochs[-1].equals(restarted.model)


class ValidationLosses(Callback):
    """Sets each epoch's val_loss to the given values (the best epoch is then known)."""

    order = 7  # after Validation (5), before the Recorder (10)

    def __init__(self, *losses):
        super().__init__()
        self.losses = losses

    def on_epoch_end(self, epoch, logs=None):
        logs["val_loss"] = self.losses[epoch]


def test_slow_saves_are_spaced_out_and_a_best_epoch_between_them_is_kept(file_session, runs_dir, monkeypatch):
    from tune_widgets.runs import writer

    monkeypatch.setattr(writer, "CHEAP_SAVE", 0.0)
    monkeypatch.setattr(writer, "SAVE_TIME_SHARE", 1e-9)  # as if saving took forever: only the fit's end saves
    real_save, saves = writer.save_weights, []

    def spy(model, path, marks, also=None, values=None):
        saves.append((path.name, marks["epochs"], also is not None))
        return real_save(model, path, marks, also, values)

    monkeypatch.setattr(writer, "save_weights", spy)
    snapshots = Snapshots(file_session)
    run = file_session.fit(epochs=4, seed=0, callbacks=[snapshots, ValidationLosses(2.0, 1.0, 3.0, 4.0)])
    assert saves == [("last.weights.h5", 4, False), ("best.weights.h5", 2, False)]
    folder = only_folder(runs_dir)
    assert strict((folder / "status.json").read_text())["best"]["epoch"] == 1
    restored = tw.Session(runs_dir=runs_dir)
    assert restored.runs[0].epochs == run.epochs  # metrics were appended every epoch all along
    restored.load_run(run.run_id, weights="best")
    assert snapshots.epochs[1].equals(restored.model)
    restored.load_run(run.run_id)
    assert snapshots.epochs[-1].equals(restored.model) and snapshots.epochs[-1].equals(file_session.model)


class Poison(Callback):
    """Makes the first epoch's validation loss NaN and one batch's loss infinite."""

    order = 7  # after Validation (5), before the Recorder (10)

    def on_train_batch_end(self, batch, logs=None):
        if batch == 1:
            logs["loss"] = math.inf

    def on_epoch_end(self, epoch, logs=None):
        if epoch == 0:
            logs["val_loss"] = math.nan


def test_nan_and_infinite_metrics_are_written_as_null_and_never_best(file_session, runs_dir):
    run = file_session.fit(epochs=2, seed=0, callbacks=[Poison()])
    folder = only_folder(runs_dir)
    rows = [strict(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    assert rows[1]["loss"] is None and [row["val_loss"] for row in rows if row["type"] == "epoch"][0] is None
    assert strict((folder / "status.json").read_text())["best"]["epoch"] == 1
    (record,) = tw.Session(runs_dir=runs_dir).runs
    assert record.epochs[0]["val_loss"] is None and record.epochs[1]["val_loss"] == run.epochs[1]["val_loss"]


def test_a_torn_last_metrics_line_is_ignored(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"type": "batch", "step": 1}\n{"type": "epoch", "step": 1, "epo')
    assert read_metrics(path) == [{"type": "batch", "step": 1}]


def test_a_missing_or_damaged_run_is_a_clear_error_and_nothing_is_lost(file_session, runs_dir, tmp_path):
    with pytest.raises(tw.RunError, match="No run folder at .*nowhere"):
        tw.Session.resume(tmp_path / "nowhere")
    with pytest.raises(tw.RunError, match=r"No run 'deadbeef' in .*Known runs: none"):
        file_session.load_run("deadbeef")
    run = file_session.fit(epochs=1)
    folder = only_folder(runs_dir)
    with h5py.File(folder / "last.weights.h5", "r+") as handle:  # another run's weights, copied over
        handle.attrs["tune_widgets_signature"] = "0" * 16
    with pytest.raises(tw.RunError, match="last.weights.h5 holds the weights of a different model"):
        tw.Session.resume(folder)
    (folder / "best.weights.h5").write_bytes((folder / "best.weights.h5").read_bytes()[:5000])  # torn
    with pytest.raises(tw.RunError, match="best.weights.h5 is damaged or not a tune-widgets weights file"):
        tw.Session.resume(folder, weights="best")
    (folder / "config.json").write_text('{"run_id": "' + run.run_id + '", "config": {"mod')
    before = {path.name: path.read_bytes() for path in folder.iterdir()}
    with pytest.warns(tw.TuneWidgetsWarning, match=f"Skipped the run folder {folder.name}: .*config.json is damaged"):
        assert tw.Session(runs_dir=runs_dir).runs == []
    with pytest.raises(tw.RunError, match="config.json is damaged .*delete the folder if it is of no use"), \
            pytest.warns(tw.TuneWidgetsWarning, match="Skipped the run folder"):
        tw.Session.resume(folder)
    assert {path.name: path.read_bytes() for path in folder.iterdir()} == before


def test_a_run_of_another_model_is_refused_and_the_session_kept(digits, runs_dir):
    from tests.conftest import small_cnn

    maker = tw.Session(runs_dir=runs_dir).load_model(small_cnn()).set_data(digits)
    run = maker.fit(epochs=1)
    restored = tw.Session(runs_dir=runs_dir).load_run(run.run_id)  # from the architecture the run kept
    assert signature(restored.model) == run.config["signature"]

    inputs = keras.Input((8, 8, 1), name="pixels")
    pooled = keras.layers.GlobalAveragePooling2D(name="pool")(keras.layers.Conv2D(4, 3, name="conv")(inputs))
    other = tw.Session(runs_dir=runs_dir).load_model(keras.Model(inputs, keras.layers.Dense(10, name="out")(pooled)))
    other.set_data(digits)
    model, kept = other.model, WeightSnapshot.of(other.model)
    with pytest.raises(tw.RunError, match=f"Run {run.run_id} was made for a different model"):
        other.load_run(run.run_id)
    assert other.model is model and kept.equals(model) and other.plan == tw.FreezePlan()


def test_an_unwritable_runs_dir_is_refused_before_anything_changes(file_session, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(tw.RunError, match="a-file is not a folder.*runs_dir=None to keep runs in memory"):
        tw.Session(runs_dir=blocker / "runs")

    later = tmp_path / "later"
    session = tw.Session(runs_dir=later).load_model(file_session.backbone.source).set_data(file_session.train_data)
    later.write_text("the folder became a file")
    with pytest.raises(tw.RunError, match="Cannot write the run to .*later/"):
        session.fit(epochs=1)
    assert session.runs == [] and not session.training and later.read_text() == "the folder became a file"


def test_an_unwritable_default_folder_keeps_runs_in_memory_with_a_warning(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("TUNE_WIDGETS_RUNS_DIR", str(blocker / "tune_runs"))  # like a read-only notebook folder
    with pytest.warns(tw.TuneWidgetsWarning, match="a-file is not a folder.*kept in memory only"):
        session = tw.Session()
    assert session.runs_dir is None and session.runs == []


def test_runs_dir_none_keeps_runs_in_memory_and_writes_nothing(digits, tmp_path, monkeypatch):
    from tests.conftest import small_cnn

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TUNE_WIDGETS_RUNS_DIR")
    assert tw.Session().runs_dir == tmp_path / "tune_runs"  # the default, beside the notebook
    session = tw.Session(runs_dir=None).load_model(small_cnn()).set_data(digits)
    run = session.fit(epochs=1)
    assert session.runs == [run] and session.runs_dir is None and list(tmp_path.iterdir()) == []
    with pytest.raises(tw.RunError, match="keeps runs in memory only"):
        session.load_run(run.run_id)


def test_delete_removes_the_folder_and_the_record(file_session, runs_dir):
    first, second = file_session.fit(epochs=1), file_session.fit(epochs=1)
    file_session.delete_run(first.run_id)
    assert file_session.runs == [second]
    assert [path.name[-8:] for path in runs_dir.iterdir()] == [second.run_id]
    assert [run.run_id for run in tw.Session(runs_dir=runs_dir).runs] == [second.run_id]
    with pytest.raises(tw.StateError, match="no run 'nope'"):
        file_session.delete_run("nope")


def test_tensorboard_event_files_hold_the_runs_metrics(cnn_file, digits, runs_dir):
    import tensorflow as tf

    session = tw.Session(runs_dir=runs_dir, tensorboard=True).load_model(cnn_file).set_data(digits)
    session.fit(epochs=2)
    logs = only_folder(runs_dir) / "tensorboard"
    tags = {}
    for part in ("train", "validation"):
        for path in (logs / part).iterdir():
            for event in tf.compat.v1.train.summary_iterator(str(path)):
                for value in event.summary.value:
                    tags.setdefault(part, set()).add((value.tag, event.step))
    assert {("epoch_loss", 1), ("epoch_loss", 2), ("epoch_accuracy", 2), ("batch_loss", 5)} <= tags["train"]
    assert {("epoch_loss", 1), ("epoch_loss", 2), ("epoch_accuracy", 1), ("epoch_accuracy", 2)} == tags["validation"]


def test_an_lr_finder_sweep_is_kept_without_weights(file_session, runs_dir):
    file_session.find_lr(steps=12)
    (sweep,) = file_session.runs
    folder = only_folder(runs_dir)
    assert sweep.config["purpose"] == "lr_find" and not list(folder.glob("*.weights.h5"))  # its weights were put back
    (record,) = tw.Session(runs_dir=runs_dir).runs
    assert len(record.batches) == len(sweep.batches) and "(lr_find)" in tw.runs.summary(record)["status"]
    with pytest.raises(tw.RunError, match="is an LR finder sweep, whose weights were put back"):
        file_session.load_run(sweep.run_id)


def test_lora_and_regression_runs_are_restored_and_train_on(cnn_file, digits, runs_dir, tmp_path):
    session = tw.Session(runs_dir=runs_dir).load_model(cnn_file, head=tw.HeadSpec(dropout=0.0)).set_data(digits)
    session.freeze_to("pool").add_lora("head_dense", rank=2)  # only the head's adapters and bias train
    adapted = session.fit(epochs=1)
    values = session.model.predict(session.encoded["validation"], verbose=0)

    restored = tw.Session(runs_dir=runs_dir).load_run(adapted.run_id)
    assert restored.lora.paths == ("head_dense",) and restored.plan == session.plan
    np.testing.assert_allclose(restored.model.predict(session.encoded["validation"], verbose=0), values, atol=1e-6)
    head = restored.model.get_layer("head_dense")
    assert np.abs(np.array(head.lora_kernel_a)).max() > 0  # Keras loads adapters as zeros: A starts afresh
    restored.set_data(digits)
    kernel_b = np.array(head.lora_kernel_b)
    restored.fit(epochs=1)
    assert not np.array_equal(np.array(head.lora_kernel_b), kernel_b)  # the adapters learn again
    with pytest.raises(tw.StateError, match="LoRA adapters cannot be exported yet"):
        restored.export_script(tmp_path / "train.py", run=adapted.run_id)

    scores = digits.labels.astype("float32") / 9
    regression = tw.Session(runs_dir=runs_dir).load_model(cnn_file, head=tw.HeadSpec(dropout=0.0))
    regression.set_data(digits.examples, scores)
    run = regression.fit(epochs=1)
    again = tw.Session(runs_dir=runs_dir).load_run(run.run_id)
    assert again.model.output.shape[-1] == 1 and run.config["class_names"] is None
    assert WeightSnapshot.of(regression.model).equals(again.model)


def test_the_final_save_comes_after_the_session_is_idle_and_writes_the_weights_as_they_ended(file_session, runs_dir,
                                                                                              monkeypatch):
    """A Stop click reaches an idle session without waiting for the weights file; the status
    says "saving" until it is on disk, and a reset meanwhile does not leak into the file."""
    import threading

    from tune_widgets.runs import writer

    monkeypatch.setattr(writer, "CHEAP_SAVE", 0.0)
    monkeypatch.setattr(writer, "SAVE_TIME_SHARE", 1e-9)  # only the fit's end saves
    idle, real_save, seen = threading.Event(), writer.save_weights, []

    def slow_save(model, path, marks, also=None, values=None):
        assert idle.wait(30)  # the session went idle before this write
        seen.append((file_session.training, strict((path.parent / "status.json").read_text())["weights"]))
        file_session.reset()  # the model changes while its weights are written
        return real_save(model, path, marks, also, values)

    monkeypatch.setattr(writer, "save_weights", slow_save)
    file_session.observe(lambda change: idle.set() if not change["new"] else None, names=["training"])
    ended = Snapshots(file_session)
    run = file_session.fit(epochs=2, seed=0, callbacks=[ended], background=True).result(60)
    assert seen == [(False, "saving")]
    assert run.weights == "saved" and strict((only_folder(runs_dir) / "status.json").read_text())["weights"] == "saved"
    restored = tw.Session(runs_dir=runs_dir).load_run(run.run_id)
    assert ended.epochs[-1].equals(restored.model) and not ended.epochs[-1].equals(file_session.model)
