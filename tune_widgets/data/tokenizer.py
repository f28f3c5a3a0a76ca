"""Text to encoder inputs: token ids, padding mask and segment ids as fixed-length arrays.

A checkpoint folder brings its tokenizer: the Hugging Face one (through `transformers`) when
the folder has Hugging Face tokenizer files, else KerasHub's own from the preset (KerasHub
writes its tokenizer's config as tokenizer.json too, with a "class_name": that one is
KerasHub's). Both run offline from the folder.

A BERT WordPiece tokenizer.json (the shipped MiniLM's) runs through the `tokenizers` library
directly, as transformers' fast tokenizer itself does: importing transformers takes most of a
second (0.8-2.6 s here), importing tokenizers 0.04 s. The transformers tokenizer (`hf`) loads
when asked for.
"""

import json
from pathlib import Path

import numpy as np

from ..errors import CheckpointError, ConfigError

HF_TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "tokenizer_config.json", "spiece.model", "merges.txt")


class Tokenizer:
    """A checkpoint's tokenizer, padded/truncated to `sequence_length`.

    `encode(texts, length)` gives unpadded ids with the family's start and end tokens; `pad_id`
    fills the rest. `library` is the tokenizer itself: a transformers one (`kind`
    "hugging_face", also as `hf`) or KerasHub's ("keras_hub").
    """

    def __init__(self, encode, pad_id, folder, sequence_length=64, kind="hugging_face", library=None):
        if not isinstance(sequence_length, int) or sequence_length < 8:
            raise ConfigError(f"sequence_length must be an integer of at least 8, got {sequence_length!r}.")
        self.encode, self.pad_id, self.kind, self._library = encode, pad_id, kind, library
        self.folder = str(folder)
        self.sequence_length = sequence_length

    @classmethod
    def from_folder(cls, folder, sequence_length=64):
        folder = Path(folder)
        if _is_keras_hub(folder):
            return cls.from_keras_hub(folder, sequence_length)
        if not any((folder / f).exists() for f in HF_TOKENIZER_FILES):
            raise CheckpointError(f"{folder} has no tokenizer files (tokenizer.json or vocab.txt).")
        wordpiece = _bert_wordpiece(folder)
        if wordpiece is not None:
            return cls(*wordpiece, folder, sequence_length)
        hf = _transformers_tokenizer(folder)

        def encode(texts, length):
            return hf(list(texts), truncation=True, max_length=length)["input_ids"]

        return cls(encode, hf.pad_token_id or 0, folder, sequence_length, library=hf)

    @property
    def library(self):
        """The tokenizer itself: transformers' (loaded now if the folder's WordPiece file ran
        without it) or KerasHub's."""
        if self._library is None:
            self._library = _transformers_tokenizer(Path(self.folder))
        return self._library

    @classmethod
    def from_keras_hub(cls, folder, sequence_length=64):
        """KerasHub's tokenizer of a preset folder; its start and end tokens frame each text."""
        import keras_hub

        try:
            tokenizer = keras_hub.models.Tokenizer.from_preset(str(folder))
        except Exception as error:
            raise CheckpointError(f"The tokenizer in {folder} could not be loaded by KerasHub: {error}") from error
        start, end = getattr(tokenizer, "start_token_id", None), getattr(tokenizer, "end_token_id", None)
        framing = [t for t in (start, end) if t is not None]

        def encode(texts, length):
            ids = tokenizer(list(texts))
            ids = ids.to_list() if hasattr(ids, "to_list") else [list(np.asarray(row)) for row in ids]
            body = length - len(framing)
            return [[*([start] if start is not None else []), *[int(i) for i in row[:body]],
                     *([end] if end is not None else [])] for row in ids]

        pad_id = getattr(tokenizer, "pad_token_id", None)
        return cls(encode, 0 if pad_id is None else int(pad_id), folder, sequence_length, kind="keras_hub",
                   library=tokenizer)

    @property
    def hf(self):
        """The transformers tokenizer, for a Hugging Face checkpoint (None for KerasHub's)."""
        return self.library if self.kind == "hugging_face" else None

    def token_ids(self, texts):
        """Unpadded token ids per text, start and end tokens included, truncated to sequence_length."""
        return self.encode(texts, self.sequence_length)

    @property
    def special_ids(self):
        """The ids of the framing, padding and other special tokens (left out of token attributions)."""
        if self.hf is not None:
            return set(self.hf.all_special_ids)
        names = ("start_token_id", "end_token_id", "pad_token_id", "mask_token_id")
        return {int(i) for i in (getattr(self.library, name, None) for name in names) if i is not None} | {self.pad_id}

    def tokens(self, ids):
        """The token strings of `ids`, as the tokenizer writes them ("##ing", "Ġword")."""
        if self.hf is not None:
            return list(self.hf.convert_ids_to_tokens(list(ids)))
        return [str(self.library.id_to_token(int(i))) for i in ids]

    def __call__(self, texts):
        """{"token_ids", "padding_mask", "segment_ids"}: int32 arrays of shape (n, sequence_length)."""
        return pad(self.token_ids(texts), self.sequence_length, self.pad_id)

    def __repr__(self):
        return f"Tokenizer({Path(self.folder).name!r}, sequence_length={self.sequence_length}, {self.kind})"


