"""Every refusal, table-driven: the exception's class, a key phrase of its message, and the
session exactly as it was (model, plan, optimizer, head, data, runs, weights)."""

import json

import keras
import numpy as np
import pandas as pd
import pytest

import tune_widgets as tw
from tests.reliability.session_state import assert_unchanged, observable_state

pytestmark = pytest.mark.reliability


def images_with(value):
    data = tw.load_digits(n=40, seed=1)
    pixels = data.examples.copy()
    pixels[3, 2, 2, 0] = value
    return pixels, data.labels


def three_classes(session):
    data = tw.load_digits(n=120, seed=2)
    keep = data.labels < 3
    session.set_data(data.examples[keep], data.labels[keep])
    session.set_head(num_classes=3)


def frozen_everything(session):
    session.freeze()


def warmup_schedule(session):
    session.set_optimizer(schedule="warmup_cosine", warmup_fraction=0.5)


def cosine_schedule(session):
    session.set_optimizer(schedule="cosine")


def lambda_model_file(tmp_path):
    inputs = keras.Input((8, 8, 1))
    outputs = keras.layers.Dense(2)(keras.layers.Flatten()(keras.layers.Lambda(lambda x: x * 2)(inputs)))
    path = tmp_path / "lambda.keras"
    keras.Model(inputs, outputs).save(path)
    return path


