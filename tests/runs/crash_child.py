"""A training process for the crash tests to kill:  python crash_child.py MODE FOLDER

FOLDER holds small_cnn.keras; runs go to FOLDER/tune_runs. After each epoch's save the child
writes its weights to FOLDER/weights-<epoch>.npz: what the parent compares a resumed run with.

mid-epoch: halfway through the third epoch it touches FOLDER/killing-time and waits to be killed.
mid-write: it kills itself (SIGKILL) inside the second weights write, once the temporary file
           is written and before it replaces last.weights.h5.
"""

import os
import signal
import sys
import time
from pathlib import Path

mode, folder = sys.argv[1], Path(sys.argv[2])
os.environ["TUNE_WIDGETS_RUNS_DIR"] = str(folder / "tune_runs")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import tune_widgets as tw  # noqa: E402
from tune_widgets.runs import store, writer  # noqa: E402
from tune_widgets.training import Callback  # noqa: E402

writer.CHEAP_SAVE = float("inf")  # save the weights at every epoch end, however long a save takes here


class Reference(Callback):
    order = 30  # after the RunWriter (20): the epoch is saved when this runs

    def on_epoch_end(self, epoch, logs=None):
        assert store.weights_marks(session.runs_dir.glob("*/last.weights.h5").__next__())["epochs"] == epoch + 1
        np.savez(folder / f"weights-{epoch}.npz", *[np.array(w) for w in session.model.weights])

    def on_train_batch_end(self, batch, logs=None):
        if mode == "mid-epoch" and len(self.trainer.run.epochs) == 2 and batch == 2:
            (folder / "killing-time").touch()
            time.sleep(600)


if mode == "mid-write":
    real_fsync, saves = writer.fsync, []

    def fsync_then_crash(path):
        real_fsync(path)
        if Path(path).name.endswith("last.weights.h5"):
            saves.append(path)
            if len(saves) == 2:
                os.kill(os.getpid(), signal.SIGKILL)

    writer.fsync = fsync_then_crash

keras.utils.set_random_seed(0)
session = tw.Session()
session.load_model(folder / "small_cnn.keras", head=tw.HeadSpec(dropout=0.0))
session.set_data(tw.load_digits(n=200, seed=0), batch_size=32)
session.freeze_to("conv1_relu")
session.fit(epochs=4, seed=0, callbacks=[Reference()])
sys.exit(f"{mode}: the fit ended without being killed")
