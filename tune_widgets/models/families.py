"""What differs between model architectures, once per family: a new family is an entry here.

A KerasHub backbone is known by its class. For text, a family says whether it is a decoder
(pooled at its last real token, which honours left or right padding) or an encoder (pooled at
its first token, or by the mean for sentence encoders); every text backbone takes `token_ids`
and `padding_mask`, some also `segment_ids`, and returns a sequence (alone or as
"sequence_output" in a dict). LoRA adapts the attention's query and value projections, as
KerasHub's own `enable_lora` does.
"""

import dataclasses
import json

import keras


@dataclasses.dataclass(frozen=True)
class Family:
    name: str
    modality: str  # "text" or "image"
    decoder: bool = False  # a causal model: the last real token sees the whole text

    @property
    def pooling(self):
        """The head's default pooling for this family."""
        if self.modality == "image":
            return None  # the head decides from the feature shape (see head.py)
        return "last" if self.decoder else "cls"


TEXT_ENCODERS = {"BertBackbone": "bert", "DistilBertBackbone": "distil_bert", "RobertaBackbone": "roberta",
                 "XLMRobertaBackbone": "xlm_roberta", "AlbertBackbone": "albert", "DebertaV3Backbone": "deberta_v3",
                 "ElectraBackbone": "electra"}
TEXT_DECODERS = {"GPT2Backbone": "gpt2", "LlamaBackbone": "llama", "Llama3Backbone": "llama3",
                 "GemmaBackbone": "gemma", "Gemma3Backbone": "gemma3", "QwenBackbone": "qwen",
                 "Qwen3Backbone": "qwen3", "MistralBackbone": "mistral"}
IMAGE_BACKBONES = {"ResNetBackbone": "resnet", "EfficientNetBackbone": "efficientnet", "MobileNetBackbone": "mobilenet",
                   "ViTBackbone": "vit", "DeiTBackbone": "deit", "DINOV2Backbone": "dinov2"}


def family_of(backbone):
    """The Family of a KerasHub backbone, or None for one this table does not know."""
    name = type(backbone).__name__
    if name in TEXT_ENCODERS:
        return Family(TEXT_ENCODERS[name], "text")
    if name in TEXT_DECODERS:
        return Family(TEXT_DECODERS[name], "text", decoder=True)
    if name in IMAGE_BACKBONES:
        return Family(IMAGE_BACKBONES[name], "image")
    return None


def by_name(name):
    """The Family called `name` (a KerasHub preset's "path": "bert", "gpt2", "vit"), or None."""
    for table, modality, decoder in ((TEXT_ENCODERS, "text", False), (TEXT_DECODERS, "text", True),
                                     (IMAGE_BACKBONES, "image", False)):
        if name in table.values():
            return Family(name, modality, decoder)
    return None


# Hugging Face's model_type for the families KerasHub converts from Hugging Face checkpoints.
HF_MODEL_TYPES = {"bert": "bert", "distilbert": "distil_bert", "roberta": "roberta", "xlm-roberta": "xlm_roberta",
                  "albert": "albert", "gpt2": "gpt2", "llama": "llama", "gemma": "gemma", "qwen2": "qwen",
                  "vit": "vit", "deit": "deit", "dinov2": "dinov2"}


def by_model_type(folder):
    """The Family of a Hugging Face checkpoint folder, from its config.json, or None."""
    config = folder / "config.json"
    if not config.exists():
        return None
    return by_name(HF_MODEL_TYPES.get(json.loads(config.read_text()).get("model_type"), ""))


def known_families():
    """'bert, distil_bert, ...': what the messages offer."""
    return ", ".join([*TEXT_ENCODERS.values(), *TEXT_DECODERS.values(), *IMAGE_BACKBONES.values()])


def sequence_output(backbone):
    """The per-token (or per-patch, or feature-map) output a head attaches to."""
    output = backbone.output
    if isinstance(output, dict):
        return output.get("sequence_output", next(iter(output.values())))
    return keras.tree.flatten(output)[0]
