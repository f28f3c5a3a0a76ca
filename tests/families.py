"""Tiny random checkpoints of every model family, built offline the way they ship.

`keras_hub_preset(family, folder)` builds a small backbone and its tokenizer with KerasHub's
own constructors and saves them with `save_to_preset`, the layout KerasHub and Kaggle ship.
`hf_checkpoint(family, folder)` writes a Hugging Face checkpoint: config.json, model.safetensors
with the tensor names Hugging Face uses (random values, written with safetensors.numpy), and
tokenizer files built with the `tokenizers` library. No network, no torch.
"""

import io
import json
import shutil

import numpy as np

WORDS = ["the", "a", "good", "bad", "day", "movie", "i", "love", "hate", "it", "was", "great", "so", "not"]
LETTERS = "abcdefghijklmnopqrstuvwxyz"
SMALL = {"num_layers": 2, "num_heads": 2, "hidden_dim": 16, "intermediate_dim": 32}
TEXT_FAMILIES = ("bert", "distil_bert", "electra", "roberta", "xlm_roberta", "albert", "deberta_v3", "gpt2", "llama",
                 "gemma", "qwen")
HF_FAMILIES = ("bert", "distil_bert", "roberta")
HF_IMAGE_FAMILIES = ("vit",)
IMAGE_FAMILIES = ("vit", "resnet", "dinov2", "mobilenet")
TEXTS = ["i love it", "bad movie", "a good day", "so bad", "great movie", "i hate it", "not good", "love it so"]
LABELS = [1, 0, 1, 0, 1, 0, 0, 1]
MINILM_ID = "sentence-transformers/all-MiniLM-L6-v2"  # the shipped MiniLM's id (the hf_cache fixture)


def wordpiece():
    return ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]


def byte_pairs(specials):
    """A byte-pair vocabulary of single letters (with and without the leading-space mark)."""
    vocabulary = {token: index for index, token in enumerate(specials)}
    vocabulary["Ġ"] = len(vocabulary)
    for letter in LETTERS:
        vocabulary[letter] = len(vocabulary)
        vocabulary["Ġ" + letter] = len(vocabulary)
    return vocabulary, ["Ġ " + letter for letter in LETTERS]


def sentencepiece(pad="<pad>", unk="<unk>", bos="[CLS]", eos="[SEP]", mask="[MASK]"):
    import sentencepiece as spm

    proto = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter([" ".join(WORDS)] * 20), model_writer=proto, vocab_size=19,
                                   model_type="word", pad_id=0, unk_id=1, bos_id=2, eos_id=3, pad_piece=pad,
                                   unk_piece=unk, bos_piece=bos, eos_piece=eos, user_defined_symbols=mask,
                                   minloglevel=2)
    return proto.getvalue()


