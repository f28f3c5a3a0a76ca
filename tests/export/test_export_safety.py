"""An export is refused before anything is written when it cannot apply, leaves nothing half-made
when it fails, never changes the session, and is marked failed when its runtime disagrees."""

import errno
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

import tune_widgets as tw
from tests.reliability.session_state import assert_unchanged, observable_state
from tune_widgets.saving import deploy


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("call, error, words", [
    (dict(format="tflite"), tw.ExportError, "choose one of savedmodel, litert, onnx, keras"),
    (dict(format="onnx", quantize="int8"), tw.ExportError, "'litert' only"),
    (dict(format="litert", quantize="int4"), tw.ExportError, "quantize must be None or 'int8'"),
])
def test_a_format_that_cannot_apply_is_refused_before_writing(cnn_session, tmp_path, call, error, words):
    before = observable_state(cnn_session)
    with pytest.raises(error, match=words):
        cnn_session.export_model(tmp_path / "out", **call)
    assert leftovers(tmp_path) == []
    assert_unchanged(before, cnn_session)


def test_a_missing_converter_is_refused_with_what_to_install(cnn_session, tmp_path, monkeypatch):
    real = deploy.onnx.importlib.util.find_spec
    monkeypatch.setattr(deploy.onnx.importlib.util, "find_spec", lambda name: None if name == "tf2onnx" else real(name))
    with pytest.raises(tw.ExportError, match="pip install tf2onnx"):
        cnn_session.export_model(tmp_path / "out", format="onnx")
    assert leftovers(tmp_path) == []


def test_a_folder_holding_other_files_is_not_replaced(cnn_session, tmp_path):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "mine.txt").write_text("keep me")
    with pytest.raises(tw.SaveError, match="holds something other than an export"):
        cnn_session.export_model(tmp_path / "notes", format="keras")
    assert leftovers(tmp_path / "notes") == ["mine.txt"]
    with pytest.raises(tw.SaveError, match="does not exist"):
        cnn_session.export_model(tmp_path / "missing" / "out", format="keras")


def test_a_converter_that_raises_leaves_no_partial_artifact(cnn_session, tmp_path, monkeypatch):
    before = observable_state(cnn_session)

    def half_written(self, filepath, **kwargs):
        open(filepath, "wb").write(b"half")
        raise RuntimeError("converter crashed")

    monkeypatch.setattr(keras.Model, "export", half_written)
    with pytest.raises(tw.ExportError, match="onnx converter failed on this model: RuntimeError: converter crashed"):
        cnn_session.export_model(tmp_path / "out", format="onnx")
    assert leftovers(tmp_path) == []
    assert_unchanged(before, cnn_session)


def test_a_disk_error_becomes_a_save_error_and_leaves_nothing(cnn_session, tmp_path, monkeypatch):
    before = observable_state(cnn_session)
    real = tf.saved_model.save

    def full_disk(obj, export_dir, **kwargs):
        real(obj, export_dir, **kwargs)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(tf.saved_model, "save", full_disk)
    with pytest.raises(tw.SaveError, match="No space left on device. Nothing was written"):
        cnn_session.export_model(tmp_path / "out", format="savedmodel")
    assert leftovers(tmp_path) == []
    assert_unchanged(before, cnn_session)


def test_an_export_is_replaced_whole_by_the_next(cnn_session, tmp_path):
    first = cnn_session.export_model(tmp_path / "out", format="keras")
    (first.path / "stale.txt").write_text("from the first export")
    second = cnn_session.export_model(tmp_path / "out", format="onnx")
    assert second.ok, str(second)
    assert sorted(p.name for p in second.path.iterdir()) == ["README.md", "export.json", "labels.txt", "model.onnx"]
    assert leftovers(tmp_path) == ["out"]


def test_a_runtime_that_disagrees_marks_the_export_failed_with_the_figure(cnn_session, tmp_path, monkeypatch):
    predict = cnn_session.predict
    monkeypatch.setattr(cnn_session, "predict", lambda examples: predict(examples) + 0.02)
    result = cnn_session.export_model(tmp_path / "out", format="onnx")
    assert not result.ok and result.parity.max_difference == pytest.approx(0.02, abs=1e-4)
    assert "FAILED: max difference 2.00e-02" in str(result)
    assert "FAILED" in (result.path / "README.md").read_text()


def test_lora_is_merged_into_the_artifact_and_stays_in_the_session(cnn_session, tmp_path):
    cnn_session.add_lora("head_dense", rank=2)
    adapters = cnn_session.lora
    result = cnn_session.export_model(tmp_path / "out", format="savedmodel")
    assert result.ok, str(result)
    shapes = [shape for _, shape in tf.train.list_variables(str(result.artifact / "variables" / "variables"))]
    assert [16, 2] not in shapes and [2, 10] not in shapes  # no adapter matrices: merged
    assert cnn_session.lora == adapters
    pictures = np.zeros((2, 8, 8, 1), "uint8")
    served = tf.saved_model.load(str(result.artifact)).signatures["serve"](pictures=tf.constant(pictures))
    np.testing.assert_allclose(served["probabilities"].numpy(), cnn_session.predict(pictures.astype("float32")),
                               atol=1e-5)


def test_the_runtime_check_cannot_import_keras_or_tune_widgets():
    """What makes "loaded without Keras" true: its process refuses those imports outright."""
    script = Path(deploy.__file__).with_name("runtime_check.py")
    code = (f"import runpy, sys; checker = runpy.run_path({str(script)!r}); sys.meta_path.insert(0, checker['Refused']())\n"
            "for name in ('keras', 'tune_widgets', 'keras.src'):\n"
            "    try:\n        __import__(name)\n    except ImportError as error:\n        print('refused', name)\n")
    done = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.split("\n")[:3] == ["refused keras", "refused tune_widgets", "refused keras.src"], done.stderr
