"""Labelled data: what the session trains and evaluates on, and everything that gets it there.

- `labelled`: LabelledData, reading any supported form into it, the validation split, encoding
  for a backbone.
- `readers`: files: CSV tables and images grouped by class (paths or upload bytes).
- `tokenizer`: the text tokenizer (Hugging Face `tokenizers` from a checkpoint folder).
- `bucketing`: batches of texts of similar length, trimmed to their longest.
- `datasets`: the data sets and models shipped with the toolkit's dependencies.
"""

from .labelled import (LABEL_COLUMNS, TEXT_COLUMNS, LabelledData, encode, encode_split, examples, labelled, read_images, split,
                       training_split)
from .readers import read_csv

__all__ = ["LABEL_COLUMNS", "TEXT_COLUMNS", "LabelledData", "encode", "encode_split", "examples", "labelled", "read_csv",
           "read_images", "split", "training_split"]
