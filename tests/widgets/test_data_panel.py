"""The data panel, the Reset button and the panels' empty states, driven as the browser would:
widget values set, uploads arriving in the FileUpload's JSON form, buttons clicked."""

import io

import numpy as np
import pytest
from PIL import Image

import tune_widgets as tw
from tune_widgets.models.snapshot import WeightSnapshot
from tune_widgets.widgets import Dashboard, DataPanel, EvaluationPanel, ModelPanel, OptimizerPanel, TrainingPanel, TuningPanel
from tune_widgets.widgets import data_panel as choices
from tune_widgets.widgets import model_panel


def png(color, size=(30, 20)):
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def upload(widget, files):
    """What the browser sends when files are chosen: the value in its JSON form."""
    widget.set_state({"value": [{"name": name, "type": "", "size": len(content), "content": memoryview(content),
                                 "last_modified": 0} for name, content in files]})


def use(panel):
    panel.apply.click()
    return panel.error_text


CSV = "text,label\n" + "".join(f"message {i},{'spam' if i % 3 == 0 else 'ham'}\n" for i in range(12))


def test_empty_states_say_what_to_do_next():
    session = tw.Session()
    texts = {"data": DataPanel(session).summary.value, "model": ModelPanel(session).counts.value,
             "training": TrainingPanel(session).status.value, "evaluation": EvaluationPanel(session).summary.value,
             "finder": OptimizerPanel(session).finder.value, "sweep": TuningPanel(session).chart.value}
    assert "choose a source above" in texts["data"] and "Use this data" in texts["data"]
    assert "click Load model" in texts["model"]
    assert texts["training"] == "Load a model (Model panel), set data (Data panel), then click Train."
    assert "click Evaluate" in texts["evaluation"]
    assert "click Find LR" in texts["finder"] and "click Sweep" in texts["sweep"]


def test_each_shipped_set_shows_its_split_balance_and_sample():
    session = tw.Session()
    panel = DataPanel(session)
    for choice, classes, images in ((choices.FACES, ("face", "not face"), True),
                                    (choices.DIGITS, tuple("0123456789"), True),
                                    (choices.TWEETS, ("negative", "neutral", "positive"), False)):
        panel.source.value = choice
        panel.count.value = 60 if choice != choices.FACES else 0  # 0 = all 200 faces
        assert use(panel) == ""
        assert session.class_names == classes
        total = 200 if choice == choices.FACES else 60
        assert len(session.train_data) + len(session.validation_data) == total
        assert f"<b>{total}</b>" in panel.summary.value and "train +" in panel.summary.value
        assert panel.chart.value.startswith("<svg") and panel.chart.value.count("<rect") == 2 * len(classes)
        assert all(name in panel.chart.value for name in classes)
        thumbnails = panel.sample.value.count('<img class="tw-thumb"')
        assert thumbnails == (min(len(classes), 8) * 3 if images else 0)
        assert "load_" in panel.code.value


def test_a_path_to_a_csv_or_an_image_folder(tmp_path):
    session = tw.Session()
    panel = DataPanel(session)
    panel.source.value = choices.FROM_PATH
    assert use(panel).startswith("Type the path")
    (tmp_path / "notes.csv").write_text("id,body,tag\n" + "".join(f"{i},note {i},{i % 2}\n" for i in range(10)))
    panel.path.value = str(tmp_path / "notes.csv")
    assert panel.rows["columns"].layout.display == ""  # a CSV: its columns are offered
    assert (panel.text_column.value, panel.label_column.value) == ("body", "id")
    panel.label_column.value = "tag"
    assert use(panel) == "" and session.class_names == ("0", "1")
    assert session.data_settings["label_column"] == "tag"
    for name in ("a", "b"):
        (tmp_path / "pictures" / name).mkdir(parents=True)
        for i in range(3):
            (tmp_path / "pictures" / name / f"{i}.png").write_bytes(png("red" if name == "a" else "blue"))
    panel.path.value = str(tmp_path / "pictures")
    assert panel.rows["columns"].layout.display == "none"
    assert use(panel) == "" and session.train_data.kind == "image"
    assert panel.sample.value.count('<img class="tw-thumb"') == 4  # the 4 training pictures, 2 per class
    (tmp_path / "pictures" / "b" / "x.png").write_bytes(b"garbage")
    assert "x.png (class 'b') is not an image that can be read" in use(panel)
    panel.path.value = str(tmp_path / "nowhere.csv")
    assert "No CSV file at" in panel.error_text
    assert session.train_data.kind == "image"  # every refusal kept the session's data


def test_an_uploaded_csv_and_its_errors():
    session = tw.Session()
    panel = DataPanel(session)
    panel.source.value = choices.UPLOAD_CSV
    assert panel.rows["csv"].layout.display == "" and panel.rows["path"].layout.display == "none"
    assert "Choose a CSV file" in use(panel)
    upload(panel.csv_upload, [("broken.csv", b'a,b\n1,2\n3,4,5,6\n"x\n')])
    assert "broken.csv is not a readable CSV table" in panel.error_text
    upload(panel.csv_upload, [("one.csv", b"text\nhi\nbye\n")])
    assert "one.csv has 1 column(s)" in panel.error_text
    upload(panel.csv_upload, [("same.csv", b"text,label\nhi,a\nbye,a\nyo,a\n")])
    assert panel.error_text == ""
    assert "one class" in use(panel)
    upload(panel.csv_upload, [("messages.csv", CSV.encode())])
    panel.label_column.value = "text"
    assert "choose two" in use(panel)
    panel.label_column.value = "label"
    assert use(panel) == "" and session.class_names == ("ham", "spam")
    assert "tw.read_csv(&#x27;messages.csv&#x27;)" in panel.code.value
    assert "message" in panel.sample.value  # texts, with their labels


