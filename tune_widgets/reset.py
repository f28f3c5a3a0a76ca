"""Moved to `tune_widgets.models.reset`: this old path stays for the 0.1 release only (remove in 0.2)."""

import sys

from .models import reset

sys.modules[__name__] = reset
