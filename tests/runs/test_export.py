"""Export: a script that runs without tune-widgets and trains as the session did."""

import ast
import json
import runpy
import subprocess
import sys

import keras
import numpy as np
import pytest

import tune_widgets as tw
from tune_widgets.runs import config as describe
from tune_widgets.runs.config import run_config
from tune_widgets.runs.export import script
from tune_widgets.models.snapshot import WeightSnapshot
from tests.runs.conftest import child_env

# The script runs with tune_widgets made unimportable: it must stand alone.
RUN_ALONE = ("import runpy, sys; sys.modules['tune_widgets'] = None; sys.argv = sys.argv[1:]; "
             "runpy.run_path(sys.argv[0], run_name='__main__')")


def test_an_exported_script_trains_as_the_session_did(file_session, digits, tmp_path):
    file_session.set_optimizer(learning_rate=0.01, schedule="one_cycle")
    file_session.set_rates(lowest=0.1)  # discriminative rates: conv2 at 0.32 of the head's rate
    run = file_session.fit(epochs=3, seed=0)
    assert run.config["layer_factors"] == {"conv1_conv": 0.1, "conv1_bn": 0.1, "conv2_conv": pytest.approx(0.1 ** 0.5),
                                           "conv2_bn": pytest.approx(0.1 ** 0.5)}
    data = tmp_path / "digits.npz"
    np.savez(data, x=digits.examples[..., 0], y=np.asarray(digits.class_names)[digits.labels])  # as a user has it
    path = file_session.export_script(tmp_path / "train.py", run=run.run_id, data=data)

    result = subprocess.run([sys.executable, "-c", RUN_ALONE, str(path), "--history", "history.json",
                             "--save", "trained.weights.h5"], cwd=tmp_path, env=child_env(),
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    history = json.loads((tmp_path / "history.json").read_text())
    for metric in ("loss", "accuracy", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(history[metric], [row[metric] for row in run.epochs], rtol=1e-3, err_msg=metric)
    # The same model, to float noise (a bias before BatchNorm gets no gradient but Adam's
    # normalised noise, so weights are compared through what they compute).
    x = file_session.encoded["validation"]
    ours = file_session.model.predict(x, verbose=0)
    file_session.model.load_weights(tmp_path / "trained.weights.h5")  # plain Keras' file, read by the toolkit
    np.testing.assert_allclose(file_session.model.predict(x, verbose=0), ours, atol=5e-4)


@pytest.mark.parametrize("source", ["file", "application", "checkpoint"])
def test_a_script_rebuilds_the_sessions_model_inputs_and_frozen_behaviour(source, cnn_file, minilm, digits, tmp_path):
    session = tw.Session(runs_dir=None)
    if source == "checkpoint":
        session.load_model(minilm, sequence_length=16).set_data(tw.load_tweets(n=30))
        session.set_head(dropout=0.0).freeze_to("transformer_layer_5")
    else:
        session.load_model(cnn_file if source == "file" else "MobileNetV2", input_shape=(32, 32, 3), weights=None)
        session.set_data(digits).set_head(dropout=0.0).freeze_to("conv2_dropout" if source == "file" else "block_16_project_BN")
    path = session.export_script(tmp_path / "train.py", data=tmp_path / "data")
    exported = runpy.run_path(str(path), run_name="exported")
    model = exported["build_model"]()
    names = [[layer.name for layer in m.layers if not isinstance(layer, keras.layers.InputLayer)]
             for m in (model, session.model)]  # unnamed inputs are numbered per process
    assert names[0] == names[1]
    assert describe.signature(model) == describe.signature(session.model)
    session.model.save_weights(tmp_path / "session.weights.h5")
    model.load_weights(tmp_path / "session.weights.h5")  # the toolkit's weight files load in plain Keras
    assert WeightSnapshot.of(session.model).equals(model)

    encode = exported["encoder"]()
    x = encode(session.train_data.examples[:8], model)
    expected = session.encoded["train"]
    if isinstance(x, dict):
        assert all(np.array_equal(x[name], expected[name][:8]) for name in expected)
    else:
        np.testing.assert_allclose(x, expected[:8], rtol=1e-6)
    trained = exported["freeze"](model)  # frozen layers in inference mode while the rest trains
    np.testing.assert_allclose(np.asarray(trained(x, training=True)), np.asarray(session.model(x, training=True)),
                               atol=1e-5)
    if source != "application":  # (random MobileNetV2 weights give every class 0.1 either way)
        plain = keras.Model(model.inputs, model.outputs)  # without the wrapper, frozen dropout would drop
        assert not np.allclose(np.asarray(plain(x, training=True)), np.asarray(session.model(x, training=True)),
                               atol=1e-5)


def test_user_strings_enter_the_script_only_as_literals(file_session, tmp_path):
    config = run_config(file_session, 2, 32, 0)
    hostile = ['a"b', "c'd\nprint('escaped')", '"""', "\\", "{x}", "é ✓"]
    config = {**config, "class_names": hostile[:4], "frozen": hostile, "model": f"/tmp/{hostile[1]}{hostile[2]}.keras",
              "backbone": {**config["backbone"], "features": hostile[0]}}
    source = script(config, data=f"/data/{hostile[1]}.npz", run_id="abc")
    tree = ast.parse(source)
    settings = {node.targets[0].id: ast.literal_eval(node.value) for node in tree.body
                if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
                and node.targets[0].id.isupper()}
    assert settings["CLASS_NAMES"] == hostile[:4] and settings["FROZEN"] == hostile
    assert settings["SOURCE"] == config["model"] and settings["FEATURES"] == hostile[0]
    assert settings["DATA"] == f"/data/{hostile[1]}.npz"
    assert "print('escaped')" not in source.replace(repr(hostile[1])[1:-1], "")  # only ever escaped
    assert not any(isinstance(node, (ast.Import, ast.ImportFrom)) and "tune_widgets" in ast.dump(node)
                   for node in ast.walk(tree))


def test_a_run_of_an_in_memory_model_exports_a_script_that_loads_the_model_its_folder_kept(cnn_session, tmp_path):
    cnn_session.freeze_to("conv1_relu")
    run = cnn_session.fit(epochs=1, seed=0)
    exported = runpy.run_path(str(cnn_session.export_script(tmp_path / "train.py", run=run)), run_name="exported")
    assert exported["SOURCE"] == str(cnn_session.run_store.folders[run.run_id].absolute() / "model.keras")
    model = exported["build_model"]()
    assert [layer.name for layer in model.layers] == [layer.name for layer in cnn_session.model.layers]
    assert describe.signature(model) == describe.signature(cnn_session.model)
    assert set(exported["FROZEN"]) == cnn_session.plan.frozen


def test_an_in_memory_model_cannot_be_exported_and_the_message_says_what_to_do(cnn_session, tmp_path):
    with pytest.raises(tw.StateError, match=r"in-memory keras.Model.*model.save\('base.keras'\).*or export a run of it"):
        cnn_session.export_script(tmp_path / "train.py")
    with pytest.raises(tw.ConfigError, match="Export to a .py file"):
        tw.Session(runs_dir=None).load_model(tw.load_digits and "MobileNetV2", input_shape=(32, 32, 3), weights=None) \
            .set_data(tw.load_digits(n=40)).export_script(tmp_path / "train.txt")
    assert not list(tmp_path.iterdir())
