"""Training: epochs, batch size, Train, Stop and Reset, a progress bar with ETA, live charts.

Train runs the fit in a worker thread, so the kernel stays free and Stop can be clicked. The
panel listens to the session's throttled `progress`, so any fit (from this panel or a cell)
is drawn, and the chart costs training nothing per batch. One FigureWidget per panel, reused
across runs (each instance carries a ~5 MB front end), built when the first fit starts (see
figures.py).
"""

import threading
import time

import ipywidgets as widgets
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..models.task import task_named
from ..runs.record import thinned
from .base import Panel, labelled
from .figures import LazyFigure

SMOOTHING = 0.9  # exponential moving average of the batch loss, debiased like fastai's
MAX_POINTS = 300  # points per trace sent to the browser: each update resends whole traces
MAX_MARKERS = 60  # past this many epochs, epoch traces drop their markers (SVG nodes to redraw)
# A Label clips its text to one line; the status says what to do next, so it wraps instead.
STYLE = "<style>.tw-progress-label {white-space: normal; height: auto; line-height: 1.4}</style>"


class TrainingPanel(Panel):
    title = "Training"
    css_class = "tw-training-panel"

    def __init__(self, session, epochs=3, callbacks=()):
        self.callbacks = list(callbacks)  # extra training callbacks for runs started here
        self.epochs = widgets.BoundedIntText(epochs, min=1, max=10000, layout=widgets.Layout(width="90px"))
        self.epochs.add_class("tw-epochs")
        self.batch_size = widgets.IntText(32, layout=widgets.Layout(width="90px"))  # unbounded: the session refuses a bad size
        self.batch_size.add_class("tw-batch-size")
        self.jit_compile = widgets.Checkbox(False, description="XLA (jit_compile)", indent=False)
        self.mixed_precision = widgets.Checkbox(False, description="mixed precision (bfloat16)", indent=False)
        note = widgets.HTML(STYLE + '<small style="opacity:.7">Both off by default: on a CPU neither made '
                            "fine-tuning faster in our benchmark; they can on a GPU.</small>")
        self.train = widgets.Button(description="Train", button_style="success", icon="play")
        self.train.add_class("tw-train")
        self.stop = widgets.Button(description="Stop", button_style="danger", icon="stop", disabled=True)
        self.stop.add_class("tw-stop")
        self.reset = widgets.Button(description="Reset", icon="undo", tooltip="Back to the pretrained weights and "
                                    "the head's starting weights; data, freeze plan and optimizer are kept")
        self.reset.add_class("tw-reset")
        self.progress = widgets.IntProgress(0, min=0, max=1, layout=widgets.Layout(width="320px"))
        self.progress.add_class("tw-progress")
        self.status = widgets.Label("", layout=widgets.Layout(flex="1 1 16em"))
        self.status.add_class("tw-progress-label")
        self.chart_box = LazyFigure(_training_chart)
        self.future = None
        self._metric = "accuracy"  # the epoch metric drawn beside the loss: "mae" for regression
        self._drawn, self._drawn_epochs, self._ema, self._steps, self._smoothed = 0, 0, 0.0, [], []
        self._lock = threading.Lock()
        super().__init__(session, [
            widgets.HBox([labelled("Epochs", self.epochs, "60px"), labelled("Batch size", self.batch_size, "80px")]),
            widgets.HBox([self.jit_compile, self.mixed_precision]), note,
            widgets.HBox([self.train, self.stop, self.reset]),
            widgets.HBox([self.progress, self.status], layout=widgets.Layout(flex_flow="row wrap", align_items="center")),
            self.chart_box,
        ])
        self.train.on_click(lambda _: self.start())
        self.stop.on_click(lambda _: session.stop())
        self.reset.on_click(lambda _: self.start_over())
        session.observe(self._on_progress, names=["progress"])
        session.observe(self._on_training, names=["training"])
        self.bind(self.batch_size, ["batch_size"], lambda: session.batch_size, session.set_batch_size)
        session.observe(self._show_readiness, names=["model", "train_data"])
        self._show_readiness()

    def _show_readiness(self, change=None):
        """Before the first fit, the status line says what is missing, or that Train will work."""
        if self.session.training or self.session.runs:
            return
        if self.session.backbone is None:
            self.status.value = "Load a model (Model panel), set data (Data panel), then click Train."
        elif self.session.train_data is None:
            self.status.value = "Set data (Data panel), then click Train."
        else:
            self.status.value = f"Ready: {len(self.session.train_data)} training examples. Click Train."

    def start_over(self):
        """The Reset button: `session.reset()`, and how long it took."""
        started = time.perf_counter()
        if self.attempt(self.session.reset) is not None:
            self.status.value = (f"Reset in {time.perf_counter() - started:.2f}s: the pretrained weights and the head's "
                                 "starting weights are back. Data, freeze plan, optimizer and runs are kept.")

    @property
    def chart(self):
        """The live chart's FigureWidget (built on first use)."""
        return self.chart_box.figure

    def start(self):
        """Train in the background with the panel's epochs and batch size."""
        future = self.attempt(self.session.fit, epochs=self.epochs.value, batch_size=self.batch_size.value,
                              callbacks=self.callbacks, background=True, jit_compile=self.jit_compile.value,
                              mixed_precision=self.mixed_precision.value)
        if future is not None:
            self.future = future
        return future

    def _on_training(self, change):
        """Buttons follow the session; a message about the last fit ("A fit is running", the
        previous run's failure) goes when a fit starts or ends, replaced by the new run's outcome."""
        running = change["new"]
        self.train.disabled, self.stop.disabled, self.reset.disabled = running, not running, running
        if running:
            self.show_error("")
            # The bar and line start over: until the new fit reports, they would show the last one's end.
            self.progress.value, self.status.value = 0, "Starting: preparing the fit..."
            self._reset()
        else:
            self.show_error(_outcome(self.session.runs[-1]) if self.session.runs else "")

    def _reset(self):
        with self._lock, self.chart.batch_update():
            self._drawn, self._drawn_epochs, self._ema, self._steps, self._smoothed = 0, 0, 0.0, [], []
            for trace in self.chart.data:
                trace.x, trace.y = [], []
            self._metric = task_named(self.session.task).chart_metric
            label = {"mae": "MAE", "accuracy": "accuracy"}[self._metric]
            self.chart.data[3].name, self.chart.data[4].name = f"train {label}", f"validation {label}"

    def _on_progress(self, change):
        progress = change["new"]
        if not progress or not self.session.runs:
            return
        run = self.session.runs[-1]
        total = max(progress["total_steps"], 1)
        self.progress.max, self.progress.value = total, progress["step"]
        if progress["status"] == "caching":
            self.status.value = f"caching the frozen layers' outputs: {progress['step']}/{total} examples"
            return
        eta = progress.get("eta")
        self.status.value = (f"step {progress['step']}/{total} · epoch {min(progress['epoch'] + 1, progress['epochs'])}"
                             f"/{progress['epochs']}" + (f" · ETA {eta:.0f}s" if eta is not None and progress["status"] == "running"
                                                         else f" · {progress['status']} in {progress['elapsed']:.1f}s")
                             + (f" ({run.ended_early})" if run.ended_early and progress["status"] != "running" else ""))
        self._draw(run)

    def _draw(self, run):
        with self._lock:
            new = run.batches[self._drawn:]
            if not new and len(run.epochs) == self._drawn_epochs:
                return
            for row in new:
                if row.get("loss") is None:  # a run record keeps no NaN: a missing loss is not drawn
                    continue
                self._ema = SMOOTHING * self._ema + (1 - SMOOTHING) * row["loss"]
                self._steps.append(row["step"])
                self._smoothed.append(self._ema / (1 - SMOOTHING ** row["step"]))
            self._drawn, self._drawn_epochs = self._drawn + len(new), len(run.epochs)
            keep = thinned(len(self._steps), MAX_POINTS)
            rows = [run.epochs[i] for i in thinned(len(run.epochs), MAX_POINTS)]
            with self.chart.batch_update():
                batch = self.chart.data[0]
                batch.x, batch.y = [self._steps[i] for i in keep], [self._smoothed[i] for i in keep]
                mode = "lines+markers" if len(rows) <= MAX_MARKERS else "lines"
                keys = ("loss", "val_loss", self._metric, f"val_{self._metric}")
                for trace, key in zip(self.chart.data[1:], keys):
                    trace.x, trace.y = [row["epoch"] + 1 for row in rows], [row.get(key) for row in rows]
                    trace.mode = mode


def _training_chart():
    chart = go.FigureWidget(make_subplots(rows=1, cols=2, subplot_titles=("loss per batch", "per epoch")))
    chart.add_class("tw-train-chart")
    for name, col, dash in (("batch loss (smoothed)", 1, None), ("train loss", 2, None),
                            ("validation loss", 2, "dash"), ("train accuracy", 2, None),
                            ("validation accuracy", 2, "dash")):
        chart.add_trace(go.Scatter(x=[], y=[], mode="lines+markers" if col == 2 else "lines", name=name,
                                   line={"dash": dash}), row=1, col=col)
    chart.update_layout(height=300, margin={"l": 40, "r": 10, "t": 30, "b": 30},
                        legend={"orientation": "h", "y": -0.2})
    chart.update_xaxes(title_text="step", row=1, col=1)
    chart.update_xaxes(title_text="epoch", row=1, col=2)
    return chart


def _outcome(run):
    """What the panel says about a run that ended: why it failed or diverged, else nothing."""
    if run.status == "diverged":
        return run.error
    if run.status == "failed":
        return f"Training failed: {run.error}"
    return ""
