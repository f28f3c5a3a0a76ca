"""Moved to `tune_widgets.data.readers`: this old path stays for the 0.1 release only (remove in 0.2)."""

import sys

from .data import readers

sys.modules[__name__] = readers