def keras_hub_preset(family, folder):
    """A tiny `family` backbone and tokenizer, saved as a KerasHub preset in `folder`."""
    import keras
    import keras_hub

    keras.utils.set_random_seed(0)
    models = keras_hub.models
    if family in ("bert", "distil_bert", "electra"):
        vocabulary = wordpiece()
        size = {"vocab_size" if family == "electra" else "vocabulary_size": len(vocabulary)}
        extra = {"embedding_dim": 16} if family == "electra" else {}
        backbone = {"bert": models.BertBackbone, "distil_bert": models.DistilBertBackbone,
                    "electra": models.ElectraBackbone}[family](max_sequence_length=32, **size, **extra, **SMALL)
        tokenizer = {"bert": models.BertTokenizer, "distil_bert": models.DistilBertTokenizer,
                     "electra": models.ElectraTokenizer}[family](vocabulary=vocabulary)
    elif family in ("roberta", "gpt2"):
        specials = ("<s>", "<pad>", "</s>", "<unk>", "<mask>") if family == "roberta" else ("<|endoftext|>",)
        vocabulary, merges = byte_pairs(specials)
        backbone = (models.RobertaBackbone if family == "roberta" else models.GPT2Backbone)(
            vocabulary_size=len(vocabulary), max_sequence_length=32, **SMALL)
        tokenizer = (models.RobertaTokenizer if family == "roberta" else models.GPT2Tokenizer)(
            vocabulary=vocabulary, merges=merges)
    elif family in ("llama", "gemma"):
        grouped = {"num_layers": 2, "num_query_heads": 2, "num_key_value_heads": 1, "hidden_dim": 16,
                   "intermediate_dim": 32}
        if family == "llama":
            backbone = models.LlamaBackbone(vocabulary_size=19, **grouped)
            tokenizer = models.LlamaTokenizer(proto=sentencepiece(bos="<s>", eos="</s>", mask="<mask>"))
        else:
            backbone = models.GemmaBackbone(vocabulary_size=19, head_dim=8, **grouped)
            tokenizer = models.GemmaTokenizer(proto=sentencepiece(bos="<bos>", eos="<eos>", mask="<mask>"))
    elif family == "qwen":
        vocabulary, merges = byte_pairs(("<|endoftext|>", "<|im_start|>", "<|im_end|>"))
        backbone = models.QwenBackbone(vocabulary_size=len(vocabulary), num_layers=2, num_query_heads=2,
                                       num_key_value_heads=1, hidden_dim=16, intermediate_dim=32)
        tokenizer = models.QwenTokenizer(vocabulary=vocabulary, merges=merges)
    elif family == "albert":
        backbone = models.AlbertBackbone(vocabulary_size=19, num_groups=1, num_inner_repetitions=1, embedding_dim=16,
                                         max_sequence_length=32, **SMALL)
        tokenizer = models.AlbertTokenizer(proto=sentencepiece())
    elif family == "deberta_v3":
        backbone = models.DebertaV3Backbone(vocabulary_size=19, bucket_size=8, **SMALL)
        tokenizer = models.DebertaV3Tokenizer(proto=sentencepiece(pad="[PAD]", unk="[UNK]"))
    elif family == "xlm_roberta":
        backbone = models.XLMRobertaBackbone(vocabulary_size=19, max_sequence_length=32, **SMALL)
        tokenizer = models.XLMRobertaTokenizer(proto=sentencepiece(bos="<s>", eos="</s>", mask="<mask>"))
    else:
        raise ValueError(family)
    backbone.save_to_preset(str(folder))
    tokenizer.save_to_preset(str(folder))
    return folder


def keras_hub_image_preset(family, folder):
    """A tiny `family` image backbone and its ImageConverter, saved as a KerasHub preset."""
    import keras
    import keras_hub

    keras.utils.set_random_seed(0)
    if family == "vit":
        backbone = keras_hub.models.ViTBackbone(image_shape=(32, 32, 3), patch_size=8, num_layers=2, num_heads=2,
                                                hidden_dim=16, mlp_dim=32)
        converter = keras_hub.layers.ViTImageConverter(image_size=(32, 32), scale=1 / 255.0)
    elif family == "resnet":
        backbone = keras_hub.models.ResNetBackbone(
            input_conv_filters=[64], input_conv_kernel_sizes=[3], stackwise_num_filters=[64, 16],
            stackwise_num_blocks=[1, 1], stackwise_num_strides=[1, 2], block_type="basic_block",
            image_shape=(None, None, 3))
        converter = keras_hub.layers.ResNetImageConverter(image_size=(32, 32), scale=1 / 255.0)
    elif family == "deit":
        backbone = keras_hub.models.DeiTBackbone(image_shape=(32, 32, 3), patch_size=8, num_layers=2, num_heads=2,
                                                 hidden_dim=16, intermediate_dim=32)
        converter = keras_hub.layers.DeiTImageConverter(image_size=(32, 32), scale=1 / 255.0)
    elif family == "dinov2":
        backbone = keras_hub.models.DINOV2Backbone(patch_size=8, num_layers=2, hidden_dim=16, num_heads=2,
                                                   intermediate_dim=32, image_shape=(32, 32, 3),
                                                   position_embedding_shape=(32, 32))
        converter = keras_hub.layers.DINOV2ImageConverter(image_size=(32, 32), scale=1 / 255.0)
    elif family == "mobilenet":
        backbone = keras_hub.models.MobileNetBackbone(
            stackwise_expansion=[[1], [4]], stackwise_num_blocks=[1, 1], stackwise_num_filters=[[16], [24]],
            stackwise_kernel_size=[[3], [3]], stackwise_num_strides=[[2], [2]], stackwise_se_ratio=[[None], [None]],
            stackwise_activation=[["relu"], ["relu"]], stackwise_padding=[[1], [1]], output_num_filters=32,
            depthwise_filters=8, depthwise_stride=2, depthwise_residual=False, last_layer_filter=32,
            squeeze_and_excite=None, image_shape=(32, 32, 3), input_activation="hard_swish",
            output_activation="hard_swish", input_num_filters=8)
        converter = keras_hub.layers.MobileNetImageConverter(image_size=(32, 32), scale=1 / 255.0)
    else:
        raise ValueError(family)
    backbone.save_to_preset(str(folder))
    converter.save_to_preset(str(folder))
    return folder


