"""Workarounds for bugs in the libraries we build on, each named for the bug, in one place to
drop when the pinned version fixes it.

- keras-hub 0.32: `ViTPatchingAndEmbedding.get_config()` writes `num_patches` and
  `num_positions`, which its constructor refuses, so a .keras file holding a ViT, DeiT or
  DINOv2 backbone does not load. They are derived from the other settings: drop them on load.
- keras-hub 0.32: `LlamaTransformerDecoder.get_config()` reads `rope_scaling_factor`, which the
  layer names `rope_position_scaling_factor`, so a Llama model cannot be saved as .keras. The
  attribute is given its config name before saving and mapped back on load; the one setting
  the config leaves out (Llama 3.1's `rope_frequency_adjustment_factor`) makes saving refuse.
- keras-hub 0.32: a DeiT model's .keras file does not load back (`DeiTEncoder.get_config()`
  reads a `key_dim` it never sets, and its layers do not rebuild from their configs), so saving
  one is refused with that reason: its runs keep its weights, and `Session.resume` rebuilds it.
"""

from ..errors import SaveError
from . import keras_internals


def custom_objects():
    """The classes `keras.saving.load_model` uses in place of the broken ones."""
    from keras_hub.src.models.llama.llama_decoder import LlamaTransformerDecoder
    from keras_hub.src.models.vit.vit_layers import ViTPatchingAndEmbedding

    class LoadableViTPatchingAndEmbedding(ViTPatchingAndEmbedding):
        @classmethod
        def from_config(cls, config):
            return ViTPatchingAndEmbedding(**{k: v for k, v in config.items()
                                              if k not in ("num_patches", "num_positions")})

    class LoadableLlamaTransformerDecoder(LlamaTransformerDecoder):
        @classmethod
        def from_config(cls, config):
            config = dict(config)
            config["rope_position_scaling_factor"] = config.pop("rope_scaling_factor", 1.0)
            return LlamaTransformerDecoder.from_config(config)

    return {"ViTPatchingAndEmbedding": LoadableViTPatchingAndEmbedding,
            "LlamaTransformerDecoder": LoadableLlamaTransformerDecoder}


def prepare_to_save(model):
    """Make `model`'s layers serialisable as .keras, or refuse with the reason."""
    for layer in keras_internals.sublayers(model):
        if type(layer).__name__ == "LlamaTransformerDecoder" and not hasattr(layer, "rope_scaling_factor"):
            if layer.rope_frequency_adjustment_factor is not None:
                raise SaveError(f"{layer.name} uses Llama 3.1's rope frequency adjustment, which keras-hub 0.32 leaves "
                                f"out of a saved .keras file: it would load back different. Keep the run's weights "
                                f"(runs_dir) instead; Session.resume rebuilds the model from them.")
            layer.rope_scaling_factor = layer.rope_position_scaling_factor
        if type(layer).__name__ == "DeiTEncoder":
            raise SaveError("A DeiT model cannot be saved as a .keras file that loads back with keras-hub 0.32. "
                            "Keep the run's weights (runs_dir) instead; Session.resume rebuilds the model from them.")
