"""tf.distribute: MirroredStrategy on two logical CPU devices, and MultiWorkerMirroredStrategy on
two local worker processes, train as one device does. The three processes start at once."""

import json
import socket
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import tune_widgets as tw
from tests.conftest import small_cnn
from tests.runs.conftest import REPO, child_env

CHILD = REPO / "tests" / "runs" / "strategy_child.py"


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def assert_same_training(result, reference):
    for metric in ("loss", "accuracy", "val_loss", "val_accuracy"):
        np.testing.assert_allclose([row[metric] for row in result["epochs"]],
                                   [row[metric] for row in reference["epochs"]], rtol=1e-4, err_msg=metric)
    difference = max(np.abs(np.array(a) - np.array(b)).max() for a, b in zip(result["weights"], reference["weights"]))
    assert difference < 1e-4 and reference["moved"] > 0.05, (difference, reference["moved"])  # float noise only


def test_mirrored_and_multi_worker_strategies_train_as_one_device_does(cnn_file, tmp_path):
    workers = [f"localhost:{port}" for port in free_ports(2)]
    children = {"mirrored": subprocess.Popen([sys.executable, str(CHILD), str(cnn_file), "mirrored"], env=child_env(),
                                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)}
    for index in (0, 1):  # the chief (0) keeps the runs; another worker writes none
        config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        children[f"worker{index}"] = subprocess.Popen(
            [sys.executable, str(CHILD), str(cnn_file), "worker", str(tmp_path / "runs") if index == 0 else "-"],
            env=child_env(TF_CONFIG=json.dumps(config)), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    results = {}
    for name, child in children.items():
        output, errors = child.communicate(timeout=600)
        assert child.returncode == 0, f"{name}:\n{errors[-3000:]}"
        results[name] = json.loads(output.split("RESULTS ", 1)[1])

    one, two = results["mirrored"]["one"], results["mirrored"]["two"]
    assert one["strategy"] is None and two["strategy"] == {"name": "MirroredStrategy", "replicas": 2}
    assert one["cache"]["used"] and two["cache"]["used"]  # conv1 was cached ...
    assert max(results["mirrored"]["distributed_passes"]) == 64  # ... each batch split across the replicas
    assert_same_training(two, one)
    for name in ("worker0", "worker1"):
        worker = results[name]["worker"]
        assert worker["strategy"]["replicas"] == 2 and max(results[name]["distributed_passes"]) == 64
        assert_same_training(worker, one)
    (run,) = tw.Session(runs_dir=tmp_path / "runs").runs  # written by the chief alone
    assert run.status == "completed" and len(run.epochs) == 2


def test_a_strategy_is_set_before_the_model_is_built(digits):
    with pytest.raises(tw.ConfigError, match="Expected a tf.distribute.Strategy"):
        tw.Session(runs_dir=None, strategy="mirrored")
    session = tw.Session(runs_dir=None).load_model(small_cnn())
    with pytest.raises(tw.StateError, match=r"call set_strategy\(\) before load_model"):
        session.set_strategy(tf.distribute.get_strategy())
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    session = tw.Session(runs_dir=None, strategy=strategy).load_model(small_cnn()).set_data(digits)
    assert session.strategy is strategy and session.model.distribute_strategy is strategy
    assert session.fit(epochs=1).config["strategy"] == {"name": "OneDeviceStrategy", "replicas": 1}
    # the user's model was copied into the strategy's scope, layer names kept
    assert [layer.name for layer in session.model.layers][1:3] == ["rescale", "conv1_conv"]
