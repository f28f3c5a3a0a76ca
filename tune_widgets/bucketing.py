"""Moved to `tune_widgets.data.bucketing`: this old path stays for the 0.1 release only (remove in 0.2)."""

import sys

from .data import bucketing

sys.modules[__name__] = bucketing
