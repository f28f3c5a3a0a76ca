"""Killed processes: a run killed mid-epoch or mid-write resumes from its last complete save.

Both training processes start at once (each pays ~5-10 s for the TensorFlow import)."""

import json
import signal
import subprocess
import sys
import time
import warnings

import keras
import numpy as np
import pytest

import tune_widgets as tw
from tests.conftest import small_cnn
from tests.runs.conftest import REPO, child_env

CHILD = REPO / "tests" / "runs" / "crash_child.py"
STEPS_PER_EPOCH = 5  # 159 training digits in batches of 32


@pytest.fixture(scope="module")
def killed(tmp_path_factory):
    """{mode: folder} after each child died: "mid-epoch" killed by us, "mid-write" by itself."""
    folders, children = {}, {}
    for mode in ("mid-epoch", "mid-write"):
        folder = folders[mode] = tmp_path_factory.mktemp(mode)
        keras.utils.set_random_seed(0)
        small_cnn().save(folder / "small_cnn.keras")
        children[mode] = subprocess.Popen([sys.executable, str(CHILD), mode, str(folder)], env=child_env(),
                                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 300
    while not (folders["mid-epoch"] / "killing-time").exists():
        assert children["mid-epoch"].poll() is None, children["mid-epoch"].communicate()[0][-3000:]
        assert time.monotonic() < deadline, "the mid-epoch child never reached its third epoch"
        time.sleep(0.1)
    children["mid-epoch"].send_signal(signal.SIGKILL)
    for mode, child in children.items():
        output = child.communicate(timeout=300)[0]
        assert child.returncode == -signal.SIGKILL, f"{mode} child exited {child.returncode}:\n{output[-3000:]}"
    return folders


def run_folder(folder):
    (run,) = [path for path in (folder / "tune_runs").iterdir() if path.is_dir()]
    return run


def reference_weights(folder, epoch):
    with np.load(folder / f"weights-{epoch}.npz") as saved:
        return [saved[f"arr_{i}"] for i in range(len(saved.files))]


def assert_weights(model, expected):
    assert len(model.weights) == len(expected)
    assert all(np.array_equal(np.array(w), e) for w, e in zip(model.weights, expected))


def test_a_run_killed_mid_epoch_resumes_from_its_last_save_with_its_history(killed, digits):
    folder = killed["mid-epoch"]
    assert (folder / "weights-1.npz").exists() and not (folder / "weights-2.npz").exists()
    session = tw.Session.resume(run_folder(folder))
    (run,) = session.runs
    assert run.status == "interrupted"
    assert [row["epoch"] for row in run.epochs] == [0, 1]
    assert [row["step"] for row in run.batches] == list(range(1, 2 * STEPS_PER_EPOCH + 1))
    assert_weights(session.model, reference_weights(folder, 1))
    assert session.plan.frozen == frozenset(run.config["frozen"]) and session.head.dropout == 0.0

    with warnings.catch_warnings():
        warnings.simplefilter("error", tw.TuneWidgetsWarning)  # the same data: nothing to say
        session.set_data(digits, batch_size=32)
    following = session.fit(epochs=1, seed=0)
    assert following.status == "completed"
    assert following.config["resumed_from"] == {"run_id": run.run_id, "weights": "last",
                                                 "step": 2 * STEPS_PER_EPOCH, "epochs_before": 2}
    assert [r.run_id for r in session.runs] == [run.run_id, following.run_id]


def test_a_crash_inside_a_write_leaves_the_previous_files_whole(killed):
    folder = killed["mid-write"]
    run_dir = run_folder(folder)
    leftovers = [path.name for path in run_dir.iterdir() if path.name.startswith(".tmp-")]
    assert len(leftovers) == 1 and leftovers[0].endswith("last.weights.h5")  # written, never renamed
    for name in ("config.json", "status.json"):
        json.loads((run_dir / name).read_text(), parse_constant=pytest.fail)
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    assert max(json.loads(line)["step"] for line in lines) == 2 * STEPS_PER_EPOCH  # epoch 1 was appended

    session = tw.Session.resume(run_dir)
    (run,) = session.runs
    assert run.status == "interrupted" and [row["epoch"] for row in run.epochs] == [0]
    assert len(run.batches) == STEPS_PER_EPOCH  # the history stops where the weights do
    assert_weights(session.model, reference_weights(folder, 0))
    assert not [path for path in run_dir.iterdir() if path.name.startswith(".tmp-")]  # cleaned once read
    session.load_run(run.run_id, weights="best")  # best.weights.h5 is readable too
    assert_weights(session.model, reference_weights(folder, 0))
