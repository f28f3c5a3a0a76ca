"""Moved to `tune_widgets.data.datasets`: this old path stays for the 0.1 release only (remove in 0.2)."""

import sys

from .data import datasets

sys.modules[__name__] = datasets
