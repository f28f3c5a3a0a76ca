"""A run of an in-memory keras.Model keeps the model's architecture (model.keras in its folder,
written once, atomically), so a new process resumes it from the folder alone; a model Keras
could not load back in safe mode is not kept, and resume says why, naming the layer."""

import errno
import json
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

import tune_widgets as tw
from tests.conftest import small_cnn
from tests.runs.conftest import child_env
from tune_widgets.runs import architecture

pytestmark = pytest.mark.reliability

TODAY = ("was made from an in-memory keras.Model, which config.json cannot rebuild: load that model first "
         "(session.load_model(model)), then load the run again.")
RESUME = textwrap.dedent("""
    import json, sys
    import numpy as np
    import tune_widgets as tw

    folder, out = sys.argv[1], sys.argv[2]
    session = tw.Session.resume(folder, data=tw.load_digits(n=200, seed=0))
    x = session.encoded["validation"]
    np.save(out + "/predictions.npy", session.model.predict(x, verbose=0))
    run = session.fit(epochs=1)
    print(json.dumps({"source": session.backbone.source, "status": run.status,
                      "resumed_from": run.config["resumed_from"]["run_id"],
                      "kept": sorted(p.name for p in session.run_store.folders[run.run_id].iterdir())}))
""")


class Scale(keras.layers.Layer):
    """A layer of the user's own, not registered with Keras."""

    def call(self, x):
        return x * 2.0


def with_layer(layer):
    inputs = keras.Input((8, 8, 1), name="pixels")
    x = keras.layers.Flatten(name="flat")(layer(inputs))
    return keras.Model(inputs, keras.layers.Dense(10, activation="softmax", name="predictions")(x))


def in_memory_session(runs_dir, model):
    keras.utils.set_random_seed(0)
    session = tw.Session(runs_dir=runs_dir).load_model(model)
    session.set_data(tw.load_digits(n=200, seed=0), batch_size=32)
    return session


def test_a_new_process_resumes_a_run_of_an_in_memory_model(runs_dir, tmp_path):
    session = in_memory_session(runs_dir, small_cnn())
    session.freeze_to("conv1_relu")
    run = session.fit(epochs=1)
    folder = session.run_store.folders[run.run_id]
    assert run.config["model"] == "in-memory model" and run.config["backbone"]["architecture"] == "model.keras"
    assert (folder / "model.keras").is_file() and not list(folder.glob(".tmp-*"))
    meta = json.loads((folder / "config.json").read_text())  # the format is as it was: a key added, none renamed
    assert sorted(meta) == ["config", "format", "run_id", "started_at", "total_steps"] and meta["format"] == 1

    child = subprocess.run([sys.executable, "-c", RESUME, str(folder), str(tmp_path)], env=child_env(),
                           capture_output=True, text=True, timeout=300)
    assert child.returncode == 0, child.stderr[-3000:]
    report = json.loads(child.stdout.strip().splitlines()[-1])
    assert report["source"] == "in-memory model" and report["status"] == "completed"
    assert report["resumed_from"] == run.run_id and "model.keras" in report["kept"]  # its own runs keep it too
    expected = session.model.predict(session.encoded["validation"], verbose=0)
    assert np.allclose(np.load(tmp_path / "predictions.npy"), expected, atol=1e-6)


def test_a_run_with_lora_adapters_resumes_with_them(runs_dir):
    session = in_memory_session(runs_dir, small_cnn())
    session.add_lora("predictions", rank=2)
    session.freeze_to("pool")
    run = session.fit(epochs=1)
    resumed = tw.Session.resume(session.run_store.folders[run.run_id], data=tw.load_digits(n=200, seed=0))
    assert resumed.lora == session.lora  # added again, not loaded twice from model.keras
    x = session.encoded["validation"]
    assert np.allclose(resumed.model.predict(x, verbose=0), session.model.predict(x, verbose=0), atol=1e-6)


@pytest.mark.parametrize("layer, why", [
    (Scale(name="scale"), "its layer 'scale' is a Scale, a class Keras cannot rebuild unless it is registered with "
                          "@keras.saving.register_keras_serializable()"),
    (keras.layers.Lambda(lambda x: x * 2.0, name="double"),
     "its layer 'double' is a Lambda, whose Python code safe_mode=True refuses to load"),
], ids=["unregistered layer", "lambda layer"])
def test_a_model_keras_cannot_load_back_keeps_todays_message_naming_the_layer(runs_dir, layer, why):
    session = in_memory_session(runs_dir, with_layer(layer))
    run = session.fit(epochs=1)
    folder = session.run_store.folders[run.run_id]
    assert run.status == "completed" and not (folder / "model.keras").exists()
    assert run.config["backbone"]["architecture"] == why
    with pytest.raises(tw.RunError) as raised:
        tw.Session.resume(folder)
    assert str(raised.value) == f"Run {run.run_id} {TODAY} Its architecture was not kept: {why}."


def test_a_run_folder_written_before_architectures_were_kept_still_reads(runs_dir):
    session = in_memory_session(runs_dir, small_cnn())
    run = session.fit(epochs=1)
    folder = session.run_store.folders[run.run_id]
    (folder / "model.keras").unlink()  # as runs of in-memory models were written until now
    meta = json.loads((folder / "config.json").read_text())
    del meta["config"]["backbone"]["architecture"]
    (folder / "config.json").write_text(json.dumps(meta))
    (record,) = tw.Session(runs_dir=runs_dir).runs
    assert record.run_id == run.run_id and record.status == "completed"
    with pytest.raises(tw.RunError) as raised:
        tw.Session.resume(folder)
    assert str(raised.value) == f"Run {run.run_id} {TODAY}"


def test_an_architecture_that_cannot_be_written_leaves_no_run_folder(runs_dir, monkeypatch):
    session = in_memory_session(runs_dir, small_cnn())

    def disk_full(folder, model):
        with architecture.atomic_path(folder / architecture.FILE) as temporary:
            temporary.write_bytes(b"half")
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(architecture, "write", disk_full)
    with pytest.raises(tw.RunError, match=r"Cannot write the run to .*No space left on device.*runs_dir=None"):
        session.fit(epochs=1)
    assert session.runs == [] and not any(runs_dir.iterdir())
