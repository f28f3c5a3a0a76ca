"""Moved to `tune_widgets.models.lora`: this old path stays for the 0.1 release only (remove in 0.2)."""

import sys

from ..models import lora

sys.modules[__name__] = lora
