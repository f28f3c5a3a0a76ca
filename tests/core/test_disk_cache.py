"""The disk feature cache: exact features, a miss for every change they depend on, damaged and
half-written entries ignored, two processes on one entry, least-recently-used eviction, and off."""

import json
import os
import subprocess
import sys
import textwrap
import warnings

import keras
import numpy as np
import pytest

import tune_widgets as tw
from tune_widgets.data import bucketing
from tune_widgets.models.head import input_names
from tune_widgets.saving.atomic import TEMPORARY
from tune_widgets.training import disk_cache
from tune_widgets.training.cache import compute_features, plan_cache
from tests.conftest import small_cnn


@pytest.fixture
def folder(tmp_path, monkeypatch):
    folder = tmp_path / "features"
    monkeypatch.setenv(disk_cache.VARIABLE, str(folder))
    return folder


def cnn(digits, frozen="conv1"):
    keras.utils.set_random_seed(0)
    session = tw.Session().load_model(small_cnn(), head=tw.HeadSpec(dropout=0.0)).set_data(digits, batch_size=32)
    session.freeze(frozen)
    return session


def used(run_or_session):
    """("hit" or "written", for train and validation): from a run, or from the cache pass a fit
    of this session would make now (without the training, which these tests do not need)."""
    if isinstance(run_or_session, tw.Session):
        s = run_or_session
        s.feature_cache.clear()  # memory forgets, as a new kernel would: only the disk remembers
        disk = s.feature_cache.prepare(s.model, s.plan, s.encoded, s.batch_size)[-1]["disk"]
    else:
        disk = run_or_session.config["cache"]["disk"]
    return disk["train"], disk["validation"]


def entries(folder):
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith(TEMPORARY))


def test_stored_hidden_states_are_bit_identical_to_a_fresh_pass(minilm, folder):
    keras.utils.set_random_seed(0)
    session = tw.Session().load_model(minilm, sequence_length=24)
    session.set_data(tw.load_tweets(n=40, seed=1), validation=0.3, batch_size=8).freeze_to("transformer_layer_3")
    assert used(session.fit(epochs=1)) == ("written", "written")
    assert used(session) == ("hit", "hit")
    plan, _ = plan_cache(session.model)
    stored = session.feature_cache.features[0][0]
    assert isinstance(stored, bucketing.Ragged) and isinstance(stored.buffer, np.memmap)
    inputs = bucketing.as_inputs(session.encoded["train"], input_names(plan.prefix))
    fresh = compute_features(plan, inputs, batch_size=16)[0]
    assert np.array_equal(stored.buffer, fresh.buffer) and np.array_equal(stored.offsets, fresh.offsets)


def test_a_change_of_weights_cut_or_data_misses(digits, folder):
    assert used(cnn(digits).fit(epochs=1)) == ("written", "written")
    assert used(cnn(digits)) == ("hit", "hit")
    changed = cnn(digits)
    weight = changed.model.get_layer("conv1_conv").weights[0]
    weight.assign(weight * 1.01)
    assert used(changed) == ("written", "written")
    assert used(cnn(digits, frozen=["conv1", "conv2_conv"])) == ("written", "written")
    assert used(cnn(digits).set_data(tw.load_digits(n=200, seed=1), batch_size=32)) == ("written", "written")
    assert len(entries(folder)) == 8


def test_other_token_ids_miss():
    """Token ids and masks carry the tokenizer and the sequence length into the key."""
    prefix = keras.Model(inputs := keras.Input((8,), dtype="int32"), keras.layers.Embedding(50, 4)(inputs))
    ids = np.arange(16, dtype="int32").reshape(2, 8)
    key = disk_cache.entry_key(prefix, "weights", ["embedding"], [ids], 8)
    assert key == disk_cache.entry_key(prefix, "weights", ["embedding"], [ids.copy()], 8)
    assert key != disk_cache.entry_key(prefix, "weights", ["embedding"], [ids + 1], 8)  # another vocabulary
    assert key != disk_cache.entry_key(prefix, "weights", ["embedding"], [ids[:, :4].copy()], 8)  # shorter
    assert key != disk_cache.entry_key(prefix, "other", ["embedding"], [ids], 8)