def pickle_checkpoint(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    (tmp_path / "pytorch_model.bin").write_bytes(b"\x80\x04not really a pickle")
    return tmp_path


def gapped_labels():
    data = tw.load_digits(n=40, seed=1)
    labels = np.where(data.labels > 1, 7, data.labels)
    return data.examples, labels


def text_as_keras_file(tmp_path):
    path = tmp_path / "notes.keras"
    path.write_text("not a model")
    return path


def file_as_folder(tmp_path):
    (tmp_path / "notes.txt").write_text("a file")
    return tmp_path / "notes.txt" / "model.keras"


# (case id, setup(session) or None, action(session, tmp_path), exception class, key phrase)
CASES = [
    # models
    ("unknown application name", None, lambda s, p: s.load_model("ResNet05"),
     tw.UnknownModelError, "Did you mean: ResNet50"),
    ("folder that does not exist", None, lambda s, p: s.load_model(str(p / "no" / "such" / "model")),
     tw.ModelSourceError, "No such folder or file"),
    ("relative folder that does not exist", None, lambda s, p: s.load_model("./checkpoints/bert"),
     tw.ModelSourceError, "No such folder or file"),
    ("missing .keras file", None, lambda s, p: s.load_model(p / "gone.keras"),
     tw.ModelSourceError, "No model file"),
    ("folder without config.json", None, lambda s, p: s.load_model(p),
     tw.CheckpointError, "has no config.json"),
    ("checkpoint with only pickle weights", None, lambda s, p: s.load_model(pickle_checkpoint(p)),
     tw.CheckpointError, "only as pytorch_model.bin, a Python pickle"),
    (".keras file with a Lambda layer", None, lambda s, p: s.load_model(lambda_model_file(p)),
     tw.ModelSourceError, "safe_mode=True"),
    (".keras file that is text", None, lambda s, p: s.load_model(text_as_keras_file(p)),
     tw.ModelSourceError, "notes.keras is not a Keras archive: a .keras file is a zip archive"),
    ("zero-channel input shape", None,
     lambda s, p: s.load_model("MobileNetV2", input_shape=(32, 32, 0), weights=None), tw.ConfigError,
     "input_shape for MobileNetV2 must be (height, width, channels), each a whole number of at least 1"),
    ("source of the wrong type", None, lambda s, p: s.load_model(42),
     tw.ModelSourceError, "not int"),
    ("two-axis input shape", None, lambda s, p: s.load_model("MobileNetV2", input_shape=(32, 32), weights=None),
     tw.ConfigError, "(height, width, channels)"),
    # data
    ("NaN pixel", None, lambda s, p: s.set_data(*images_with(np.nan)),
     tw.DataError, "features with NaN or inf at position 3"),
    ("inf pixel", None, lambda s, p: s.set_data(*images_with(np.inf)),
     tw.DataError, "pass dropna=True"),
    ("None among texts", None, lambda s, p: s.set_data(["good", None, "bad", "fine"], ["p", "p", "n", "n"]),
     tw.DataError, "missing texts (None or NaN) at position 1"),
    ("NaN in a DataFrame text column", None,
     lambda s, p: s.set_data(pd.DataFrame({"text": ["a", np.nan, "b", "c"], "label": ["x", "y", "x", "y"]})),
     tw.DataError, "missing texts (None or NaN) at position 1"),
    ("NaN in a string label column", None,
     lambda s, p: s.set_data(pd.DataFrame({"text": ["a", "b", "c", "d"], "label": ["x", "y", np.nan, "y"]})),
     tw.DataError, "missing labels (None or NaN) at position 2"),
    ("None among labels", None, lambda s, p: s.set_data(*images_with(0)[:1], [None] + [0, 1] * 19 + [1]),
     tw.DataError, "missing labels (None or NaN) at position 0"),
    ("labels that skip class numbers", None, lambda s, p: s.set_data(*gapped_labels()),
     tw.DataError, "skip class numbers 2, 3, 4, 5, 6"),
    ("label past the head's class count", three_classes,
     lambda s, p: s.set_data(*gapped_labels()), tw.DataError, "Label 7 is out of range for the head's 3 classes"),
    ("label past the class names", None,
     lambda s, p: s.set_data(*gapped_labels(), class_names=["zero", "one"]), tw.DataError, "Label 7 is out of range"),
    ("negative label", None, lambda s, p: s.set_data(np.zeros((4, 8, 8)), [0, 1, -1, 1]),
     tw.DataError, "Label -1 (position 2) is negative"),
    ("fewer labels than examples", None, lambda s, p: s.set_data(np.zeros((4, 8, 8)), [0, 1, 0]),
     tw.DataError, "4 examples but 3 labels"),
    ("labels beside a LabelledData", None, lambda s, p: s.set_data(tw.load_digits(n=40), [0] * 40),
     tw.DataError, "A LabelledData carries its own labels: pass it alone"),
    ("other class names for a LabelledData", None,
     lambda s, p: s.set_data(tw.load_digits(n=40), class_names=list("abcdefghij")), tw.DataError,
     "build it with those class names"),
    ("negative split seed", None, lambda s, p: s.set_data(tw.load_digits(n=40), seed=-1),
     tw.DataError, "seed must be a whole number of at least 0, got -1"),
    ("boolean batch size for the data", None, lambda s, p: s.set_data(tw.load_digits(n=40), batch_size=True),
     tw.ConfigError, "batch_size must be a positive whole number"),
    ("zero batch size for the data", None, lambda s, p: s.set_data(tw.load_digits(n=40), batch_size=0),
     tw.ConfigError, "batch_size must be a positive whole number"),
    ("zero batch size assigned", None, lambda s, p: setattr(s, "batch_size", 0),
     tw.ConfigError, "batch_size must be a positive whole number, got 0"),
    ("boolean batch size assigned", None, lambda s, p: setattr(s, "batch_size", True),
     tw.ConfigError, "batch_size must be a positive whole number, got True"),
    ("NaN in examples to predict", None, lambda s, p: s.predict(images_with(np.nan)[0]),
     tw.DataError, "features with NaN or inf at position 3"),
    ("NaN in examples to predict, which cannot drop them", None, lambda s, p: s.predict(images_with(np.nan)[0]),
     tw.DataError, "Fix those values: predict gives one answer per example, so it drops none."),
    ("NaN in data to evaluate", None, lambda s, p: s.evaluate(*images_with(np.nan)),
     tw.DataError, "pass dropna=True to drop the 1 row"),
    # freezing
    ("unknown layer", None, lambda s, p: s.freeze("conv9"), tw.LayerSelectionError, "No layer or block matches"),
    ("index out of range", None, lambda s, p: s.freeze(99), tw.LayerSelectionError, "out of range"),
    ("boolean selector", None, lambda s, p: s.unfreeze(True), tw.LayerSelectionError, "not a layer selector"),
    ("freeze_to past the end", None, lambda s, p: s.freeze_to(np.int64(100)), tw.ConfigError, "out of range"),
    ("set_frozen with an unknown name", None, lambda s, p: s.set_frozen(["conv1_conv", "ghost"]),
     tw.LayerSelectionError, "No layers named ['ghost']"),
    ("broken regular expression", None, lambda s, p: s.freeze("re:conv["),
     tw.LayerSelectionError, "not a valid regular expression"),
    # optimizer
    ("negative learning rate", None, lambda s, p: s.set_optimizer(learning_rate=-1),
     tw.ConfigError, "learning_rate must be a positive number"),
    ("momentum with adam", None, lambda s, p: s.set_optimizer(momentum=0.5),
     tw.ConfigError, "adam ignores momentum"),
    ("momentum with adam, named once", None, lambda s, p: s.set_optimizer(momentum=0.5),
     tw.ConfigError, "adam ignores momentum: it would change nothing"),
    ("momentum and nesterov with adam", None, lambda s, p: s.set_optimizer(momentum=0.5, nesterov=True),
     tw.ConfigError, "adam ignores momentum and nesterov: it would change nothing"),
    ("nesterov with adamw", None, lambda s, p: s.set_optimizer(optimizer="adamw", nesterov=True),
     tw.ConfigError, "adamw ignores nesterov"),
    ("a whole spec with momentum for adam", None,
     lambda s, p: s.set_optimizer(tw.OptimizerSpec("adam", momentum=0.5)), tw.ConfigError, "adam ignores momentum"),
    ("unknown field", None, lambda s, p: s.set_optimizer(lr=0.1), tw.ConfigError, "OptimizerSpec fields"),
    ("unknown schedule", None, lambda s, p: s.set_optimizer(schedule="linear"), tw.ConfigError, "Unknown schedule"),
    # training
    ("zero batch size for a fit", None, lambda s, p: s.fit(batch_size=0),
     tw.ConfigError, "batch_size must be a positive whole number"),
    ("boolean batch size for a fit", None, lambda s, p: s.fit(batch_size=True),
     tw.ConfigError, "batch_size must be a positive whole number"),
    ("boolean epochs", None, lambda s, p: s.fit(epochs=True), tw.ConfigError, "epochs must be a positive whole number"),
    ("zero epochs as a numpy integer", None, lambda s, p: s.fit(epochs=np.int64(0)),
     tw.ConfigError, "epochs must be a positive whole number"),
    ("nothing trainable", frozen_everything, lambda s, p: s.fit(),
     tw.ConfigError, "Every layer with weights is frozen"),
    ("warmup as long as the run", warmup_schedule, lambda s, p: s.fit(epochs=1, batch_size=400),
     tw.ConfigError, "warmup takes 1 step but the run has only 1"),
    ("a plain callback's class, not an instance", None,
     lambda s, p: s.fit(callbacks=[keras.callbacks.EarlyStopping]), tw.ConfigError, "pass EarlyStopping(...)"),
    ("a function as a callback", None, lambda s, p: s.fit(callbacks=[print]),
     tw.ConfigError, "callbacks must be keras.callbacks.Callback instances"),
    ("one callback, not a list", None, lambda s, p: s.fit(callbacks=keras.callbacks.TerminateOnNaN()),
     tw.ConfigError, "callbacks takes a list: callbacks=[TerminateOnNaN(...)]"),
    ("ReduceLROnPlateau under a schedule", cosine_schedule,
     lambda s, p: s.fit(callbacks=[keras.callbacks.ReduceLROnPlateau()]), tw.ConfigError,
     "ReduceLROnPlateau sets the learning rate, but the cosine schedule sets it at every step"),
    ("one-class head", None, lambda s, p: s.set_head(num_classes=1),
     tw.ConfigError, "num_classes must be a whole number of at least 2"),
    ("a head wider than the data's classes", None, lambda s, p: s.set_head(num_classes=12), tw.ConfigError,
     "The head has 12 classes but the data has 10: leave num_classes=None to follow the data, or name all 12"),
    ("boolean class count", None, lambda s, p: s.set_head(num_classes=True),
     tw.ConfigError, "num_classes must be a whole number of at least 2"),
    ("head dropout of 1.5", None, lambda s, p: s.set_head(dropout=1.5), tw.ConfigError, "dropout must be in [0, 1)"),
    # saving
    ("save as .h5", None, lambda s, p: s.save(p / "model.h5"), tw.ConfigError, "Save to a .keras file"),
    ("save into a missing folder", None, lambda s, p: s.save(p / "missing" / "model.keras"),
     tw.SaveError, "no such folder"),
    ("save under a file", None, lambda s, p: s.save(file_as_folder(p)), tw.SaveError, "is a file, not a folder"),
]


@pytest.mark.parametrize("setup, action, error, phrase", [case[1:] for case in CASES],
                         ids=[case[0] for case in CASES])
def test_a_refusal_names_the_problem_and_changes_nothing(cnn_session, tmp_path, setup, action, error, phrase):
    if setup is not None:
        setup(cnn_session)
    before = observable_state(cnn_session)
    with pytest.raises(error) as raised:
        action(cnn_session, tmp_path)
    assert phrase in str(raised.value)
    assert_unchanged(before, cnn_session)
    if error is tw.SaveError:  # nothing written, nothing half-made
        assert not [path for path in tmp_path.rglob("*") if path.name.endswith((".keras", ".tune.json"))]


def test_the_panel_and_load_model_refuse_a_shape_alike():
    from tune_widgets.widgets.model_panel import parse_shape

    session = tw.Session(runs_dir=None)
    for text, shape in (("32, 32, 0", (32, 32, 0)), ("32, 32", (32, 32))):
        with pytest.raises(tw.ConfigError) as typed:
            parse_shape(text, "MobileNetV2")
        with pytest.raises(tw.ConfigError) as given:
            session.load_model("MobileNetV2", input_shape=shape, weights=None)
        assert str(typed.value) == str(given.value)
    assert session.backbone is None


def test_advice_works_when_followed_literally(cnn_session):
    with pytest.raises(tw.ConfigError, match="leave num_classes=None"):
        cnn_session.set_head(num_classes=12)
    cnn_session.set_head(num_classes=None)
    assert cnn_session.head_mismatch == ""
    with pytest.raises(tw.ConfigError, match=r"set_data\(\.\.\., class_names=\[\.\.\.\]\) first"):
        cnn_session.set_head(num_classes=12)
    digits = tw.load_digits(n=200, seed=0)
    cnn_session.set_data(digits.examples, digits.labels, class_names=[str(i) for i in range(12)])
    cnn_session.set_head(num_classes=12)
    with pytest.raises(tw.DataError, match="pass dropna=True"):
        cnn_session.evaluate(*images_with(np.nan))
    with pytest.warns(tw.TuneWidgetsWarning, match="dropna=True dropped 1 of 40 rows"):
        assert cnn_session.evaluate(*images_with(np.nan), dropna=True).support.sum() == 39
    cnn_session.set_optimizer(schedule="cosine")
    plateau = keras.callbacks.ReduceLROnPlateau()
    with pytest.raises(tw.ConfigError, match=r"Choose session.set_optimizer\(schedule='constant'\)"):
        cnn_session.fit(callbacks=[plateau])
    cnn_session.set_optimizer(schedule="constant")
    assert cnn_session.fit(callbacks=[plateau]).status == "completed"


def test_numpy_integers_are_whole_numbers_everywhere(cnn_session):
    cnn_session.set_data(tw.load_digits(n=60), batch_size=np.int64(16))
    assert cnn_session.batch_size == 16 and type(cnn_session.batch_size) is int
    cnn_session.batch_size = np.int32(24)  # the trait itself checks: assigned, not only through set_data
    assert cnn_session.batch_size == 24 and type(cnn_session.batch_size) is int
    cnn_session.set_head(num_classes=np.int32(10))
    assert cnn_session.head.num_classes == 10 and type(cnn_session.head.num_classes) is int
    cnn_session.freeze_to(np.int64(3))
    assert len(cnn_session.plan.frozen) == 3
    run = cnn_session.fit(epochs=np.int64(1), batch_size=np.int32(32))
    assert run.status == "completed" and run.config["batch_size"] == 32
    json.dumps(run.to_dict(), allow_nan=False)


def test_dropna_drops_the_rows_and_counts_them(cnn_session):
    pixels, labels = images_with(np.nan)
    labels = labels.astype("float64")
    labels[7] = np.nan
    with pytest.warns(tw.TuneWidgetsWarning, match=r"dropna=True dropped 2 of 40 rows.*positions? 3.*position 7"):
        cnn_session.set_data(pixels, labels, dropna=True, class_names=[str(d) for d in range(10)])
    assert len(cnn_session.train_data) + len(cnn_session.validation_data) == 38
    assert np.isfinite(cnn_session.train_data.examples).all() and np.isfinite(cnn_session.validation_data.examples).all()


def test_empty_texts_are_warned_about_not_refused():
    with pytest.warns(tw.TuneWidgetsWarning, match=r"2 texts are empty or whitespace only, at positions 1, 3"):
        data = tw.labelled(["good", "", "bad", "  ", "fine", "awful"], ["p", "p", "n", "n", "p", "n"])
    assert len(data) == 6
