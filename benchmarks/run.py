"""Benchmarks: tune-widgets against plain Keras, side by side in one run.

    python benchmarks/run.py [--quick] [--json PATH]

Prints a table and writes {"cases": {NAME: {"ratio": float, ...details}}}. Figures are not
asserted anywhere: machines are noisy. --quick shrinks the data and epochs (a smoke run).
"""

import argparse
import json
import os
import sys
import threading
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import tune_widgets as tw  # noqa: E402
from tune_widgets.cache import plan_cache, run_prefix  # noqa: E402
from tune_widgets.training import Callback  # noqa: E402
from tune_widgets.widgets import Dashboard  # noqa: E402
from tune_widgets.widgets.layer_map import block_rates, layers_payload  # noqa: E402


def minilm_session(n_train, n_validation, sequence_length=64, batch_size=32):
    tweets = tw.load_tweets(n=n_train + n_validation, seed=0)
    train, held = tw.split(tweets, n_validation / (n_train + n_validation), seed=0)
    session = tw.Session().load_model(tw.minilm_folder(), sequence_length=sequence_length)
    session.set_data(train, validation_data=held, batch_size=batch_size)
    session.freeze_to("transformer_layer_5")
    session.set_optimizer(learning_rate=5e-3)
    return session


def recipe_model(session):
    """The founding document's model in plain Keras: a frozen pretrained encoder (KerasHub),
    mean pooling and a Dense softmax head. Returns (model, backbone)."""
    import keras_hub

    from tune_widgets.models import TokenPooling

    backbone = keras_hub.models.Backbone.from_preset(str(tw.minilm_folder()))
    backbone.trainable = False
    inputs = {name: keras.Input((None,), dtype="int32", name=name) for name in ("token_ids", "padding_mask", "segment_ids")}
    sequence = backbone(inputs)["sequence_output"]
    pooled = TokenPooling("mean")(sequence, inputs["padding_mask"])  # the same pooling as ours
    outputs = keras.layers.Dense(len(session.class_names), activation="softmax")(keras.layers.Dropout(0.1)(pooled))
    return keras.Model(inputs, outputs), backbone


