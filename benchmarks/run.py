"""Benchmarks: tune-widgets against plain Keras, side by side in one run.

    python benchmarks/run.py [--quick] [--repeats N] [--only CASE ...] [--json PATH]

A single timing on a 2-core machine can be off by 2x either way, so each side of a timed case
runs after one warm-up, `--repeats` times (3 by default), interleaved (ours, plain, ours, ...).
A case reports the ratio of the medians and its spread (the ratio of the extremes); a goal is
met only when the whole spread meets it. Validation accuracy is reported for both sides where
both train. Prints a table and writes {"cases": {NAME: {...}}}. --quick shrinks data and epochs
(a smoke run: its figures mean little; it skips the warm-ups and leaves out the slowest cases,
full fine-tuning, XLA/bfloat16, the start-up cases' two fresh processes and suggest_freeze
against the sweep, which `--only full_finetune acceleration start_up suggest_freeze` runs).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TUNE_WIDGETS_FEATURE_CACHE", "off")  # every case pays its own cache pass; first_fit.py chooses

import tune_widgets as tw  # noqa: E402  (first: it sets TensorFlow's environment)

import keras  # noqa: E402
import numpy as np  # noqa: E402

from tune_widgets.training import acceleration
from tune_widgets.data import bucketing  # noqa: E402
from tune_widgets.training.cache import plan_cache  # noqa: E402
from tune_widgets.errors import ConfigError  # noqa: E402
from tune_widgets.models.head import TokenPooling, input_names  # noqa: E402
from tune_widgets.training import Callback  # noqa: E402
from tune_widgets.training.signals import LayerSignals  # noqa: E402
from tune_widgets.widgets import Dashboard  # noqa: E402
from tune_widgets.widgets.layer_map import layers_payload  # noqa: E402

SIZES = {"quick": (64, 32), "full": (1000, 300)}  # tweets: train, validation


# ---- measuring -------------------------------------------------------------------------------

WARM_UP = True  # --quick leaves the warm-ups out: a smoke run's timings include first traces


def interleaved(ours, plain, repeats):
    """Seconds of each side, `repeats` times, alternating, after one warm-up call of each.

    Each side is a callable(warmup) returning (seconds, details); the warm-up may be cheaper.
    """
    if WARM_UP:
        ours(True), plain(True)
    mine, theirs, details = [], [], {}
    for _ in range(repeats):
        seconds, extra = ours(False)
        mine.append(seconds)
        details.update({f"ours_{k}": v for k, v in extra.items()})
        seconds, extra = plain(False)
        theirs.append(seconds)
        details.update({f"plain_{k}": v for k, v in extra.items()})
    return mine, theirs, details


def ratio_case(numerator, denominator, goal=None, at_least=True, **details):
    """The ratio of medians, its spread from the extremes, and whether the whole spread meets
    the goal (`at_least`: ratio >= goal, else ratio <= goal)."""
    ratio = statistics.median(numerator) / statistics.median(denominator)
    low, high = min(numerator) / max(denominator), max(numerator) / min(denominator)
    case = {"ratio": ratio, "low": low, "high": high, "numerator_seconds": numerator,
            "denominator_seconds": denominator, **details}
    if goal is not None:
        case.update(goal=goal, direction=">=" if at_least else "<=",
                    met=bool(low >= goal if at_least else high <= goal))
    return case


def clock(function):
    started = time.perf_counter()
    result = function()
    return time.perf_counter() - started, result


# ---- the text cases (MiniLM on tweets) -------------------------------------------------------

def tweets(size):
    n_train, n_validation = SIZES[size]
    data = tw.load_tweets(n=n_train + n_validation, seed=0)
    return tw.split(data, n_validation / (n_train + n_validation), seed=0)


def minilm_session(train, held, freeze_to="transformer_layer_5", rate=5e-3, batch_size=32):
    session = tw.Session().load_model(tw.minilm_folder(), sequence_length=64)
    session.set_data(train, validation_data=held, batch_size=batch_size)
    if freeze_to:
        session.freeze_to(freeze_to)
    session.set_optimizer(learning_rate=rate)
    return session


def plain_model(session, trainable_blocks, rate):
    """The founding document's recipe in plain Keras, as a user writes it: a KerasHub encoder
    with its lower layers frozen by `layer.trainable = False`, a Dense softmax head, Adam, sparse
    categorical cross-entropy."""
    import keras_hub

    backbone = keras_hub.models.Backbone.from_preset(str(tw.minilm_folder()))
    if trainable_blocks < 6:  # the top blocks train, everything below them is frozen
        top = {f"transformer_layer_{i}" for i in range(6 - trainable_blocks, 6)}
        for layer in backbone.layers:
            layer.trainable = layer.name in top
    inputs = {name: keras.Input((None,), dtype="int32", name=name) for name in ("token_ids", "padding_mask", "segment_ids")}
    sequence = backbone(inputs)["sequence_output"]
    pooled = TokenPooling("mean")(sequence, inputs["padding_mask"])  # the same pooling as ours
    outputs = keras.layers.Dense(len(session.class_names), activation="softmax")(keras.layers.Dropout(0.1)(pooled))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(rate), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def plain_fit(session, trainable_blocks, epochs, rate, batch_size=32):
    """A side of a case: plain `model.fit` with validation each epoch, as a user would."""
    def side(warmup):
        model = plain_model(session, trainable_blocks, rate)
        x, y = session.encoded["train"], session.train_data.labels
        validation = (session.encoded["validation"], session.validation_data.labels)
        if warmup:
            x, y = {k: v[:batch_size] for k, v in x.items()}, y[:batch_size]
        seconds, history = clock(lambda: model.fit(x, y, validation_data=validation, epochs=1 if warmup else epochs,
                                                   batch_size=batch_size, verbose=0))
        side.model = model
        return seconds, {"val_accuracy": history.history["val_accuracy"][-1]}
    return side


def our_fit(session, epochs, batch_size=32):
    """A side of a case: the session's fit, from a cold feature cache every time."""
    start = session.model.get_weights()

    def side(warmup):
        session.model.set_weights(start)
        session.feature_cache.clear()  # each repeat pays for its own cache pass
        seconds, run = clock(lambda: session.fit(epochs=1 if warmup else epochs, batch_size=batch_size, seed=0))
        return seconds, {"val_accuracy": run.final["val_accuracy"], "cache": run.config["cache"]}
    return side


