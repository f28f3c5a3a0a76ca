"""Data from files: CSV paths and bytes, image folders and uploaded pictures, the shipped faces."""

import io

import numpy as np
import pytest
from PIL import Image

import tune_widgets as tw


def png(color, size=(30, 20)):
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def test_a_csv_path_is_data_and_its_errors_say_what_to_fix(tmp_path):
    good = tmp_path / "notes.csv"
    good.write_text("sentence,mood\n" + "".join(f"text {i},{'up' if i % 2 else 'down'}\n" for i in range(10)))
    session = tw.Session().set_data(good, validation=0.2, label_column="mood")  # the text column is found
    assert session.train_data.kind == "text" and session.class_names == ("down", "up")
    assert session.data_settings == {"validation": 0.2, "seed": 0, "text_column": None, "label_column": "mood"}
    with pytest.raises(tw.DataError, match="no label column 'feeling'.*'sentence', 'mood'"):
        session.set_data(good, label_column="feeling")
    (tmp_path / "ragged.csv").write_text('a,b\n1,2\n3,4,5,6\n"unclosed\n')
    (tmp_path / "one.csv").write_text("text\nhello\nbye\n")
    (tmp_path / "same.csv").write_text("text,label\nhello,a\nbye,a\n")
    (tmp_path / "empty.csv").write_text("")
    for name, message in (("ragged", "not a readable CSV table"), ("one", "1 column"), ("empty", "not a readable CSV"),
                          ("same", "one class"), ("missing", "No CSV file at")):
        with pytest.raises(tw.DataError, match=message):
            session.set_data(tmp_path / f"{name}.csv")
    assert session.class_names == ("down", "up")  # every refusal left the data as it was


def test_csv_bytes_read_as_utf8_or_latin1():
    frame = tw.read_csv("text,label\ncafé,a\nthé,b\n".encode("latin-1"))
    assert frame["text"].tolist() == ["café", "thé"]
    assert tw.read_csv("text,label\nnaïve,a\n".encode())["text"][0] == "naïve"


def test_an_image_folder_with_a_broken_picture_names_it(tmp_path):
    for name, color in (("red", "red"), ("blue", "blue")):
        (tmp_path / name).mkdir()
        for i in range(3):
            (tmp_path / name / f"{i}.png").write_bytes(png(color))
    (tmp_path / "red" / "notes.txt").write_text("not a picture, and not named like one: skipped")
    data = tw.labelled(tmp_path)
    assert data.examples.shape == (6, 20, 30, 3) and data.class_names == ("blue", "red")
    (tmp_path / "blue" / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    with pytest.raises(tw.DataError, match=r"broken.jpg \(class 'blue'\) is not an image that can be read"):
        tw.labelled(tmp_path)


def test_uploaded_pictures_are_shrunk_and_centre_cropped_to_one_size():
    data = tw.read_images({"wide": [("w.png", png("red", (1000, 500)))] * 2,
                           "tall": [("t.png", png("blue", (300, 900))), png("blue", (300, 900))]})
    assert data.examples.shape == (4, 112, 224, 3)  # the first picture's shape, longer side 224
    assert data.class_names == ("wide", "tall") and data.labels.tolist() == [0, 0, 1, 1]
    assert np.all(data.examples[2:, ..., 2] == 255)  # cropped, not padded: all blue
    with pytest.raises(tw.DataError, match="No images in class 'empty'"):
        tw.read_images({"wide": [png("red")], "empty": []})


def test_faces_ship_offline_as_two_balanced_classes():
    faces = tw.load_faces()
    assert faces.examples.shape == (200, 25, 25, 1) and faces.class_names == ("face", "not face")
    assert faces.class_counts.tolist() == [100, 100] and faces.examples.max() == 255.0
    assert tw.load_faces(n=20, seed=1).class_counts.tolist() == [10, 10]