def test_pictures_added_class_by_class():
    session = tw.Session()
    panel = DataPanel(session)
    panel.source.value = choices.UPLOAD_IMAGES
    upload(panel.image_upload, [("r.png", png("red"))])
    assert "Name the class first" in panel.error_text
    panel.class_name.value = "red"
    upload(panel.image_upload, [(f"r{i}.png", png((200 + i, 0, 0))) for i in range(4)])
    assert panel.error_text == "" and panel.image_upload.value == ()  # cleared for the next class
    assert "<b>red</b> 4" in panel.pending.value
    assert "Only class 'red' has pictures" in use(panel)
    panel.class_name.value = "blue"
    upload(panel.image_upload, [("notes.png", b"not a picture")])
    assert "notes.png (class 'blue') is not an image that can be read" in panel.error_text
    upload(panel.image_upload, [(f"b{i}.png", png((0, 0, 200 + i), (60, 60))) for i in range(4)])
    assert use(panel) == ""
    assert session.class_names == ("red", "blue") and session.train_data.examples.shape[1:] == (20, 30, 3)
    assert panel.sample.value.count('<img class="tw-thumb"') == 6 and "No pictures yet" in panel.pending.value


def test_the_panel_follows_a_cell_and_a_cell_sees_the_panel(cnn_session):
    panel, training = DataPanel(cnn_session), TrainingPanel(cnn_session)
    assert "<b>200</b>" in panel.summary.value  # the fixture's digits, set before the panel existed
    cnn_session.set_data(tw.load_digits(n=100, seed=1), validation=0.3, seed=7, batch_size=12)  # a cell
    assert (panel.source.value, panel.validation.value, panel.seed.value) == (choices.KEEP, 0.3, 7)
    assert panel.batch_size.value == training.batch_size.value == 12
    assert "<b>100</b>" in panel.summary.value and "69 train + 31 validation" in panel.summary.value  # stratified
    panel.source.value, panel.count.value, panel.validation.value = choices.DIGITS, 150, 0.2
    panel.batch_size.value = 16  # a training setting: the session and the training panel follow at once
    assert cnn_session.batch_size == training.batch_size.value == 16
    assert use(panel) == ""
    assert len(cnn_session.train_data) + len(cnn_session.validation_data) == 150
    assert cnn_session.data_settings["seed"] == 7  # the panel's seed field
    assert cnn_session.model.output.shape[-1] == 10 and panel.source.value == choices.DIGITS
    assert "session.set_data(tw.load_digits(n=150, seed=7), validation=0.2, seed=7, batch_size=16)" in panel.code.value


def test_the_reset_button_undoes_training(cnn_session):
    panel = TrainingPanel(cnn_session)
    assert panel.status.value.startswith("Ready: ")
    start = WeightSnapshot.of(cnn_session.model)
    cnn_session.fit(epochs=1)
    panel.reset.click()
    assert panel.error_text == "" and start.equals(cnn_session.model)
    assert panel.status.value.startswith("Reset in ") and "Data, freeze plan, optimizer and runs are kept" in panel.status.value
    assert TrainingPanel(tw.Session()).reset.disabled is False
    empty = TrainingPanel(tw.Session())
    empty.reset.click()
    assert "There is no model yet" in empty.error_text


@pytest.mark.parametrize("choice, shown", [
    (model_panel.KEEP, set()), (model_panel.SHIPPED_MINILM, {"sequence_length"}),
    (model_panel.SHIPPED_MOBILENET, set()), ("ResNet50", {"input_shape", "weights"}),
])
def test_the_model_panel_shows_only_the_fields_that_apply(choice, shown):
    panel = ModelPanel(tw.Session())
    panel.source.value = choice
    assert {name for name, row in panel.rows.items() if row.layout.display != "none"} == shown
    panel.source.value = model_panel.FROM_PATH
    panel.path.value = "/models/mine.h5"
    assert {name for name, row in panel.rows.items() if row.layout.display != "none"} == {"path", "preprocessing"}
    panel.path.value = "/checkpoints/bert"
    assert {name for name, row in panel.rows.items() if row.layout.display != "none"} == {"path", "sequence_length"}


def test_the_model_panel_loads_the_shipped_cnn_and_the_dashboard_holds_the_data_panel(cnn_session):
    board = Dashboard(cnn_session)
    assert isinstance(board.data_panel, DataPanel)
    panel = board.model_panel
    panel.source.value = model_panel.SHIPPED_MOBILENET
    panel.load.click()
    assert panel.error_text == "" and cnn_session.backbone.preprocessing == "keras.applications.mobilenet_v2"
    assert "block_16_project" in [row.name for row in cnn_session.layers]
    assert "tw-head-mismatch" in panel.counts.value  # 19 dog breeds for 10 digits, until Replace head
    panel.apply_head.click()
    assert cnn_session.model.output.shape[-1] == 10 and np.isfinite(panel.dropout.value)
