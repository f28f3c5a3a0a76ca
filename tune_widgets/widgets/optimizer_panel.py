"""Optimizer and learning rate: a log-scale slider, an exact text box, a schedule preview, the
rate spread across layer groups, and the LR finder (Find LR, its chart, Use this rate)."""

import ipywidgets as widgets

from ..errors import ConfigError
from ..training.optimizers import OPTIMIZERS, SCHEDULES, learning_rates
from ..tuning.rates import lowest_factor
from .base import Panel, labelled
from .tuning_charts import lr_finder_chart

PREVIEW_STEPS = 200
SPREADS = (("one rate for all layers", 1.0), ("lowest block ÷10", 0.1), ("lowest block ÷100", 0.01),
           ("lowest block ÷1000", 0.001))
PER_BLOCK = ("set per block (from Python)", -1.0)


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
        self.spread = widgets.Dropdown(options=SPREADS, value=1.0)
        self.spread.add_class("tw-rate-spread")
        self.find = widgets.Button(description="Find LR", icon="search",
                                   tooltip="Sweep the rate over a short run, then put the weights back")
        self.find.add_class("tw-find-lr")
        self.use = widgets.Button(description="Use this rate", disabled=True)
        self.use.add_class("tw-use-lr")
        self.finder = widgets.HTML()
        self.finder.add_class("tw-lr-finder")
        self.future = None
        super().__init__(session, [
            labelled("Optimizer", self.optimizer),
            labelled("Learning rate", widgets.HBox([self.lr_slider, self.lr_text])),
            labelled("Weight decay", self.weight_decay), labelled("Schedule", self.schedule),
            labelled("Warmup", self.warmup), self.preview, labelled("Lower blocks", self.spread),
            widgets.HBox([self.find, self.use]), self.finder,
        ])
        self.optimizer.observe(lambda c: self._change(optimizer=c["new"]), names="value")
        self.lr_slider.observe(lambda c: self._change(learning_rate=c["new"]), names="value")
        self.lr_text.observe(lambda c: self._change(learning_rate=_number("Learning rate", c["new"])), names="value")
        self.weight_decay.observe(lambda c: self._change(weight_decay=_number("Weight decay", c["new"])), names="value")
        self.schedule.observe(lambda c: self._change(schedule=c["new"]), names="value")
        self.warmup.observe(lambda c: self._change(warmup_fraction=c["new"]), names="value")
        self.spread.observe(self._spread_changed, names="value")
        self.find.on_click(lambda _: self.find_lr())
        self.use.on_click(lambda _: self.attempt(self._use_suggestion))
        session.observe(self._show, names=["optimizer", "layers"])
        session.observe(self._show_finder, names=["lr_finder"])
        session.observe(lambda c: setattr(self.find, "disabled", c["new"]), names=["training"])
        self.clear_error_when("optimizer", "training")
        self._show()
        self._show_finder()

    def find_lr(self):
        """Run the LR finder in the background (Stop in the training panel ends it)."""
        future = self.attempt(self.session.find_lr, background=True)
        if future is not None:
            self.future = future
            future.add_done_callback(self._found)
        return future

    def _found(self, future):
        error = future.exception()
        if error is not None:
            self.show_error(f"The LR finder failed: {type(error).__name__}: {error}")

    def _use_suggestion(self):
        result = self.session.lr_finder
        self.session.set_optimizer(learning_rate=result.suggestion)

    def _spread_changed(self, change):
        if self._showing or change["new"] == PER_BLOCK[1]:
            return
        self.attempt(self.session.set_rates, lowest=change["new"])
        self._show()  # a refused change snaps back to the session's rates

    def _show_finder(self, change=None):
        result = self.session.lr_finder
        self.use.disabled = result is None or result.suggestion is None
        if result is None:
            self.finder.value = ("<i>Not sure of the rate? With a model and data, click Find LR: a short run "
                                 "at growing rates, its weights put back after.</i>")
            return
        words = f"suggested rate <b>{result.suggestion:.2g}</b>" if result.suggestion is not None else "no suggestion"
        self.finder.value = (f"{lr_finder_chart(result)}<div style='font-size:11px;opacity:.7'>LR finder: "
                             f"{len(result.rates)} batches, {result.ended}; {words} (fastai's valley rule)</div>")
        self.use.description = f"Use {result.suggestion:.2g}" if result.suggestion is not None else "Use this rate"

    def _change(self, **changes):
        if self._showing:
            return
        done = self.attempt(lambda: self.session.set_optimizer(**{k: v() if callable(v) else v for k, v in changes.items()}))
        if done is None:
            self._show()  # refused: every field snaps back to the session's spec

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
            lowest = lowest_factor(self.session.layers, spec.layer_rates)
            known = [value for _, value in SPREADS]
            options = SPREADS if lowest in known else (*SPREADS, PER_BLOCK)
            if tuple(self.spread.options) != options:
                self.spread.options = options
            self.spread.value = lowest if lowest in known else PER_BLOCK[1]
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