def text_cases(size, repeats, only):
    train, held = tweets(size)
    quick = size == "quick"
    cases = {}
    if only & {"frozen_cache", "cost_vs_inference", "evaluate_cached", "bucketed_pass"}:
        epochs = 2 if quick else 10
        session = minilm_session(train, held)
        ours, plain = our_fit(session, epochs), plain_fit(session, 0, epochs, 5e-3)
        mine, theirs, details = interleaved(ours, plain, repeats)
        predict = []
        for _ in range(repeats):
            predict.append(clock(lambda: [plain.model.predict(session.encoded[p], batch_size=32, verbose=0)
                                          for p in ("train", "validation")])[0])
        limit = statistics.median(theirs) / statistics.median(predict)
        cases["frozen_cache"] = ratio_case(theirs, mine, goal=limit, epochs=epochs, train=len(train),
                                           validation=len(held), predict_seconds=predict, **details)
        cases["cost_vs_inference"] = ratio_case(mine, predict, goal=0.7, at_least=False)
        cases["evaluate_cached"] = evaluate_cached(session, repeats)
        cases["bucketed_pass"] = bucketed_pass(session, repeats)
    if only & {"partial_unfreeze", "cache_memory", "signal_cost"}:
        epochs = 1 if quick else 3
        session = minilm_session(train, held, freeze_to="transformer_layer_3", rate=5e-5)
        if only & {"partial_unfreeze", "cache_memory"}:
            mine, theirs, details = interleaved(our_fit(session, epochs), plain_fit(session, 2, epochs, 5e-5), repeats)
            cases["partial_unfreeze"] = ratio_case(theirs, mine, goal=3, epochs=epochs, **details)
            cases["cache_memory"] = cache_memory(session)
        if "signal_cost" in only:  # the same session: one MiniLM load and cache pass for both
            cases["signal_cost"] = signal_cost(session, 1 if quick else 2, repeats)
    if "full_finetune" in only:
        epochs = 1 if quick else 2
        session = minilm_session(train, held, freeze_to=None, rate=5e-5)
        mine, theirs, details = interleaved(our_fit(session, epochs), plain_fit(session, 6, epochs, 5e-5), repeats)
        cases["full_finetune"] = ratio_case(theirs, mine, goal=1.6, epochs=epochs, **details)
    if "freeze_sweep" in only:
        cases["freeze_sweep"] = freeze_sweep(train, held, quick, repeats)
    if "acceleration" in only:
        cases.update(acceleration_cases(train, held, 1 if quick else 2, repeats))
    if "suggest_freeze" in only:
        cases["suggest_freeze"] = suggest_against_sweep(train, held, 1)
    return cases


