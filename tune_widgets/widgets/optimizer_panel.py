"""Optimizer and learning rate: a log-scale slider, an exact text box, and a schedule preview."""

import ipywidgets as widgets

from ..errors import ConfigError
from ..optim import OPTIMIZERS, SCHEDULES, learning_rates
from .base import Panel, labelled

PREVIEW_STEPS = 200


class OptimizerPanel(Panel):
    title = "Optimizer"
    css_class = "tw-optimizer-panel"

    def __init__(self, session):
        spec = session.optimizer
        self.optimizer = widgets.Dropdown(options=OPTIMIZERS, value=spec.optimizer)
        self.lr_slider = widgets.FloatLogSlider(spec.learning_rate, base=10, min=-6, max=0, step=0.1,
                                                readout_format=".1e", continuous_update=False)
        self.lr_text = widgets.Text(f"{spec.learning_rate:g}", continuous_update=False, layout=widgets.Layout(width="110px"))
        self.lr_text.add_class("tw-lr-text")
        self.weight_decay = widgets.Text(f"{spec.weight_decay:g}", continuous_update=False, layout=widgets.Layout(width="110px"))
        self.schedule = widgets.Dropdown(options=SCHEDULES, value=spec.schedule)
        self.warmup = widgets.FloatSlider(spec.warmup_fraction, min=0, max=0.9, step=0.05, continuous_update=False)
        self.preview = widgets.HTML()
        self.preview.add_class("tw-lr-preview")
        super().__init__(session, [
            labelled("Optimizer", self.optimizer),
            labelled("Learning rate", widgets.HBox([self.lr_slider, self.lr_text])),
            labelled("Weight decay", self.weight_decay), labelled("Schedule", self.schedule),
            labelled("Warmup", self.warmup), self.preview,
        ])
        self.optimizer.observe(lambda c: self._change(optimizer=c["new"]), names="value")
        self.lr_slider.observe(lambda c: self._change(learning_rate=c["new"]), names="value")
        self.lr_text.observe(lambda c: self._change(learning_rate=_number("Learning rate", c["new"])), names="value")
        self.weight_decay.observe(lambda c: self._change(weight_decay=_number("Weight decay", c["new"])), names="value")
        self.schedule.observe(lambda c: self._change(schedule=c["new"]), names="value")
        self.warmup.observe(lambda c: self._change(warmup_fraction=c["new"]), names="value")
        session.observe(self._show, names=["optimizer"])
        self._show()

    def _change(self, **changes):
        if self._showing:
            return
        self.attempt(lambda: self.session.set_optimizer(**{k: v() if callable(v) else v for k, v in changes.items()}))

    _showing = False

    def _show(self, change=None):
        """Follow the session's spec, whoever changed it (this panel or a cell)."""
        spec = self.session.optimizer
        self._showing = True
        try:
            self.optimizer.value = spec.optimizer
            self.lr_slider.value = spec.learning_rate
            self.lr_text.value = f"{spec.learning_rate:g}"
            self.weight_decay.value = f"{spec.weight_decay:g}"
            self.schedule.value = spec.schedule
            self.warmup.value = spec.warmup_fraction
        finally:
            self._showing = False
        self.preview.value = sparkline(learning_rates(spec, PREVIEW_STEPS), spec)


def _number(name, text):
    """A deferred parse, so a bad number is reported through `attempt` like any other error."""
    def parse():
        try:
            return float(text)
        except ValueError:
            raise ConfigError(f"{name} {text!r} is not a number: type it like 3e-4 or 0.001.") from None
    return parse


def sparkline(rates, spec, width=260, height=60):
    """The schedule's learning rate over steps as a small inline SVG (no plotting front end)."""
    top = max(float(rates.max()), 1e-30)
    n = max(len(rates) - 1, 1)
    points = " ".join(f"{i / n * width:.1f},{height - 4 - (r / top) * (height - 8):.1f}" for i, r in enumerate(rates))
    label = f"{spec.schedule}: peak {top:.2g}, end {float(rates[-1]):.2g} over {PREVIEW_STEPS} steps"
    return (f'<svg width="{width}" height="{height}" role="img" aria-label="{label}" style="background:rgba(127,127,127,.08)">'
            f'<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="{points}"/></svg>'
            f'<div style="font-size:11px;opacity:.7">{label}</div>')
