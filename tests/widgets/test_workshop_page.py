"""The workshop page's folder: uploads and exports stay inside the tab's own folder, whatever
their names say, and the page offers no free path field."""

import os

import pytest

import tune_widgets as tw
from tune_widgets.saving.sandbox import Sandbox
from tune_widgets.widgets import data_panel, model_panel
from tune_widgets.widgets.workshop import workshop_page


@pytest.mark.parametrize("name, kept", [("../../x", "x"), ("/etc/passwd", "passwd"), ("..\\..\\win.csv", "win.csv"),
                                        ("....", "upload"), ("a/../../b.csv", "b.csv"), (".hidden", "hidden"),
                                        ("nul\x00l.csv", "null.csv"), ("plain.csv", "plain.csv")])
def test_a_name_that_tries_to_leave_stays_inside(tmp_path, name, kept):
    sandbox = Sandbox(tmp_path / "root")
    path = sandbox.keep(name, b"data")
    assert path == sandbox.folder / kept and path.read_bytes() == b"data"
    assert sorted(p.name for p in (tmp_path / "root").iterdir()) == [sandbox.folder.name]  # nothing beside it


def test_a_link_planted_in_the_folder_is_refused(tmp_path):
    sandbox = Sandbox(tmp_path)
    os.symlink(tmp_path / "outside.csv", sandbox.folder / "link.csv")
    with pytest.raises(tw.SaveError, match="would leave the workshop folder"):
        sandbox.keep("link.csv", b"x")
    assert not (tmp_path / "outside.csv").exists()


def test_each_page_has_its_own_folder_and_no_free_path(tmp_path):
    first, second = workshop_page(tmp_path), workshop_page(tmp_path)
    assert first.sandbox.folder != second.sandbox.folder
    assert first.session.runs_dir == first.sandbox.folder / "tune_runs"
    assert data_panel.FROM_PATH not in first.data_panel.source.options
    assert model_panel.FROM_PATH not in [value for _, value in first.model_panel.source.options]
    assert first.export_panel.folder == first.sandbox.folder


def test_uploads_land_in_the_pages_folder_under_safe_names(tmp_path):
    page = workshop_page(tmp_path)
    page._keep({"new": [{"name": "../../escape.csv", "content": memoryview(b"text,label\na,b\n")}]})
    assert (page.sandbox.folder / "escape.csv").read_bytes() == b"text,label\na,b\n"
    assert not (tmp_path.parent / "escape.csv").exists()