class NoSignals(LayerSignals):
    """A fit without layer signals: the Fit adds its own LayerSignals only when none is given."""

    def on_train_begin(self, logs=None):
        pass

    def on_train_batch_begin(self, batch, logs=None):
        pass

    def on_train_batch_end(self, batch, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass


def signal_cost(session, epochs, repeats):
    """A fit with the layer signals (on by default) ÷ the same fit without them, the top two
    blocks and the head training on the cached prefix (the goal: at most 5 % more); also the
    share of its time the sampling itself measured (--quick: a few steps without warm-ups, whose
    ratio is mostly the first sample's tracing)."""
    start = session.model.get_weights()
    shares = []

    def side(callbacks):
        def run(warmup):
            session.model.set_weights(start)
            seconds, record = clock(lambda: session.fit(epochs=1 if warmup else epochs, seed=0, callbacks=callbacks))
            signals = record.layer_signals
            if signals and not warmup:
                shares.append(signals["seconds"] / record.duration)
            return seconds, {"samples": len(signals.get("samples", ())) if signals else 0, "steps": len(record.batches)}
        return run

    mine, theirs, details = interleaved(side([]), side([NoSignals()]), repeats)
    return ratio_case(mine, theirs, goal=1.05, at_least=False, epochs=epochs, sampling_share=shares, **details)


def suggest_against_sweep(train, held, epochs):
    """suggest_freeze (one probe, then a fit of its plan) against sweep_freeze over its default
    cut points, each point and the suggested plan trained for `epochs` from the same weights:
    the suggestion's validation accuracy, its distance from the sweep's best, and the seconds of
    each. Not a timed goal: the sweep trains every point, the suggestion one probe and one plan."""
    session = minilm_session(train, held, freeze_to=None, rate=1e-4)
    start = session.model.get_weights()
    seconds, sweep = clock(lambda: session.sweep_freeze(epochs=epochs))
    session.model.set_weights(start)
    suggest_seconds, suggestion = clock(lambda: session.suggest_freeze(epochs=epochs))
    session.set_frozen(suggestion.frozen)
    fit_seconds, run = clock(lambda: session.fit(epochs=epochs, seed=0))
    best = sweep.best
    accuracy = run.final["val_accuracy"]
    return {"ratio": (suggest_seconds + fit_seconds) / seconds, "suggested_cut": suggestion.cut,
            "suggested_val_accuracy": accuracy, "sweep_best": best.label, "sweep_best_val_accuracy": best.value,
            "distance_from_best": best.value - accuracy, "sweep_seconds": seconds,
            "suggest_seconds": suggest_seconds, "suggested_fit_seconds": fit_seconds,
            "sweep_points": {p.label: p.value for p in sweep.points}, "shares": dict(suggestion.shares),
            "reason": suggestion.reason}


def freeze_sweep(train, held, quick, repeats):
    """The freeze sweep (head only, then the top 1, 2, 3 transformer layers trainable) ÷ the same
    sweep by hand in plain Keras: per point, put the starting weights back, set the trainable
    flags, recompile and fit with validation each epoch."""
    points, epochs = (2, 1) if quick else (4, 2)
    session = minilm_session(train, held)
    cuts = [f"transformer_layer_{5 - top}" for top in range(points)]
    x, y = session.encoded["train"], session.train_data.labels
    validation = (session.encoded["validation"], session.validation_data.labels)
    model = plain_model(session, 0, 5e-3)
    backbone = next(layer for layer in model.layers if isinstance(layer, keras.Model))
    start = model.get_weights()

    def plain(warmup):
        accuracy, started = [], time.perf_counter()
        for top in range(1 if warmup else points):
            model.set_weights(start)
            backbone.trainable = True
            for layer in backbone.layers:
                layer.trainable = layer.name in {f"transformer_layer_{5 - i}" for i in range(top)}
            model.compile(optimizer=keras.optimizers.Adam(5e-3), loss="sparse_categorical_crossentropy",
                          metrics=["accuracy"])
            history = model.fit(x, y, validation_data=validation, epochs=epochs, batch_size=32, verbose=0)
            accuracy.append(round(history.history["val_accuracy"][-1], 3))
        return time.perf_counter() - started, {"val_accuracy": accuracy}

    def ours(warmup):
        session.feature_cache.clear()
        seconds, result = clock(lambda: session.sweep_freeze(cuts[:1] if warmup else cuts, epochs=epochs))
        return seconds, {"val_accuracy": [round(p.value, 3) for p in result.points]}

    mine, theirs, details = interleaved(ours, plain, repeats)
    return ratio_case(theirs, mine, points=points, epochs=epochs, **details)


def evaluate_cached(session, repeats):
    """`evaluate()` after a fit (the validation features are cached) ÷ plain `model.evaluate`."""
    session.fit(epochs=1, seed=0)
    model = session.model
    x, y = session.encoded["validation"], session.validation_data.labels
    model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    mine, theirs, _ = interleaved(lambda warmup: (clock(session.evaluate)[0], {}),
                                  lambda warmup: (clock(lambda: model.evaluate(x, y, batch_size=64, verbose=0))[0], {}),
                                  repeats)
    return ratio_case(mine, theirs, goal=0.1, at_least=False, examples=len(y))


def bucketed_pass(session, repeats):
    """The length-bucketed prefix pass ÷ a padded `predict` of the same prefix; outputs compared."""
    plan, _ = plan_cache(session.model)
    x = session.encoded["train"]
    inputs = bucketing.as_inputs(x, input_names(plan.prefix))
    bucketed, padded = [], []

    def ours(warmup):
        seconds, outputs = clock(lambda: bucketing.infer(plan.prefix, inputs, 32))
        bucketed[:] = outputs
        return seconds, {}

    def plain(warmup):
        seconds, outputs = clock(lambda: plan.prefix.predict(x, batch_size=32, verbose=0))
        padded[:] = [outputs]
        return seconds, {}

    mine, theirs, _ = interleaved(ours, plain, repeats)
    difference = float(np.abs(np.asarray(bucketed[0]) - np.asarray(padded[0])).max())
    return ratio_case(mine, theirs, goal=0.6, at_least=False, max_abs_difference=difference)


def cache_memory(session):
    """Bytes of the partial case's cached features ÷ the same hidden states padded, float32."""
    info = session.feature_cache.info
    count = len(session.train_data) + len(session.validation_data)
    padded = count * 64 * 384 * 4 + count * 64 * 4  # hidden states and the padding mask, padded
    ratio = info["bytes"] / padded
    return {"ratio": ratio, "goal": 0.6, "direction": "<=", "met": ratio <= 0.6, "cached_bytes": info["bytes"],
            "padded_bytes": padded}


def acceleration_cases(train, held, epochs, repeats):
    """XLA and bfloat16 against the default, for the partial freeze and the full fine-tune."""
    cases = {}
    for name, freeze_to in (("partial", "transformer_layer_3"), ("full", None)):
        session = minilm_session(train, held, freeze_to=freeze_to, rate=5e-5)
        default = our_fit(session, epochs)
        for option in ("jit_compile", "mixed_precision"):
            if option == "mixed_precision":
                try:
                    acceleration.check_mixed_precision()
                except ConfigError as refusal:
                    cases[f"{option}_{name}"] = {"ratio": float("nan"), "refused": str(refusal)}
                    continue
            start = session.model.get_weights()

            def accelerated(warmup, option=option):
                session.model.set_weights(start)
                session.feature_cache.clear()
                seconds, run = clock(lambda: session.fit(epochs=1 if warmup else epochs, seed=0, **{option: True}))
                return seconds, {"val_accuracy": run.final["val_accuracy"]}

            mine, theirs, details = interleaved(default, accelerated, repeats)
            cases[f"{option}_{name}"] = ratio_case(mine, theirs, goal=1.0, epochs=epochs, **details)
    return cases


# ---- the image and UI cases (MobileNetV2 on digits) -----------------------------------------

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


def ui_overhead(quick, repeats):
    """Steady-state epochs of plain model.fit ÷ the same training through the dashboard (live
    charts attached, headless); the first epoch of each fit (graph tracing) is left out."""
    epochs = 3 if quick else 5
    session = digits_session()
    board = Dashboard(session)  # observers attached: progress updates redraw the chart
    x, y = session.encoded["train"], session.train_data.labels
    validation = (session.encoded["validation"], session.validation_data.labels)

    def plain(warmup):
        session.compile(1)
        timer = EpochClock()
        session.model.fit(x, y, validation_data=validation, epochs=epochs, batch_size=32, verbose=0, callbacks=[timer])
        return sum(timer.seconds[1:]), {}

    def ours(warmup):
        run = session.fit(epochs=epochs, batch_size=32, cache=False)
        return sum(row["seconds"] for row in run.epochs[1:]), {}

    mine, theirs, _ = interleaved(ours, plain, repeats)
    return ratio_case(theirs, mine, goal=0.97, chart_points=len(board.training_panel.chart.data[0].x),
                      epochs_timed=epochs - 1)


def refreeze(repeats):
    """A freeze change to ready-to-train ÷ a plain Keras recompile."""
    session = digits_session()
    session.compile(1)
    model = session.model

    def ours(warmup):
        session.unfreeze()
        return clock(lambda: (session.freeze_to("block_6"), session.compile(1)))[0], {}

    def plain(warmup):
        for layer in model.layers:
            layer.trainable = True
        def change():
            for layer in model.layers[:40]:
                layer.trainable = False
            model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return clock(change)[0], {}

    mine, theirs, _ = interleaved(ours, plain, repeats)
    return ratio_case(mine, theirs)


class BatchTimer(Callback):
    """Batch times, and when the last batch ended: the first batch end that sees the stop
    request (it runs right after StopControl, order 0)."""
    order = 1

    def __init__(self):
        super().__init__()
        self.times, self.last, self.started, self.ended = [], None, threading.Event(), None

    def on_train_batch_end(self, batch, logs=None):
        now = time.perf_counter()
        if self.last is not None:
            self.times.append(now - self.last)
        self.last = now
        if len(self.times) >= 3:
            self.started.set()
        if self.ended is None and self.trainer.stop_requested.is_set():
            self.ended = now


def stop_latency(repeats):
    """Seconds from Stop to the end of the last batch ÷ one batch's time. `finished_seconds` goes
    on to the fit's result: it adds the end of the run (the run store writes the final weights)."""
    session = digits_session()
    ratios, latencies, finished = [], [], []
    for _ in range(repeats):
        timer = BatchTimer()
        future = session.fit(epochs=100, batch_size=32, callbacks=[timer], background=True, cache=False)
        timer.started.wait(120)
        started = time.perf_counter()
        session.stop()
        future.result(120)
        finished.append(time.perf_counter() - started)
        latencies.append(timer.ended - started)
        ratios.append(latencies[-1] / float(np.median(timer.times)))
    return {"ratio": statistics.median(ratios), "low": min(ratios), "high": max(ratios), "goal": 1, "direction": "<=",
            "met": max(ratios) <= 1, "stop_seconds": latencies, "finished_seconds": finished}


def start_up(quick):
    """`cold_start` and `second_kernel`, from two fresh processes running notebook 02's first
    fit (benchmarks/first_fit.py). The first fills an empty disk cache: its import-to-fit-done
    time ÷ the same fit again, warm, in that process (a fresh cache pass both times, goal ≤ 1.3).
    The second reads that cache: its first fit ÷ the first one's inference pass (goal ≤ 0.15)."""
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "first_fit.py")

    def fresh(folder, *flags):
        output = subprocess.run([sys.executable, script, folder, *flags, *(["--quick"] if quick else [])], check=True,
                                capture_output=True, text=True, timeout=1800).stdout
        return json.loads(output.strip().splitlines()[-1])

    with tempfile.TemporaryDirectory(prefix="tw-bench-features-") as folder:
        first = fresh(folder, "--warm")
        second = fresh(folder)
    cold = first["cold_seconds"] / first["warm_fit_seconds"]
    kernel = second["fit_seconds"] / first["pass_seconds"]
    return {
        "cold_start": {"ratio": cold, "low": cold, "high": cold, "goal": 1.3, "direction": "<=", "met": cold <= 1.3,
                       "import_seconds": first["import_seconds"], "cold_seconds": first["cold_seconds"],
                       "first_fit_seconds": first["fit_seconds"], "warm_fit_seconds": first["warm_fit_seconds"]},
        "second_kernel": {"ratio": kernel, "low": kernel, "high": kernel, "goal": 0.15, "direction": "<=",
                          "met": kernel <= 0.15, "fit_seconds": second["fit_seconds"],
                          "pass_seconds": first["pass_seconds"], "disk": second["disk"]},
    }


