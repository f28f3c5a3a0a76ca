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
        self.optimizer = widgets.Dropdown(options=OPTIMIZERS)
        self.lr_slider = widgets.FloatLogSlider(1e-3, base=10, min=-6, max=0, step=0.1, readout_format=".1e",
                                                continuous_update=False)
        self.lr_text = widgets.Text(continuous_update=False, layout=widgets.Layout(width="110px"))
        self.lr_text.add_class("tw-lr-text")
        self.weight_decay = widgets.Text(continuous_update=False, layout=widgets.Layout(width="110px"))
        self.schedule = widgets.Dropdown(options=SCHEDULES)
        self.warmup = widgets.FloatSlider(0.1, min=0, max=0.95, step=0.05, continuous_update=False)
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
        spec, change = lambda: session.optimizer, session.set_optimizer
        self.bind(self.optimizer, ["optimizer"], lambda: spec().optimizer, lambda value: change(optimizer=value))
        self.bind(self.lr_slider, ["optimizer"], lambda: spec().learning_rate,
                  lambda value: change(learning_rate=value))
        self.bind(self.lr_text, ["optimizer"], lambda: f"{spec().learning_rate:g}",
                  lambda text: change(learning_rate=_number("Learning rate", text)))
        self.bind(self.weight_decay, ["optimizer"], lambda: f"{spec().weight_decay:g}",
                  lambda text: change(weight_decay=_number("Weight decay", text)))
        self.bind(self.schedule, ["optimizer"], lambda: spec().schedule, lambda value: change(schedule=value))
        self.bind(self.warmup, ["optimizer"], lambda: spec().warmup_fraction,
                  lambda value: change(warmup_fraction=value))
        self.bind(self.spread, ["optimizer", "layers"], self._spread, self._set_spread)
        self.find.on_click(lambda _: self.find_lr())
        self.use.on_click(lambda _: self.attempt(self._use_suggestion))
        session.observe(self._show_preview, names=["optimizer"])
        session.observe(self._show_finder, names=["lr_finder"])
        session.observe(lambda c: setattr(self.find, "disabled", c["new"]), names=["training"])
        self.clear_error_when("optimizer", "training")
        self._show_preview()
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

    def _spread(self):
        """The lowest block's rate factor, among the choices (which gain "set per block" when
        Python set the rates otherwise)."""
        lowest = lowest_factor(self.session.layers, self.session.optimizer.layer_rates)
        known = [value for _, value in SPREADS]
        options = SPREADS if lowest in known else (*SPREADS, PER_BLOCK)
        if tuple(self.spread.options) != options:
            self.spread.options = options
        return lowest if lowest in known else PER_BLOCK[1]

    def _set_spread(self, lowest):
        if lowest != PER_BLOCK[1]:  # "set per block" is shown, not chosen
            self.session.set_rates(lowest=lowest)

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

    def _show_preview(self, change=None):
        spec = self.session.optimizer
        self.preview.value = sparkline(learning_rates(spec, PREVIEW_STEPS), spec)


def _number(name, text):
    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"{name} {text!r} is not a number: type it like 3e-4 or 0.001.") from None


def sparkline(rates, spec, width=260, height=60):
    """The schedule's learning rate over steps as a small inline SVG (no plotting front end)."""
    top = max(float(rates.max()), 1e-30)
    n = max(len(rates) - 1, 1)
    points = " ".join(f"{i / n * width:.1f},{height - 4 - (r / top) * (height - 8):.1f}" for i, r in enumerate(rates))
    label = f"{spec.schedule}: peak {top:.2g}, end {float(rates[-1]):.2g} over {PREVIEW_STEPS} steps"
    return (f'<svg width="{width}" height="{height}" role="img" aria-label="{label}" style="background:rgba(127,127,127,.08)">'
            f'<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="{points}"/></svg>'
            f'<div style="font-size:11px;opacity:.7">{label}</div>')
