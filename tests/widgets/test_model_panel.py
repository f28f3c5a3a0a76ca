"""The model panel's catalogue: Find and Modality narrow it in memory, cached entries are marked,
a cached preset loads offline, and an uncached one says what to do inline and changes nothing."""

import pytest

import tune_widgets as tw
from tests.families import MINILM_ID, kagglehub_cache_with, keras_hub_preset
from tune_widgets.models import catalogue
from tune_widgets.widgets import ModelPanel, model_panel

TINY = "bert_tiny_en_uncased"


@pytest.fixture
def tiny_cached(hf_cache, tmp_path):
    """A tiny random BERT in the kagglehub cache under bert_tiny_en_uncased's handle (offline)."""
    kagglehub_cache_with(TINY, keras_hub_preset("bert", tmp_path / "bert"), tmp_path / "kagglehub")
    return TINY


def offered(panel):
    """{name: label} of the choices the panel shows now."""
    return {value: label for label, value in panel.source.options}


def test_find_and_modality_narrow_the_catalogue_in_memory_and_mark_what_is_cached(tiny_cached, monkeypatch):
    panel = ModelPanel(tw.Session())
    shown = offered(panel)
    assert {"ResNet50", MINILM_ID, TINY, *model_panel.FIXED} <= set(shown)  # applications, cached HF, presets
    assert shown[TINY].endswith(" · cached") and shown[MINILM_ID].endswith(" · cached")
    assert shown["bert_small_en_uncased"].endswith("MB") and "download ~" in shown["bert_small_en_uncased"]
    monkeypatch.setattr(catalogue, "entries", lambda *args, **kwargs: pytest.fail("the catalogue is read once"))
    panel.search.value = "BERT tiny"
    found = set(offered(panel)) - set(model_panel.FIXED)
    assert TINY in found and all("tiny" in name for name in found)
    panel.source.value = TINY
    assert {name for name, row in panel.rows.items() if row.layout.display != "none"} == {"sequence_length"}
    panel.search.value = "bert"  # still matches: the choice stays
    assert panel.source.value == TINY
    panel.modality.value = "image"  # no longer offered: the choice falls back to the session's model
    assert panel.source.value == model_panel.KEEP and not set(offered(panel)) - set(model_panel.FIXED)
    panel.search.value = ""
    assert "ResNet50" in offered(panel) and TINY not in offered(panel)
    assert set(offered(panel)) - set(model_panel.FIXED) == {
        entry.name for entry in panel.entries.values() if entry.modality == "image"}
    panel.search.value = "no such model anywhere"
    assert list(offered(panel)) == list(model_panel.FIXED)


def test_a_cached_preset_loads_from_the_catalogue_offline(tiny_cached):
    session = tw.Session()
    panel = ModelPanel(session)
    panel.search.value = "tiny"
    panel.source.value = TINY
    panel.sequence_length.value = 16
    panel.load.click()
    assert panel.error_text == ""
    assert session.backbone.source == TINY and session.backbone.family == "bert"
    assert TINY in panel.counts.value and "trainable of" in panel.counts.value


def test_an_uncached_entry_says_what_to_do_inline_and_the_session_is_unchanged(hf_cache, cnn_session):
    panel = ModelPanel(cnn_session)
    model, layers, backbone = cnn_session.model, cnn_session.layers, cnn_session.backbone
    panel.search.value = "bert small"
    panel.source.value = "bert_small_en_uncased"
    panel.load.click()
    assert "'bert_small_en_uncased'" in panel.error_text and "no network" in panel.error_text
    assert "kagglehub.model_download(" in panel.error_text
    assert (cnn_session.model, cnn_session.layers, cnn_session.backbone) == (model, layers, backbone)


def test_a_download_shows_its_progress_while_it_runs(cnn_session, monkeypatch):
    seen = []

    def downloading(source, *, progress, **options):
        progress(9e6, 18e6)
        seen.append((panel.download.layout.display, panel.download.value, panel.download.description))
        raise tw.WeightsUnavailableError("the network went away")

    monkeypatch.setattr("tune_widgets.session.load_backbone", downloading)
    panel = ModelPanel(cnn_session)
    panel.source.value = "bert_small_en_uncased"
    panel.load.click()
    assert seen == [("", 0.5, "9/18 MB")]
    assert panel.download.layout.display == "none" and panel.error_text == "the network went away"