def test_a_damaged_or_half_written_entry_is_ignored_and_rewritten(digits, folder):
    first = cnn(digits)
    assert used(first) == ("written", "written")
    expected = [np.array(f) for f in first.feature_cache.features[0]]
    name = entries(folder)[0]
    (folder / f"{TEMPORARY}0000-{name}").mkdir()  # a writer that died before its rename
    npy = next((folder / name).glob("*.npy"))
    data = bytearray(npy.read_bytes())
    data[-1] ^= 0xFF
    npy.write_bytes(bytes(data))
    with pytest.warns(tw.TuneWidgetsWarning, match="damaged"):
        assert "written" in used(cnn(digits))
    with warnings.catch_warnings():
        warnings.simplefilter("error", tw.TuneWidgetsWarning)
        again = cnn(digits)
        assert used(again) == ("hit", "hit")
    for a, b in zip(expected, again.feature_cache.features[0]):
        assert np.array_equal(a, b)
    (folder / name / disk_cache.META).write_text("{")  # a truncated meta.json
    with pytest.warns(tw.TuneWidgetsWarning, match="damaged"):
        assert "written" in used(again)


CHILD = """
import sys, time
from pathlib import Path
import numpy as np
from tune_widgets.training.disk_cache import DiskCache

folder, me, other = Path(sys.argv[1]), sys.argv[2], sys.argv[3]

def compute(allocate):
    out = allocate((1000, 16), "float32")
    out[:] = np.arange(16000, dtype="float32").reshape(1000, 16)
    (folder.parent / me).touch()
    while not (folder.parent / other).exists():  # both entries written before either renames
        time.sleep(0.01)
    return [out]

stored = DiskCache(folder).store("same-entry", compute)
assert np.array_equal(stored[0], np.arange(16000, dtype="float32").reshape(1000, 16))
"""


def test_two_processes_filling_one_entry_leave_one_good_entry(tmp_path):
    folder = tmp_path / "features"
    script = tmp_path / "child.py"
    script.write_text(textwrap.dedent(CHILD))
    children = [subprocess.Popen([sys.executable, str(script), str(folder), me, other])
                for me, other in (("a", "b"), ("b", "a"))]
    assert [child.wait(timeout=120) for child in children] == [0, 0]
    assert sorted(p.name for p in folder.iterdir()) == ["same-entry"]  # no temporary left behind
    with warnings.catch_warnings():
        warnings.simplefilter("error", tw.TuneWidgetsWarning)
        loaded = disk_cache.DiskCache(folder).load("same-entry", None)
    assert np.array_equal(loaded[0], np.arange(16000, dtype="float32").reshape(1000, 16))


def test_the_size_cap_evicts_the_least_recently_used(tmp_path):
    cache = disk_cache.DiskCache(tmp_path, max_bytes=3 * 4400)  # three entries: 4000 bytes, a header and meta.json

    def filled(value):
        def compute(allocate):
            out = allocate((1000,), "float32")
            out[:] = value
            return [out]
        return compute

    for name in "abc":
        cache.store(name, filled(1.0))
    for stamp, entry in enumerate("abc"):  # written within one tick: give them ordered last uses
        os.utime(tmp_path / entry / disk_cache.META, (100 + stamp, 100 + stamp))
    assert cache.load("a", None) is not None  # a is now the most recently used
    cache.store("d", filled(2.0))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "c", "d"]


def test_off_writes_nothing(digits, tmp_path, monkeypatch):
    monkeypatch.setenv(disk_cache.VARIABLE, str(tmp_path / "from-environment"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    session = tw.Session(feature_cache_dir=None).load_model(small_cnn()).set_data(digits).freeze("conv1")
    assert session.feature_cache.prepare(session.model, session.plan, session.encoded, 32)[-1]["disk"] == "off"
    monkeypatch.setenv(disk_cache.VARIABLE, "off")
    assert tw.Session().feature_cache.disk is None
    assert not (tmp_path / "from-environment").exists() and not (tmp_path / "xdg").exists()


def test_warm_fills_the_cache_a_notebook_s_first_fit_reads(digits, folder, tmp_path):
    from tune_widgets.__main__ import main

    code = ("import keras\nimport tune_widgets as tw\nfrom tests.conftest import small_cnn\n"
            "keras.utils.set_random_seed(0)\n%config Completer.use_jedi = False\n"  # a magic, as notebooks have
            "session = tw.Session().load_model(small_cnn(), head=tw.HeadSpec(dropout=0.0))\n"
            "session.set_data(tw.load_digits(n=200, seed=0), batch_size=32).freeze('conv1')")
    notebook = tmp_path / "room.ipynb"
    notebook.write_text(json.dumps({"cells": [{"cell_type": "markdown", "source": ["# a room"]},
                                              {"cell_type": "code", "source": [code]}]}))
    assert main(["warm", str(notebook)]) == 0
    assert len(entries(folder)) == 2
    assert used(cnn(digits).fit(epochs=1)) == ("hit", "hit")
