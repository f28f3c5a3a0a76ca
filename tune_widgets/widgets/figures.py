"""Plotly FigureWidgets built the first time they are needed.

Importing plotly's FigureWidget pulls in nbformat and jsonschema, whose optional `rfc3987_syntax`
builds a grammar at import: 2 to 4.5 s in a fresh kernel, before any figure exists. A dashboard
shows no chart until something is trained, evaluated or selected, so each chart is an empty box
until its panel first draws into it, and `prefetch` imports plotly in a worker thread meanwhile.
"""

import threading

import ipywidgets as widgets

_PREFETCH = []


def prefetch():
    """Import plotly's widget classes in the background, once per process: by the first Train
    click they are loaded, and the dashboard did not wait for them."""
    if not _PREFETCH:
        _PREFETCH.append(threading.Thread(target=_import_plotly, name="tune-widgets-plotly", daemon=True))
        _PREFETCH[0].start()


def _import_plotly():
    import plotly.graph_objects as go
    import plotly.subplots  # noqa: F401

    go.FigureWidget  # noqa: B018 - a lazy attribute: this is the import that takes the time


class LazyFigure(widgets.Box):
    """A box holding the FigureWidget `build()` returns, built on the first `figure` access."""

    def __init__(self, build, **kwargs):
        super().__init__([], **kwargs)
        self._build, self._figure = build, None

    @property
    def figure(self):
        if self._figure is None:
            self._figure = self._build()
            self.children = (self._figure,)
        return self._figure

    @property
    def built(self):
        return self._figure is not None
