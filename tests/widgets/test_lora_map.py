"""The layer map's LoRA toggles, driven as the browser drives them (the `lora` trait)."""

import pytest

import tune_widgets as tw
from tune_widgets.widgets import LayerMap, ModelPanel

pytestmark = pytest.mark.tuning

BLOCK = "transformer_layer_2"


def test_the_map_opens_blocks_and_its_lora_toggles_reach_the_session(minilm):
    session = tw.Session().load_model(minilm, sequence_length=16).set_data(tw.load_tweets(n=24, seed=3))
    layer_map, panel = LayerMap(session), ModelPanel(session)
    names, targets = layer_map.layers["names"], layer_map.layers["lora_targets"]
    inside = [(path, preferred) for owner, path, preferred in
              zip(targets["owners"], targets["paths"], targets["preferred"]) if owner == names.index(BLOCK)]
    assert [path for path, _ in inside] == [
        "self_attention_layer/query", "self_attention_layer/key", "self_attention_layer/value",
        "self_attention_layer/attention_output", "feedforward_intermediate_dense", "feedforward_output_dense"]
    preferred = [f"{BLOCK}/{path}" for path, chosen in inside if chosen]
    assert preferred == [f"{BLOCK}/self_attention_layer/query", f"{BLOCK}/self_attention_layer/value"]
    block_params = layer_map.layers["params"][names.index(BLOCK)]

    layer_map.lora = [[path, 4, None] for path in preferred]  # the block's toggle, rank 4, alpha empty
    assert session.lora.paths == tuple(preferred) and layer_map.error == ""
    assert layer_map.lora == [[path, 4, 4.0, 384 * 12 * 4 + 4 * 32] for path in preferred]  # the session's answer
    assert layer_map.layers["params"][names.index(BLOCK)] == block_params - 2 * 384 * 384  # adapted kernels
    assert "in 2 LoRA adapters" in panel.counts.value

    ffn = f"{BLOCK}/feedforward_output_dense"
    layer_map.lora = [*layer_map.lora, [ffn, 2, 8]]  # a sublayer's toggle
    assert [(a.path, a.rank, a.alpha) for a in session.lora.adapters][-1] == (ffn, 2, 8.0)
    layer_map.lora = [entry for entry in layer_map.lora if entry[0] == ffn]  # the block's toggle again
    assert session.lora.paths == (ffn,)

    session.remove_lora()  # a cell: the map follows
    assert layer_map.lora == [] and layer_map.layers["params"][names.index(BLOCK)] == block_params
    layer_map.lora = [["transformer_layer_0/self_attention_layer_norm", 8, None]]
    assert "LayerNormalization" in layer_map.error and layer_map.lora == [] and not session.lora