def _transformers_tokenizer(folder):
    from transformers import AutoTokenizer
    from transformers.utils import logging

    logging.set_verbosity_error()  # "PyTorch was not found": true and irrelevant here
    return AutoTokenizer.from_pretrained(str(folder), local_files_only=True)


BERT_CLASSES = ("BertTokenizer", "BertTokenizerFast")


def _bert_wordpiece(folder):
    """(encode, pad id) through `tokenizers` for a BERT tokenizer.json whose normalizer says
    what tokenizer_config.json says (transformers' BertTokenizerFast would rebuild it
    otherwise), else None: transformers then loads the folder as it sees fit."""
    try:
        config = json.loads((folder / "tokenizer_config.json").read_text())
        spec = json.loads((folder / "tokenizer.json").read_text())
    except (OSError, ValueError):
        return None
    normalizer = spec.get("normalizer") or {}
    if (config.get("tokenizer_class") not in BERT_CLASSES or normalizer.get("type") != "BertNormalizer"
            or (spec.get("post_processor") or {}).get("type") not in ("TemplateProcessing", "BertProcessing")
            or normalizer.get("lowercase") != config.get("do_lower_case", True)
            or normalizer.get("strip_accents") != config.get("strip_accents")
            or normalizer.get("handle_chinese_chars") != config.get("tokenize_chinese_chars", True)):
        return None
    import tokenizers

    wordpiece = tokenizers.Tokenizer.from_file(str(folder / "tokenizer.json"))
    wordpiece.no_padding()  # the file may ask for padding: pad() does it, to the session's length
    pad_id = wordpiece.token_to_id(config.get("pad_token") or "[PAD]")

    def encode(texts, length):
        wordpiece.enable_truncation(length)  # special tokens included, as transformers counts them
        return [encoding.ids for encoding in wordpiece.encode_batch(list(texts))]

    return encode, 0 if pad_id is None else pad_id


def _is_keras_hub(folder):
    """Whether `folder` holds a KerasHub tokenizer config rather than Hugging Face files."""
    config = folder / "tokenizer.json"
    if not config.exists():
        return (folder / "metadata.json").exists() and not any((folder / f).exists() for f in HF_TOKENIZER_FILES)
    try:
        return "class_name" in json.loads(config.read_text())
    except ValueError:
        return False


def pad(ids, length, pad_id=0):
    """Pad lists of token ids into the three arrays a BERT-style encoder takes."""
    token_ids = np.full((len(ids), length), pad_id, dtype="int32")
    mask = np.zeros((len(ids), length), dtype="int32")
    for row, seq in enumerate(ids):
        seq = seq[:length]
        token_ids[row, : len(seq)] = seq
        mask[row, : len(seq)] = 1
    return {"token_ids": token_ids, "padding_mask": mask, "segment_ids": np.zeros_like(token_ids)}
