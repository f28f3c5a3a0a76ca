"""Errors raised by tune-widgets.

Every message says what went wrong and what to change. Operations validate before they
touch the session, so after any of these the session holds exactly what it held before.
Panels catch `TuneWidgetsError` and show its message inline.
"""

import difflib


class TuneWidgetsError(Exception):
    """Base class: catch this to handle every tune-widgets error."""


class ModelSourceError(TuneWidgetsError, ValueError):
    """The model source cannot be loaded (unknown name, bad folder, bad file)."""


class UnknownModelError(ModelSourceError):
    """A `keras.applications` name that does not exist."""


class CheckpointError(ModelSourceError):
    """A checkpoint folder is missing files or holds an unsupported architecture."""


class WeightsUnavailableError(ModelSourceError):
    """Pretrained weights could not be downloaded (no network)."""


class DataError(TuneWidgetsError, ValueError):
    """Training or evaluation data that cannot be used as given."""


class LayerSelectionError(TuneWidgetsError, KeyError):
    """A layer name, index, block or pattern that selects nothing."""

    def __str__(self):  # KeyError would repr() the message, quotes and all
        return str(self.args[0]) if self.args else ""


class ConfigError(TuneWidgetsError, ValueError):
    """An optimizer, schedule or training setting out of its valid range."""


class StateError(TuneWidgetsError, RuntimeError):
    """An operation asked for something the session does not have yet (no model, no data)."""


class FitError(TuneWidgetsError, RuntimeError):
    """Something failed inside a fit; the message names the stage, the run is marked failed."""


class RunError(TuneWidgetsError, ValueError):
    """A run folder that is missing, damaged or made for another model, or a runs_dir that
    cannot be written."""


class SaveError(TuneWidgetsError, OSError):
    """A save could not be written (no such folder, a read-only one, a full disk). The message
    names the path and the cause; nothing half-made is left behind."""


class ExportError(TuneWidgetsError, ValueError):
    """An export format that cannot apply to this model (a tokenizer it cannot carry, a
    converter that is not installed or that fails). Refused before anything is written."""


class TuneWidgetsWarning(UserWarning):
    """Something that works but probably not as meant (a head that does not fit the data)."""


def did_you_mean(word, choices, n=3):
    """' Did you mean: a, b?' for close matches among `choices`, or '' when none is close."""
    close = difflib.get_close_matches(word, list(choices), n=n, cutoff=0.6)
    if not close:
        lowered = {c.lower(): c for c in choices}
        close = [lowered[c] for c in difflib.get_close_matches(word.lower(), lowered, n=n, cutoff=0.6)]
    return f" Did you mean: {', '.join(close)}?" if close else ""
