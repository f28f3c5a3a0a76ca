"""Workarounds for bugs in the libraries we build on, each named for the bug, in one place to
drop when the pinned version fixes it.

- keras-hub 0.32: `ViTPatchingAndEmbedding.get_config()` writes `num_patches` and
  `num_positions`, which its constructor refuses, so a .keras file holding a ViT, DeiT or
  DINOv2 backbone does not load. They are derived from the other settings: drop them on load.
"""


def custom_objects():
    """The classes `keras.saving.load_model` uses in place of the broken ones."""
    from keras_hub.src.models.vit.vit_layers import ViTPatchingAndEmbedding

    class LoadableViTPatchingAndEmbedding(ViTPatchingAndEmbedding):
        @classmethod
        def from_config(cls, config):
            return ViTPatchingAndEmbedding(**{k: v for k, v in config.items()
                                              if k not in ("num_patches", "num_positions")})

    return {"ViTPatchingAndEmbedding": LoadableViTPatchingAndEmbedding}