def stop_to_idle(quick, repeats):
    """Seconds from Stop to an idle session (`training` False) ÷ (one batch + 0.2 s), goal ≤ 1:
    the run's final weight save comes after. MiniLM frozen, as the browser walk trains it (a
    90 MB save); `saved_seconds`: Stop until the weights are on disk."""
    train, held = tweets("quick" if quick else "full")
    session = minilm_session(train, held)
    ratios, idle_seconds, saved, batches = [], [], [], []
    for _ in range(repeats):
        timer, idle = BatchTimer(), []
        watcher = lambda change: idle.append(time.perf_counter()) if not change["new"] else None  # noqa: E731
        session.observe(watcher, names=["training"])
        future = session.fit(epochs=10000, callbacks=[timer], background=True)
        timer.started.wait(600)
        stopped = time.perf_counter()
        session.stop()
        future.result(600)
        saved.append(time.perf_counter() - stopped)
        session.unobserve(watcher, names=["training"])
        batch = float(np.median(timer.times))
        idle_seconds.append(idle[0] - stopped)
        batches.append(batch)
        ratios.append(idle_seconds[-1] / (batch + 0.2))
    return {"ratio": statistics.median(ratios), "low": min(ratios), "high": max(ratios), "goal": 1, "direction": "<=",
            "met": max(ratios) <= 1, "idle_seconds": idle_seconds, "batch_seconds": batches, "saved_seconds": saved}


