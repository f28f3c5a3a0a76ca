"""Moved to `tune_widgets.runs.config`: this old path stays for the 0.1 release only (remove in 0.2)."""

import sys

from ..runs import config

sys.modules[__name__] = config
