"""Bring your own model: every source kind resolves in its documented order, every KerasHub text
family fine-tunes under every kind of freeze plan, Hugging Face checkpoints convert, and hub ids
load from the local cache offline, or say clearly what to do when they are not there."""

import keras
import numpy as np
import pytest

import tune_widgets as tw
from tests.core.test_source_freeze_matrix import PATTERNS, TWO_PLANS, _check_cell
from tests.families import (HF_FAMILIES, IMAGE_FAMILIES, LABELS, MINILM_ID, TEXT_FAMILIES, TEXTS, hf_checkpoint,
                            hf_vit_checkpoint, kagglehub_cache_with, keras_hub_image_preset, keras_hub_preset)
from tune_widgets.data.tokenizer import Tokenizer
from tune_widgets.models.backbone import LOADERS
from tune_widgets.models.head import TokenPooling
from tune_widgets.models import catalogue, sources
from tune_widgets.models.sources import resolve


@pytest.fixture(scope="module")
def presets(tmp_path_factory):
    """{family: folder} of tiny KerasHub presets, built once."""
    root = tmp_path_factory.mktemp("presets")
    return {family: keras_hub_preset(family, root / family) for family in TEXT_FAMILIES}


def _blocks_of(session):
    return [block for block in dict.fromkeys(row.block for row in session.layers)
            if block not in ("inputs", "embeddings", "head")]


def _text_session(source):
    keras.utils.set_random_seed(0)
    session = tw.Session().load_model(source, sequence_length=16)
    session.set_data(TEXTS * 3, LABELS * 3, batch_size=24)
    return session


# Every family under the two plans that cut the model differently (the whole body cached; a frozen
# layer above a trainable one), and every plan for one encoder, one decoder and one CNN: the full
# product took 6 minutes of CI, for cells that repeat what these already show.
EVERY_PLAN = ("bert", "gpt2", "resnet")


def _cells(families):
    return [(family, pattern) for family in families
            for pattern in (PATTERNS if family in EVERY_PLAN else TWO_PLANS)]


@pytest.mark.slow
@pytest.mark.parametrize("family, pattern", _cells(TEXT_FAMILIES))
def test_every_family_under_the_freeze_plans(presets, family, pattern, tmp_path):
    session = _text_session(presets[family])
    assert session.backbone.source == str(presets[family]) and session.backbone.tokenizer.kind == "keras_hub"
    _check_cell(session, pattern, tmp_path, ["a great day", "not good at all"])


@pytest.mark.slow
@pytest.mark.parametrize("family, pattern", _cells(IMAGE_FAMILIES))
def test_keras_hub_image_backbones_under_the_freeze_plans(family, pattern, tmp_path):
    folder = keras_hub_image_preset(family, tmp_path / family)
    keras.utils.set_random_seed(0)
    session = tw.Session().load_model(folder)
    assert session.backbone.preprocessing == f"keras_hub:{folder}"  # the preset's ImageConverter
    session.set_data(tw.load_faces(n=24, seed=0), batch_size=24)
    _check_cell(session, pattern, tmp_path, tw.load_faces(n=6, seed=3).examples)


@pytest.mark.slow
@pytest.mark.parametrize("family", HF_FAMILIES)
def test_hugging_face_checkpoints_convert_per_family(family, tmp_path):
    folder = hf_checkpoint(family, tmp_path / family)
    session = _text_session(folder)
    assert session.backbone.tokenizer.kind == "hugging_face"
    _check_cell(session, "head_only", tmp_path, ["a great day", "not good at all"])


def test_a_hugging_face_vit_converts_and_is_fed_as_its_preprocessor_config_says(tmp_path):
    folder = hf_vit_checkpoint(tmp_path / "vit")
    keras.utils.set_random_seed(0)
    session = tw.Session().load_model(folder)
    assert session.backbone.input_shape == (32, 32, 3)
    white = session.backbone.preprocess(np.full((1, 32, 32, 3), 255.0, "float32"))
    np.testing.assert_allclose(white, 1.0, atol=1e-6)  # (1 - 0.5) / 0.5: rescaled, then normalised
    session.set_data(tw.load_faces(n=24, seed=0), batch_size=24)
    _check_cell(session, "head_only", tmp_path, tw.load_faces(n=6, seed=3).examples)


@pytest.mark.parametrize("family", HF_FAMILIES)
def test_the_hugging_face_and_keras_hub_tokenizers_agree(family, tmp_path):
    folder = hf_checkpoint(family, tmp_path / family)
    texts = TEXTS + ["the movie was so so great that i love it"]
    hugging_face, keras_hub = Tokenizer.from_folder(folder, 12), Tokenizer.from_keras_hub(folder, 12)
    assert (hugging_face.kind, keras_hub.kind) == ("hugging_face", "keras_hub")
    for name, array in hugging_face(texts).items():
        np.testing.assert_array_equal(keras_hub(texts)[name], array, err_msg=name)


