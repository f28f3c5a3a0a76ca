"""Deploy exports (pytest -m export). Exports are heavy, so each model's session is made and
trained once for the whole test run and only read by the tests (export_model never changes it)."""

from pathlib import Path

import keras
import pytest

import tune_widgets as tw


def pytest_collection_modifyitems(items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.export)


@pytest.fixture(scope="session")
def text_session():
    """The shipped MiniLM on 40 tweets, its top block and head trained for one epoch."""
    keras.utils.set_random_seed(0)
    session = tw.Session(runs_dir=None)
    session.load_model(tw.minilm_folder(), sequence_length=64)
    session.set_data(tw.load_tweets(n=40), batch_size=16)
    session.freeze_to("transformer_layer_4")
    session.fit(epochs=1)
    session.evaluate()
    return session


@pytest.fixture(scope="session")
def image_session():
    """The shipped MobileNetV2 with a new head on 24 faces (25×25 grayscale: another size and
    channel count than its 160×160×3 input), the head trained for one epoch."""
    keras.utils.set_random_seed(0)
    session = tw.Session(runs_dir=None)
    session.load_model(tw.mobilenetv2_file(), head=tw.HeadSpec())
    session.set_data(tw.load_faces(n=24), batch_size=8)
    session.freeze(slice(0, -1))
    session.fit(epochs=1)
    return session


@pytest.fixture(scope="session")
def exports(tmp_path_factory):
    """Each (model, format) exported once, on first use: {key: ExportResult}."""
    folder, done = tmp_path_factory.mktemp("exports"), {}

    def export(session, name, **options):
        key = (id(session), name, tuple(sorted(options.items())))
        if key not in done:
            done[key] = session.export_model(folder / f"{len(done)}-{name}", format=name, **options)
        return done[key]

    return export
