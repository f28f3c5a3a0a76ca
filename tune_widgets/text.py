"""Moved to `tune_widgets.data.tokenizer`: this old path stays for the 0.1 release only (remove in 0.2)."""

import sys

from .data import tokenizer

sys.modules[__name__] = tokenizer