def test_on_a_folder_with_both_the_hugging_face_tokenizer_is_used_and_they_agree_on_plain_text(minilm):
    """KerasHub's conversion of MiniLM's tokenizer keeps accents that the Hugging Face one strips
    ("häó" is [UNK] for it, "ha ##o" for Hugging Face): 18 of 200 tweets differ, all of them
    with non-ASCII text. That is why a folder's own Hugging Face files are preferred."""
    assert Tokenizer.from_folder(minilm).kind == "hugging_face"
    texts = [text for text in tw.load_tweets(n=200, seed=1).examples if text.isascii()]
    assert len(texts) > 150
    hugging_face, keras_hub = Tokenizer.from_folder(minilm, 64), Tokenizer.from_keras_hub(minilm, 64)
    for name, array in hugging_face(texts).items():
        np.testing.assert_array_equal(keras_hub(texts)[name], array, err_msg=name)


@pytest.mark.parametrize("source, kind", [
    ("hf://sentence-transformers/all-MiniLM-L6-v2", "handle"),
    ("kaggle://keras/bert/keras/bert_tiny_en_uncased/3", "handle"),
    ("bert_tiny_en_uncased", "preset"),
    ("sentence-transformers/all-MiniLM-L6-v2", "hugging_face"),
    ("google/vit-base-patch16-224", "hugging_face"),
    ("bert-base-uncased", "hugging_face"),
    ("resnet50", "application"),
    ("MobileNetV2", "application"),
])
def test_sources_resolve_in_the_documented_order(source, kind):
    assert resolve(source).kind == kind


def test_every_kind_of_source_has_its_loader():
    assert set(LOADERS) == set(sources.KINDS)


def test_an_existing_path_wins_over_every_catalogue(tmp_path, monkeypatch):
    (tmp_path / "bert_tiny_en_uncased").mkdir()  # a folder named like a preset
    monkeypatch.chdir(tmp_path)
    assert resolve("bert_tiny_en_uncased").kind == "path"


@pytest.mark.parametrize("typo, suggestion", [
    ("bert_tiny_en_uncasd", "bert_tiny_en_uncased"),
    ("bert-base-uncasd", "bert-base-uncased"),
    ("ResNet05", "ResNet50"),
])
def test_an_unknown_name_gets_did_you_mean_across_the_catalogues(typo, suggestion):
    with pytest.raises(tw.UnknownModelError, match=f"Did you mean: [^?]*{suggestion}") as caught:
        tw.Session().load_model(typo)
    assert "Known names" not in str(caught.value)  # never the list of 40 image networks


@pytest.mark.parametrize("source", [MINILM_ID, f"hf://{MINILM_ID}"])
def test_a_hub_id_loads_from_the_local_cache_offline_as_its_folder(hf_cache, minilm, source):
    by_id = tw.Session().load_model(source, sequence_length=16)
    by_folder = tw.Session().load_model(minilm, sequence_length=16)
    assert by_id.backbone.source == source  # runs and saves name the model as it was given
    for ours, theirs in zip(by_id.backbone.model.weights, by_folder.backbone.model.weights, strict=True):
        np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))
    assert by_id.backbone.pooling == "mean"  # the checkpoint's own sentence-transformers pooling


def test_a_run_of_a_cached_hub_model_resumes_by_its_id(hf_cache, runs_dir):
    session = _text_session(MINILM_ID)
    session.freeze_to("transformer_layer_5")
    run = session.fit(epochs=1, seed=0)
    assert run.config["model"] == MINILM_ID
    resumed = tw.Session.resume(next(runs_dir.iterdir()))
    probe = ["a great day"]
    np.testing.assert_allclose(resumed.predict(probe), session.predict(probe), atol=1e-6)


@pytest.mark.parametrize("source, command", [
    ("bert-base-uncased", "hf download bert-base-uncased"),
    ("google/vit-base-patch16-224", "hf download google/vit-base-patch16-224"),
    ("bert_tiny_en_uncased", "kagglehub.model_download('keras/bert/keras/bert_tiny_en_uncased/3')"),
])
def test_an_uncached_hub_model_offline_says_what_to_do_and_changes_nothing(hf_cache, cnn_session, source, command):
    model, layers, plan = cnn_session.model, cnn_session.layers, cnn_session.plan
    with pytest.raises(tw.WeightsUnavailableError) as caught:
        cnn_session.load_model(source)
    message = str(caught.value)
    assert source in message and "no network" in message and command in message
    assert (cnn_session.model, cnn_session.layers, cnn_session.plan) == (model, layers, plan)


@pytest.mark.parametrize("mask", [[1, 1, 1, 0, 0], [0, 0, 1, 1, 1]], ids=["right padded", "left padded"])
def test_last_token_pooling_takes_the_last_real_token(mask):
    sequence = np.arange(2 * 5 * 3, dtype="float32").reshape(2, 5, 3)
    pooled = keras.ops.convert_to_numpy(TokenPooling("last")(sequence, np.array([mask, [1, 1, 0, 0, 0]])))
    last = max(i for i, real in enumerate(mask) if real)
    np.testing.assert_array_equal(pooled, [sequence[0, last], sequence[1, 1]])