def hf_checkpoint(family, folder):
    """A tiny Hugging Face checkpoint of `family` in `folder`: what `hf download` leaves."""
    from safetensors.numpy import save_file

    folder.mkdir(parents=True, exist_ok=True)
    dim, inner, positions = 16, 32, 34
    if family == "roberta":
        vocabulary, merges = byte_pairs(("<s>", "<pad>", "</s>", "<unk>", "<mask>"))
        _byte_pair_tokenizer(folder, vocabulary, merges)
        config = {"model_type": "roberta", "vocab_size": len(vocabulary), "pad_token_id": 1, "bos_token_id": 0,
                  "eos_token_id": 2, "type_vocab_size": 1, **_bert_config(dim, inner, positions)}
        tensors = _bert_tensors("roberta", len(vocabulary), dim, inner, positions, type_vocab=1)
    else:
        vocabulary = wordpiece()
        (folder / "vocab.txt").write_text("\n".join(vocabulary) + "\n")
        _wordpiece_tokenizer(folder, vocabulary)
        if family == "bert":
            config = {"model_type": "bert", "vocab_size": len(vocabulary), "type_vocab_size": 2,
                      **_bert_config(dim, inner, positions)}
            tensors = _bert_tensors("bert", len(vocabulary), dim, inner, positions, type_vocab=2)
        else:
            config = {"model_type": "distilbert", "vocab_size": len(vocabulary), "n_layers": 2, "n_heads": 2,
                      "dim": dim, "hidden_dim": inner, "dropout": 0.1, "attention_dropout": 0.1,
                      "max_position_embeddings": positions, "pad_token_id": 0}
            tensors = _distilbert_tensors(len(vocabulary), dim, inner, positions)
    (folder / "config.json").write_text(json.dumps(config))
    rng = np.random.default_rng(0)
    save_file({name: rng.normal(0, 0.05, shape).astype("float32") for name, shape in tensors.items()},
              str(folder / "model.safetensors"))
    return folder


