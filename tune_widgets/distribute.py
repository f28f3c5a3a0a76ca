"""Moved to `tune_widgets.training.distribute`: this old path stays for the 0.1 release only (remove in 0.2)."""

import sys

from .training import distribute

sys.modules[__name__] = distribute