@pytest.mark.parametrize("family", ["gpt2", "llama", "gemma", "qwen"])
def test_a_decoder_pools_its_last_token_and_adapts_its_attention_with_lora(presets, family):
    session = _text_session(presets[family])
    assert session.backbone.pooling == "last"
    session.add_lora(_blocks_of(session)[-1])
    adapted = sorted(path.rsplit("/", 1)[-1] for path in session.lora.paths)
    assert adapted and all(("query" in path or "value" in path) for path in adapted), adapted
    run = session.fit(epochs=1, seed=0)
    assert run.status == "completed", run.error


@pytest.mark.parametrize("family", ["gpt2", "deberta_v3"])
def test_a_family_run_resumes_and_its_export_as_code_is_refused_with_the_reason(presets, family, runs_dir, tmp_path):
    session = _text_session(presets[family])
    session.freeze_to(_blocks_of(session)[-1])
    run = session.fit(epochs=1, seed=0)
    assert run.config["backbone"]["family"] == family
    resumed = tw.Session.resume(next(runs_dir.iterdir()))
    np.testing.assert_allclose(resumed.predict(["a great day"]), session.predict(["a great day"]), atol=1e-6)
    with pytest.raises(tw.StateError, match=f"A run of a {family} model with a KerasHub tokenizer cannot be exported"):
        session.export_script(tmp_path / "train.py", run)
    assert not (tmp_path / "train.py").exists()


def test_a_preset_name_loads_from_the_kagglehub_cache_offline(hf_cache, presets, tmp_path):
    kagglehub_cache_with("bert_tiny_en_uncased", presets["bert"], tmp_path / "kagglehub")
    by_name = tw.Session().load_model("bert_tiny_en_uncased", sequence_length=16)
    by_folder = tw.Session().load_model(presets["bert"], sequence_length=16)
    assert by_name.backbone.source == "bert_tiny_en_uncased" and by_name.backbone.family == "bert"
    for ours, theirs in zip(by_name.backbone.model.weights, by_folder.backbone.model.weights, strict=True):
        np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))


def test_the_catalogue_filters_by_text_and_modality_and_marks_what_is_cached(hf_cache, presets, tmp_path):
    kagglehub_cache_with("bert_tiny_en_uncased", presets["bert"], tmp_path / "kagglehub")
    found = {entry.name: entry for entry in catalogue.entries("bert tiny")}
    assert found["bert_tiny_en_uncased"].cached and found["bert_tiny_en_uncased"].download_bytes == 0
    assert all("bert" in entry.family and "tiny" in entry.name for entry in found.values())
    cached_hf = {entry.name: entry for entry in catalogue.entries("minilm", modality="text")}
    assert cached_hf[MINILM_ID].cached and cached_hf[MINILM_ID].kind == "hugging_face"
    vit = next(entry for entry in catalogue.entries("vit_base_patch16_224"))
    assert not vit.cached and vit.modality == "image" and vit.download_bytes > 100e6
    assert "download ~" in vit.label() and "cached" in found["bert_tiny_en_uncased"].label()
    assert {entry.modality for entry in catalogue.entries(modality="image")} == {"image"}
    assert not catalogue.entries("no such model anywhere")


@pytest.mark.tuning
@pytest.mark.parametrize("family", ["gpt2", "vit"])  # an encoder (BERT): notebook 04 runs them on MiniLM
def test_the_tuning_tools_run_on_each_kind_of_family(presets, family, tmp_path):
    if family == "vit":
        session = tw.Session().load_model(keras_hub_image_preset("vit", tmp_path / "vit"))
        session.set_data(tw.load_faces(n=24, seed=0), batch_size=24)
    else:
        session = _text_session(presets[family])
    finder = session.find_lr(steps=8, seed=0)
    assert len(finder.rates) >= 2 and finder.suggestion is not None
    runs = session.fine_tune(epochs=1, frozen_epochs=1, seed=0)
    assert [run.status for run in runs] == ["completed", "completed"]
    sweep = session.sweep_freeze(epochs=1)
    assert sweep.ended == "completed" and len(sweep.points) >= 2


def test_a_deit_model_trains_and_its_save_is_refused_with_the_reason(tmp_path):
    session = tw.Session().load_model(keras_hub_image_preset("deit", tmp_path / "deit"))
    session.set_data(tw.load_faces(n=24, seed=0), batch_size=24)
    session.freeze_to(len(session.layers) - 3)
    assert session.fit(epochs=1, seed=0).status == "completed"
    with pytest.raises(tw.SaveError, match="DeiT model cannot be saved as a .keras file that loads back"):
        session.save(tmp_path / "deit.keras")
    assert not list(tmp_path.glob("deit.keras*")) and not list(tmp_path.glob("*.tune.json"))
