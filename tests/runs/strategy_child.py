"""The same fit on one device and under tf.distribute strategies; prints its results as JSON.

    python strategy_child.py MODEL.keras mirrored        one device, then MirroredStrategy on two
                                                         logical CPU devices
    python strategy_child.py MODEL.keras worker RUNS     one worker of MultiWorkerMirroredStrategy
                                                         (TF_CONFIG set by the caller); RUNS: its
                                                         runs_dir, or "-" for none

Devices and strategies must be set up before TensorFlow initialises, hence a process of its own.
"""

import json
import sys

import tensorflow as tf

model_file, mode = sys.argv[1], sys.argv[2]
if mode == "mirrored":
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    strategies = {"one": None, "two": tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])}
else:
    strategies = {"worker": tf.distribute.MultiWorkerMirroredStrategy()}

import keras  # noqa: E402
import numpy as np  # noqa: E402

import tune_widgets as tw  # noqa: E402
from tune_widgets.data import bucketing  # noqa: E402

distributed_passes = []
whole_pass = bucketing._distributed


def counted(prefix, strategy, inputs):
    distributed_passes.append(len(inputs[0]))
    return whole_pass(prefix, strategy, inputs)


bucketing._distributed = counted

# 160 training examples: whole global batches of 32, so every replica's share is the same size
# (Keras averages the loss per replica, then over replicas: equal to the global mean only then).
train, held = tw.split(tw.load_digits(n=300, seed=0), 0.2, seed=0)
results = {"distributed_passes": distributed_passes}
for name, strategy in strategies.items():
    keras.utils.set_random_seed(0)
    runs_dir = None if mode == "mirrored" or sys.argv[3] == "-" else sys.argv[3]
    session = tw.Session(runs_dir=runs_dir, strategy=strategy)
    session.load_model(model_file, head=tw.HeadSpec(dropout=0.0))
    session.set_data(train.take(range(160)), validation_data=held, batch_size=32)
    session.freeze(["conv1_*", "conv2_bn", "conv2_dropout"])  # frozen BatchNorm and Dropout: deterministic replicas
    session.set_optimizer(optimizer="sgd", learning_rate=0.5)  # SGD: float noise stays small (Adam scales it up)
    start = [np.array(w) for w in session.model.weights]
    run = session.fit(epochs=2, seed=0)
    results[name] = {"epochs": run.epochs, "cache": run.config["cache"], "strategy": run.config["strategy"],
                     "status": run.status, "weights": [np.array(w).tolist() for w in session.model.weights],
                     "moved": max(float(np.abs(np.array(w) - s).max()) for w, s in zip(session.model.weights, start))}
print("RESULTS " + json.dumps(results))