def hf_vit_checkpoint(folder, size=32, patch=8, dim=16, inner=32):
    """A tiny Hugging Face ViT checkpoint (google/vit-base-patch16-224's layout) in `folder`."""
    from safetensors.numpy import save_file

    folder.mkdir(parents=True, exist_ok=True)
    config = {"model_type": "vit", "image_size": size, "patch_size": patch, "num_channels": 3,
              "num_hidden_layers": 2, "num_attention_heads": 2, "hidden_size": dim, "intermediate_size": inner,
              "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0, "qkv_bias": True,
              "layer_norm_eps": 1e-12, "hidden_act": "gelu"}
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "preprocessor_config.json").write_text(json.dumps({
        "do_normalize": True, "do_rescale": True, "do_resize": True, "image_mean": [0.5, 0.5, 0.5],
        "image_std": [0.5, 0.5, 0.5], "rescale_factor": 1 / 255, "size": {"height": size, "width": size},
        "image_processor_type": "ViTImageProcessor"}))
    tensors = {"vit.embeddings.patch_embeddings.projection.weight": (dim, 3, patch, patch),
               "vit.embeddings.patch_embeddings.projection.bias": (dim,), "vit.embeddings.cls_token": (1, 1, dim),
               "vit.embeddings.position_embeddings": (1, (size // patch) ** 2 + 1, dim),
               **_layer_norm("vit.layernorm", dim)}
    for index in range(2):
        layer = f"vit.encoder.layer.{index}"
        for part in ("query", "key", "value"):
            tensors.update(_linear(f"{layer}.attention.attention.{part}", dim, dim))
        tensors.update({**_linear(f"{layer}.attention.output.dense", dim, dim),
                        **_layer_norm(f"{layer}.layernorm_before", dim), **_layer_norm(f"{layer}.layernorm_after", dim),
                        **_linear(f"{layer}.intermediate.dense", inner, dim), **_linear(f"{layer}.output.dense", dim, inner)})
    rng = np.random.default_rng(0)
    save_file({name: rng.normal(0, 0.05, shape).astype("float32") for name, shape in tensors.items()},
              str(folder / "model.safetensors"))
    return folder


def _bert_config(dim, inner, positions):
    return {"num_hidden_layers": 2, "num_attention_heads": 2, "hidden_size": dim, "intermediate_size": inner,
            "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1, "max_position_embeddings": positions,
            "hidden_act": "gelu", "layer_norm_eps": 1e-12}


def _layer_norm(name, dim):
    return {f"{name}.weight": (dim,), f"{name}.bias": (dim,)}


def _linear(name, out, into):
    return {f"{name}.weight": (out, into), f"{name}.bias": (out,)}


def _bert_tensors(prefix, vocabulary, dim, inner, positions, type_vocab):
    tensors = {f"{prefix}.embeddings.word_embeddings.weight": (vocabulary, dim),
               f"{prefix}.embeddings.position_embeddings.weight": (positions, dim),
               f"{prefix}.embeddings.token_type_embeddings.weight": (type_vocab, dim),
               **_layer_norm(f"{prefix}.embeddings.LayerNorm", dim)}
    for index in range(2):
        layer = f"{prefix}.encoder.layer.{index}"
        for part in ("query", "key", "value"):
            tensors.update(_linear(f"{layer}.attention.self.{part}", dim, dim))
        tensors.update({**_linear(f"{layer}.attention.output.dense", dim, dim),
                        **_layer_norm(f"{layer}.attention.output.LayerNorm", dim),
                        **_linear(f"{layer}.intermediate.dense", inner, dim),
                        **_linear(f"{layer}.output.dense", dim, inner), **_layer_norm(f"{layer}.output.LayerNorm", dim)})
    if prefix == "bert":
        tensors.update(_linear("bert.pooler.dense", dim, dim))
    return tensors


def _distilbert_tensors(vocabulary, dim, inner, positions):
    tensors = {"distilbert.embeddings.word_embeddings.weight": (vocabulary, dim),
               "distilbert.embeddings.position_embeddings.weight": (positions, dim),
               **_layer_norm("distilbert.embeddings.LayerNorm", dim)}
    for index in range(2):
        layer = f"distilbert.transformer.layer.{index}"
        for part in ("q_lin", "k_lin", "v_lin", "out_lin"):
            tensors.update(_linear(f"{layer}.attention.{part}", dim, dim))
        tensors.update({**_layer_norm(f"{layer}.sa_layer_norm", dim), **_linear(f"{layer}.ffn.lin1", inner, dim),
                        **_linear(f"{layer}.ffn.lin2", dim, inner), **_layer_norm(f"{layer}.output_layer_norm", dim)})
    return tensors


def _wordpiece_tokenizer(folder, vocabulary):
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

    tokenizer = Tokenizer(models.WordPiece({token: i for i, token in enumerate(vocabulary)}, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", special_tokens=[
        ("[CLS]", vocabulary.index("[CLS]")), ("[SEP]", vocabulary.index("[SEP]"))])
    tokenizer.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "do_lower_case": True, "cls_token": "[CLS]", "sep_token": "[SEP]", "pad_token": "[PAD]", "unk_token": "[UNK]",
        "mask_token": "[MASK]", "model_max_length": 32}))


def _byte_pair_tokenizer(folder, vocabulary, merges):
    from tokenizers import Tokenizer, models, pre_tokenizers, processors

    tokenizer = Tokenizer(models.BPE(vocabulary, [tuple(m.split(" ")) for m in merges], unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
    tokenizer.save(str(folder / "tokenizer.json"))
    (folder / "vocab.json").write_text(json.dumps(vocabulary))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>", "mask_token": "<mask>",
        "model_max_length": 32}))


def kagglehub_cache_with(preset, folder, root):
    """`folder` laid out in a kagglehub cache under `preset`'s handle, as a download leaves it."""
    from tune_widgets.models import sources

    handle = sources.preset_names()[preset]["kaggle_handle"].removeprefix("kaggle://")
    owner, model, framework, variation, version = handle.split("/")
    shutil.copytree(folder, root / "models" / owner / model / framework / variation / version)
    (root / "models" / owner / model / framework / variation / f"{version}.complete").write_text("")