def layer_map_payload():
    model = keras.applications.EfficientNetB7(weights=None, include_top=False, input_shape=(64, 64, 3))
    session = tw.Session().load_model(model)
    payload = layers_payload(session.layers)
    frozen = [row.frozen for row in session.layers]
    size = len(json.dumps(payload, separators=(",", ":"))) + len(json.dumps(frozen, separators=(",", ":")))
    return {"ratio": float(size), "bytes": size, "layers": len(session.layers),
            "frozen_update_bytes": len(json.dumps(frozen, separators=(",", ":")))}


# ---- deploy exports ---------------------------------------------------------------------------

def export_cases(quick):
    """Per model and format: export seconds (the runtime check included), artifact size, and one
    example's latency in the artifact's own runtime against session.predict's (the ratio: below 1,
    the runtime is faster). Quick: the MobileNetV2 on 24 faces, LiteRT and ONNX only."""
    sessions = {"mobilenetv2": lambda: tw.Session(runs_dir=None).load_model(tw.mobilenetv2_file(), head=tw.HeadSpec())
                .set_data(tw.load_faces(n=24 if quick else 200), batch_size=8)}
    if not quick:
        sessions["minilm"] = lambda: tw.Session(runs_dir=None).load_model(tw.minilm_folder()).set_data(tw.load_tweets(n=200))
    formats = [("litert", None), ("onnx", None)] if quick else [("savedmodel", None), ("litert", None),
                                                                ("litert", "int8"), ("onnx", None)]
    cases = {}
    with tempfile.TemporaryDirectory(prefix="tw-bench-export-") as folder:
        for model, make in sessions.items():
            session = make()
            one = session.validation_data.examples[:1]
            session.predict(one)  # warm
            predict = statistics.median(clock(lambda: session.predict(one))[0] for _ in range(5))
            for name, quantize in formats:
                label = f"export_{model}_{name}{'_int8' if quantize else ''}"
                result = session.export_model(os.path.join(folder, label), format=name, quantize=quantize)
                cases[label] = {"ratio": result.parity.latency_s / predict, "export_seconds": round(result.seconds, 2),
                                "size_mb": round(result.size_bytes / 1e6, 2), "runtime": result.parity.runtime,
                                "runtime_latency_s": result.parity.latency_s, "predict_latency_s": predict,
                                "max_difference": result.parity.max_difference, "passed": result.ok,
                                "accuracy_change": result.parity.accuracy_change}
    return cases


