"""Moved to `tune_widgets.models.user_models`: this old path stays for the 0.1 release only (remove in 0.2)."""

import sys

from .models import user_models

sys.modules[__name__] = user_models
