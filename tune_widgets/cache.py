"""Moved to `tune_widgets.training.cache`: this old path stays for the 0.1 release only (remove in 0.2)."""

import sys

from .training import cache

sys.modules[__name__] = cache
