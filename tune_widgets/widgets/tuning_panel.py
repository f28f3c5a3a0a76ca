"""Tuning: fine-tune with gradual unfreezing, the freeze sweep with its chart, and the freeze
suggestion with Apply and Dismiss (the layer map marks what it would freeze).

Both run several fits in a worker thread, so the kernel stays free; the training panel shows
each fit as it runs and its Stop ends the tool. The sweep's chart follows `session.freeze_sweep`,
point by point, whoever started the sweep (this panel or a cell).
"""

import html

import ipywidgets as widgets

from .base import Panel, labelled
from .tuning_charts import sweep_chart

UNFREEZE = (("all at once", "all"), ("one block per epoch from the top", "gradual"))


class TuningPanel(Panel):
    title = "Tuning"
    css_class = "tw-tuning-panel"

    def __init__(self, session):
        self.frozen_epochs = widgets.BoundedIntText(1, min=0, max=1000, layout=widgets.Layout(width="70px"))
        self.frozen_epochs.add_class("tw-frozen-epochs")
        self.epochs = widgets.BoundedIntText(2, min=1, max=1000, layout=widgets.Layout(width="70px"))
        self.epochs.add_class("tw-fine-tune-epochs")
        self.unfreeze = widgets.Dropdown(options=UNFREEZE, value="all")
        self.unfreeze.add_class("tw-unfreeze")
        self.fine_tune = widgets.Button(description="Fine-tune", icon="play",
                                        tooltip="Head only first, then the body unfrozen at lower rates")
        self.fine_tune.add_class("tw-fine-tune")
        self.points = widgets.Text(placeholder="default: head only, then + 1, 2, 3 blocks", continuous_update=False,
                                   layout=widgets.Layout(width="260px"))
        self.points.add_class("tw-sweep-points")
        self.sweep_epochs = widgets.BoundedIntText(1, min=1, max=100, layout=widgets.Layout(width="70px"))
        self.sweep_epochs.add_class("tw-sweep-epochs")
        self.sweep = widgets.Button(description="Sweep", icon="line-chart",
                                    tooltip="A short run per cut point, each from the same starting weights")
        self.sweep.add_class("tw-sweep")
        self.apply_best = widgets.Button(description="Apply best plan", disabled=True)
        self.apply_best.add_class("tw-apply-best")
        self.chart = widgets.HTML()
        self.chart.add_class("tw-sweep-chart")
        self.suggest = widgets.Button(description="Suggest", icon="lightbulb-o",
                                      tooltip="One short probe with every layer training: freeze the blocks that barely learn")
        self.suggest.add_class("tw-suggest")
        self.apply_suggestion = widgets.Button(description="Apply", disabled=True)
        self.apply_suggestion.add_class("tw-apply-suggestion")
        self.dismiss = widgets.Button(description="Dismiss", disabled=True)
        self.dismiss.add_class("tw-dismiss-suggestion")
        self.suggestion = widgets.HTML()
        self.suggestion.add_class("tw-suggestion")
        self.futures = []
        super().__init__(session, [
            widgets.HTML("<i>Fine-tune</i>: head only first, then the body at half the rate, lower blocks slower"),
            widgets.HBox([labelled("Frozen epochs", self.frozen_epochs, "100px"),
                          labelled("then epochs", self.epochs, "80px")]),
            labelled("Unfreeze", self.unfreeze, "100px"), self.fine_tune,
            widgets.HTML("<i>Freeze sweep</i>: how much to freeze? One short run per cut point"),
            labelled("Cut points", self.points, "100px"), labelled("Epochs each", self.sweep_epochs, "100px"),
            widgets.HBox([self.sweep, self.apply_best]), self.chart,
            widgets.HTML("<i>Freeze suggestion</i>: from the layer signals of one short probe (shown on the map)"),
            widgets.HBox([self.suggest, self.apply_suggestion, self.dismiss]), self.suggestion,
        ])
        self.fine_tune.on_click(lambda _: self.start_fine_tune())
        self.sweep.on_click(lambda _: self.start_sweep())
        self.apply_best.on_click(lambda _: self.attempt(self._apply_best))
        self.suggest.on_click(lambda _: self._start(self.session.suggest_freeze))
        self.apply_suggestion.on_click(lambda _: self.attempt(self._apply_suggestion))
        self.dismiss.on_click(lambda _: setattr(self.session, "freeze_suggestion", None))
        session.observe(self._show_sweep, names=["freeze_sweep"])
        session.observe(self._show_suggestion, names=["freeze_suggestion"])
        session.observe(self._show_busy, names=["training"])
        self._show_sweep()
        self._show_suggestion()

    def start_fine_tune(self):
        """session.fine_tune with the panel's settings, in the background."""
        return self._start(self.session.fine_tune, self.epochs.value, self.frozen_epochs.value,
                           unfreeze=self.unfreeze.value)

    def start_sweep(self):
        """session.sweep_freeze with the panel's cut points and epochs, in the background."""
        return self._start(self.session.sweep_freeze, parse_points(self.points.value), self.sweep_epochs.value)

    def _start(self, tool, *args, **kwargs):
        future = self.attempt(tool, *args, background=True, **kwargs)
        if future is not None:
            self.futures.append(future)
            self._show_busy()
            future.add_done_callback(self._finished)
        return future

    def _finished(self, future):
        self.futures.remove(future)
        self._show_busy()
        error = future.exception()
        if error is not None:
            self.show_error(f"{type(error).__name__}: {error}")

    def _show_busy(self, change=None):
        busy = self.session.training or bool(self.futures)
        self.fine_tune.disabled = self.sweep.disabled = self.suggest.disabled = busy
        self._show_sweep()
        self._show_suggestion()

    def _apply_best(self):
        self.session.set_frozen(self.session.freeze_sweep.best.frozen)

    def _apply_suggestion(self):
        self.session.set_frozen(self.session.freeze_suggestion.frozen)
        self.session.freeze_suggestion = None

    def _show_suggestion(self, change=None):
        suggestion = self.session.freeze_suggestion
        busy = self.session.training or bool(self.futures)
        self.apply_suggestion.disabled = suggestion is None or busy
        self.dismiss.disabled = suggestion is None
        self.suggestion.value = ("<i>No suggestion: click Suggest to probe which blocks learn.</i>" if suggestion is None
                                 else html.escape(suggestion.reason))

    def _show_sweep(self, change=None):
        result = self.session.freeze_sweep
        best = result.best if result is not None else None
        self.apply_best.disabled = best is None or self.session.training or bool(self.futures)
        self.apply_best.description = f"Apply best: {best.label}" if best is not None else "Apply best plan"
        if result is None:
            self.chart.value = ("<i>No sweep yet: with a model and data, click Sweep to train each cut point "
                                "briefly from the same weights, and compare.</i>")
            return
        rows = "".join(
            f"<tr><td>{html.escape(p.label)}</td><td>{p.trainable_params:,}</td>"
            f"<td>{'–' if p.value is None else f'{p.value:.3f}'}</td>"
            f"<td>{'–' if p.seconds_per_epoch is None else f'{p.seconds_per_epoch:.2f}'}</td></tr>"
            for p in result.points)
        self.chart.value = (f"{sweep_chart(result)}<table class='tw-sweep-table'><tr><th>cut</th><th>trainable</th>"
                            f"<th>{html.escape(result.metric)}</th><th>s/epoch</th></tr>{rows}</table>"
                            f"<div style='font-size:11px;opacity:.7'>{len(result.points)}/{result.count} points, "
                            f"{result.ended}</div>")


def parse_points(text):
    """'transformer_layer_3, 12' → ['transformer_layer_3', 12]; '' → None (the default cuts)."""
    parts = [part.strip() for part in text.split(",") if part.strip()]
    return [int(part) if part.isdigit() else part for part in parts] or None
