"""The layer map's signal column follows the fit; the tuning panel's freeze suggestion; the
evaluation panel's explanations of the worst examples."""

from tests.conftest import small_cnn
from tests.core.test_signals import dense_session
from tune_widgets.models.freezing import layer_table
from tune_widgets.widgets.layer_map import LayerMap, signals_payload


def test_the_map_sends_each_rows_signals_live_and_the_drift_once_the_fit_ends():
    session = dense_session()
    session.freeze("block1")
    layer_map = LayerMap(session)
    assert layer_map.signals == {} and layer_map.signal == "none"
    sent = []
    layer_map.observe(lambda change: sent.append(change["new"]), names=["signals"])
    session.fit(epochs=2)
    names = layer_map.layers["names"]
    final = layer_map.signals
    assert len(final["update_ratio"]) == len(final["drift"]) == len(names)
    assert final["update_ratio"][names.index("block1_dense")] == 0.0  # frozen: exactly zero
    assert final["update_ratio"][names.index("block2_dense")] > 0 and final["drift"][names.index("head_dense")] > 0
    assert any(payload.get("drift") is None and payload.get("update_ratio") for payload in sent)  # during the fit
    assert signals_payload(layer_table(small_cnn()), session.runs) == {}  # the runs' signals are another model's
