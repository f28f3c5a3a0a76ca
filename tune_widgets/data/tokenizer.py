"""Text to encoder inputs: token ids, padding mask and segment ids as fixed-length arrays."""

from pathlib import Path

import numpy as np

from ..errors import CheckpointError, ConfigError


class Tokenizer:
    """A Hugging Face tokenizer (through `transformers`) padded/truncated to `sequence_length`.

    The HF tokenizer is the reference for checkpoints that ship one; it runs offline from the
    folder's own `tokenizer.json` or `vocab.txt`.
    """

    def __init__(self, hf_tokenizer, folder, sequence_length=64):
        if not isinstance(sequence_length, int) or sequence_length < 8:
            raise ConfigError(f"sequence_length must be an integer of at least 8, got {sequence_length!r}.")
        self.hf = hf_tokenizer
        self.folder = str(folder)
        self.sequence_length = sequence_length

    @classmethod
    def from_folder(cls, folder, sequence_length=64):
        from transformers import AutoTokenizer
        from transformers.utils import logging

        logging.set_verbosity_error()  # "PyTorch was not found": true and irrelevant here
        folder = Path(folder)
        if not any((folder / f).exists() for f in ("tokenizer.json", "vocab.txt", "tokenizer_config.json")):
            raise CheckpointError(f"{folder} has no tokenizer files (tokenizer.json or vocab.txt).")
        return cls(AutoTokenizer.from_pretrained(str(folder), local_files_only=True), folder, sequence_length)

    def token_ids(self, texts):
        """Unpadded token ids per text, [CLS] and [SEP] included, truncated to sequence_length."""
        encoded = self.hf(list(texts), truncation=True, max_length=self.sequence_length)
        return encoded["input_ids"]

    def __call__(self, texts):
        """{"token_ids", "padding_mask", "segment_ids"}: int32 arrays of shape (n, sequence_length)."""
        return pad(self.token_ids(texts), self.sequence_length, self.hf.pad_token_id or 0)

    def __repr__(self):
        return f"Tokenizer({Path(self.folder).name!r}, sequence_length={self.sequence_length})"


def pad(ids, length, pad_id=0):
    """Pad lists of token ids into the three arrays a BERT-style encoder takes."""
    token_ids = np.full((len(ids), length), pad_id, dtype="int32")
    mask = np.zeros((len(ids), length), dtype="int32")
    for row, seq in enumerate(ids):
        seq = seq[:length]
        token_ids[row, : len(seq)] = seq
        mask[row, : len(seq)] = 1
    return {"token_ids": token_ids, "padding_mask": mask, "segment_ids": np.zeros_like(token_ids)}
