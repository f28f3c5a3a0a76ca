"""Moved to `tune_widgets.saving.atomic`: this old path stays for the 0.1 release only (remove in 0.2)."""

import sys

from .saving import atomic

sys.modules[__name__] = atomic