# ---- running ---------------------------------------------------------------------------------

TEXT = ("frozen_cache", "cost_vs_inference", "evaluate_cached", "bucketed_pass", "partial_unfreeze", "cache_memory",
        "full_finetune", "freeze_sweep", "acceleration", "signal_cost", "suggest_freeze")
OTHER = ("ui_overhead", "refreeze", "stop_latency", "layer_map_payload", "start_up", "stop_to_idle", "export")
SLOW = ("full_finetune", "acceleration", "start_up", "suggest_freeze")  # --quick leaves these out (partial_unfreeze runs the same code)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small data, few epochs: a smoke run")
    parser.add_argument("--repeats", type=int, default=3, help="timings of each side, interleaved")
    parser.add_argument("--only", nargs="+", choices=TEXT + OTHER, help="run these cases only")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args(argv)
    global WARM_UP
    WARM_UP = not args.quick
    only = set(args.only or [case for case in TEXT + OTHER if not (args.quick and case in SLOW)])
    repeats = 1 if args.quick and args.repeats == 3 else args.repeats
    with tempfile.TemporaryDirectory(prefix="tw-bench-runs-") as runs:
        os.environ.setdefault("TUNE_WIDGETS_RUNS_DIR", runs)  # fits write their runs, as by default, then go
        cases = text_cases("quick" if args.quick else "full", repeats, only)
        if "ui_overhead" in only:
            cases["ui_overhead"] = ui_overhead(args.quick, repeats)
        if "refreeze" in only:
            cases["refreeze"] = refreeze(repeats)
        if "stop_latency" in only:
            cases["stop_latency"] = stop_latency(repeats)
        if "layer_map_payload" in only:
            cases["layer_map_payload"] = layer_map_payload()
        if "start_up" in only:
            cases.update(start_up(args.quick))
        if "stop_to_idle" in only:
            cases["stop_to_idle"] = stop_to_idle(args.quick, repeats)
        if "export" in only:
            cases.update(export_cases(args.quick))
    print(f"{'case':<26} {'ratio':>9} {'spread':>17}  goal")
    for name, case in cases.items():
        spread = f"{case['low']:.3g}–{case['high']:.3g}" if "low" in case else ""
        goal = f"{case['direction']} {case['goal']:.3g}: {'met' if case['met'] else 'NOT met'}" if "goal" in case else ""
        print(f"{name:<26} {case['ratio']:>9.3f} {spread:>17}  {goal or case.get('refused', '')}")
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as handle:
            json.dump({"quick": args.quick, "repeats": repeats, "cases": cases}, handle, indent=2, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