def plain_recipe(session, epochs, batch_size):
    """The founding document's recipe in plain Keras: `recipe_model`, Adam, sparse categorical
    cross-entropy, `model.fit` with validation."""
    model, _ = recipe_model(session)
    model.compile(optimizer=keras.optimizers.Adam(5e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x, y = session._encoded["train"], session.train_data.labels
    xv, yv = session._encoded["validation"], session.validation_data.labels
    started = time.perf_counter()
    history = model.fit(x, y, validation_data=(xv, yv), epochs=epochs, batch_size=batch_size, verbose=0)
    return time.perf_counter() - started, history.history["val_accuracy"][-1], model


def predict_pass(model, session, batch_size):
    started = time.perf_counter()
    for part in ("train", "validation"):
        model.predict(session._encoded[part], batch_size=batch_size, verbose=0)
    return time.perf_counter() - started


def frozen_cases(quick):
    n_train, n_val, epochs, batch = (200, 60, 3, 32) if quick else (1000, 300, 10, 32)
    session = minilm_session(n_train, n_val)
    recipe_time, recipe_acc, recipe_model = plain_recipe(session, epochs, batch)
    inference_time = predict_pass(recipe_model, session, batch)
    started = time.perf_counter()
    run = session.fit(epochs=epochs, batch_size=batch, seed=0)
    ours = time.perf_counter() - started
    ours_acc = run.final["val_accuracy"]
    cases = {
        "frozen_cache": {"ratio": recipe_time / ours, "limit": recipe_time / inference_time,
                         "recipe_seconds": recipe_time, "tune_widgets_seconds": ours,
                         "recipe_val_accuracy": recipe_acc, "tune_widgets_val_accuracy": ours_acc,
                         "epochs": epochs, "train": n_train, "validation": n_val,
                         "cache": run.config["cache"]},
        "cost_vs_inference": {"ratio": ours / inference_time, "tune_widgets_seconds": ours,
                              "predict_seconds": inference_time},
    }
    plan, _ = plan_cache(session.model)
    x = session._encoded["train"]
    run_prefix(plan.prefix, {k: v[:batch] for k, v in x.items()}, batch)  # trace before timing
    plan.prefix.predict({k: v[:batch] for k, v in x.items()}, batch_size=batch, verbose=0)
    started = time.perf_counter()
    bucketed = run_prefix(plan.prefix, x, batch)[0]
    bucketed_time = time.perf_counter() - started
    started = time.perf_counter()
    padded = plan.prefix.predict(x, batch_size=batch, verbose=0)
    padded_time = time.perf_counter() - started
    cases["bucketed_pass"] = {"ratio": bucketed_time / padded_time, "bucketed_seconds": bucketed_time,
                              "padded_seconds": padded_time,
                              "max_abs_difference": float(np.abs(np.asarray(bucketed) - np.asarray(padded)).max())}
    return cases


def freeze_sweep(quick):
    """The freeze sweep (head only, then the top 1, 2, 3 transformer layers trainable) ÷ the same
    sweep by hand in plain Keras: per point, put the starting weights back, set the trainable
    flags, recompile and fit with validation each epoch."""
    n_train, n_val, points, epochs, batch = (64, 32, 2, 1, 32) if quick else (1000, 300, 4, 2, 32)
    session = minilm_session(n_train, n_val)
    model, backbone = recipe_model(session)
    start = model.get_weights()
    x, y = session._encoded["train"], session.train_data.labels
    validation = (session._encoded["validation"], session.validation_data.labels)
    blocks = [f"transformer_layer_{i}" for i in range(6)]
    plain, plain_accuracy = 0.0, []
    for top in range(points):
        started = time.perf_counter()
        model.set_weights(start)
        backbone.trainable = True
        for layer in backbone.layers:
            layer.trainable = layer.name in blocks[len(blocks) - top:]
        model.compile(optimizer=keras.optimizers.Adam(5e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        history = model.fit(x, y, validation_data=validation, epochs=epochs, batch_size=batch, verbose=0)
        plain += time.perf_counter() - started
        plain_accuracy.append(history.history["val_accuracy"][-1])
    started = time.perf_counter()
    result = session.sweep_freeze([blocks[len(blocks) - 1 - top] for top in range(points)], epochs=epochs,
                                  batch_size=batch)
    ours = time.perf_counter() - started
    return {"ratio": plain / ours, "plain_seconds": plain, "tune_widgets_seconds": ours, "points": points,
            "epochs": epochs, "train": n_train, "validation": n_val,
            "plain_val_accuracy": [round(a, 3) for a in plain_accuracy],
            "tune_widgets_val_accuracy": [round(p.value, 3) for p in result.points],
            "cache_seconds": round(sum(p.cache_seconds for p in result.points), 2)}


def digits_session():
    session = tw.Session().load_model("MobileNetV2", input_shape=(32, 32, 3), weights=None)
    session.set_data(tw.load_digits(n=600, seed=0), batch_size=32)
    return session


class EpochClock(keras.callbacks.Callback):
    """Seconds per epoch, validation included (Keras validates before on_epoch_end)."""

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds = [*getattr(self, "seconds", []), time.perf_counter() - self.started]


def ui_overhead(quick):
    """Steady-state throughput through the dashboard (live charts, headless) ÷ plain model.fit.

    Both train the same model on the same data with validation each epoch; the first epoch of
    each (graph tracing) is left out.
    """
    epochs = 3 if quick else 5
    session = digits_session()
    board = Dashboard(session)  # observers attached: progress updates redraw the chart
    x, y = session._encoded["train"], session.train_data.labels
    validation = (session._encoded["validation"], session.validation_data.labels)
    session.compile(1)
    clock = EpochClock()
    session.model.fit(x, y, validation_data=validation, epochs=epochs, batch_size=32, verbose=0, callbacks=[clock])
    plain = sum(clock.seconds[1:])
    run = session.fit(epochs=epochs, batch_size=32, cache=False)
    ours = sum(row["seconds"] for row in run.epochs[1:])
    return {"ratio": plain / ours, "plain_seconds": plain, "dashboard_seconds": ours,
            "chart_points": len(board.training_panel.chart.data[0].x), "epochs_timed": epochs - 1}


def refreeze():
    """Time from a freeze change to ready-to-train ÷ a plain Keras recompile."""
    session = digits_session()
    session.compile(1)
    started = time.perf_counter()
    session.freeze_to("block_6")
    session.compile(1)
    ours = time.perf_counter() - started
    model = session.model
    started = time.perf_counter()
    for layer in model.layers[:40]:
        layer.trainable = False
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    plain = time.perf_counter() - started
    return {"ratio": ours / plain, "tune_widgets_seconds": ours, "keras_recompile_seconds": plain}


class BatchTimer(Callback):
    def __init__(self):
        super().__init__()
        self.times, self.last, self.started = [], None, threading.Event()

    def on_train_batch_end(self, batch, logs=None):
        now = time.perf_counter()
        if self.last is not None:
            self.times.append(now - self.last)
        self.last = now
        if len(self.times) >= 3:
            self.started.set()


def stop_latency():
    """Seconds from Stop to the end of the fit ÷ one batch's time."""
    session = digits_session()
    timer = BatchTimer()
    future = session.fit(epochs=100, batch_size=32, callbacks=[timer], background=True, cache=False)
    timer.started.wait(120)
    started = time.perf_counter()
    session.stop()
    future.result(120)
    latency = time.perf_counter() - started
    batch = float(np.median(timer.times))
    return {"ratio": latency / batch, "stop_seconds": latency, "batch_seconds": batch}


def layer_map_payload():
    model = keras.applications.EfficientNetB7(weights=None, include_top=False, input_shape=(64, 64, 3))
    session = tw.Session().load_model(model)
    payload = layers_payload(session.layers)
    frozen = [row.frozen for row in session.layers]
    size = len(json.dumps(payload, separators=(",", ":"))) + len(json.dumps(frozen, separators=(",", ":")))
    rates = block_rates(payload, session.optimizer.replace(layer_rates=(("block1", 0.01),)))
    return {"ratio": float(size), "bytes": size, "layers": len(session.layers),
            "frozen_update_bytes": len(json.dumps(frozen, separators=(",", ":"))),
            "rates_bytes": len(json.dumps(rates, separators=(",", ":")))}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small data, few epochs: a smoke run")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args(argv)
    cases = {}
    cases.update(frozen_cases(args.quick))
    cases["ui_overhead"] = ui_overhead(args.quick)
    cases["refreeze"] = refreeze()
    cases["stop_latency"] = stop_latency()
    cases["layer_map_payload"] = layer_map_payload()
    cases["freeze_sweep"] = freeze_sweep(args.quick)
    print(f"{'case':<20} {'ratio':>10}  details")
    for name, case in cases.items():
        details = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in case.items()
                            if k != "ratio" and not isinstance(v, dict))
        print(f"{name:<20} {case['ratio']:>10.3f}  {details}")
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as handle:
            json.dump({"quick": args.quick, "cases": cases}, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
