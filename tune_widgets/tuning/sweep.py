"""The freeze sweep: how much should I freeze? A short run per cut point, compared.

Each point is a freeze plan: by default the head alone, then the head and the top one, two and
three blocks; or `freeze_to` selectors (everything up to and including the selected layer
frozen). Every run starts from the same weights, restored bit for bit between points, with the
same seed; the weights and plan the session held are put back at the end. Points with a
frozen prefix train on its cached features, so the cheap points cost little. Each point's run
carries config["purpose"] == "sweep" and config["sweep"] = {"id", "index", "count", "label"}.
"""

import dataclasses
import statistics
import uuid

from ..errors import ConfigError, LayerSelectionError
from ..models.task import task_named
from ..models.snapshot import WeightSnapshot
from ..validation import whole_number
from ..training import jobs
from .groups import describe, frozen_below_top, groups
from .phases import run_phases

DEFAULT_POINTS = 4


@dataclasses.dataclass(frozen=True)
class SweepPoint:
    """One cut point's short run: what was frozen and trainable, and what it gave."""

    label: str
    frozen: tuple  # layer names, model order: apply with session.set_frozen(point.frozen)
    trainable_params: int
    value: float | None  # the metric after the last epoch (None if the run ended before one)
    seconds_per_epoch: float | None  # epochs after the first when there are several (the first traces the graph)
    cache_seconds: float  # the frozen prefix's cache pass, paid once per point (0 without cache)
    cached_layers: int
    status: str
    run_id: str


@dataclasses.dataclass(frozen=True)
class SweepResult:
    """Every point measured so far, in order; `ended`: "running", "completed" or "stopped"."""

    metric: str
    points: tuple
    count: int
    ended: str = "running"

    @property
    def lower_is_better(self):
        return is_lower_better(self.metric)

    @property
    def best(self):
        """The point with the best metric (None before any has one)."""
        scored = [point for point in self.points if point.value is not None]
        if not scored:
            return None
        pick = min if self.lower_is_better else max
        return pick(scored, key=lambda point: point.value)

    def __repr__(self):
        rows = "; ".join(f"{p.label}: {self.metric}={p.value:.3f}" if p.value is not None else f"{p.label}: -"
                         for p in self.points)
        return f"SweepResult({len(self.points)}/{self.count} points, {self.ended}; {rows})"


def is_lower_better(metric):
    return any(word in metric for word in ("loss", "error", "mae", "mse"))


def cut_points(session, points):
    """[(label, frozen names)] for `points` (see the module docstring); raises, naming the point,
    when one selects no layer."""
    layers = session.layers
    found = groups(layers)
    if points is None:
        counts = range(1, min(DEFAULT_POINTS, len(found)) + 1)
        return [(describe(count, found), frozen_below_top(layers, count)) for count in counts]
    if isinstance(points, (str, int)) or not hasattr(points, "__iter__"):
        raise ConfigError(f"points must be a list of freeze_to selectors (or None for the default cuts), "
                          f"got {points!r}.")
    points = list(points)
    if not points:
        raise ConfigError("points is empty: give at least one freeze_to selector, or None for the default cuts.")
    order = {row.name: row.index for row in layers}
    cuts = []
    for point in points:
        try:
            plan = session.plan_to(point)
        except (LayerSelectionError, ConfigError) as error:
            raise type(error)(f"Sweep point {point!r}: {error}") from None
        frozen = tuple(sorted(plan.frozen, key=order.get))
        if not any(row.params for row in layers if row.name not in plan.frozen):
            raise ConfigError(f"Sweep point {point!r} freezes every layer with weights: nothing would train. "
                              f"Choose a layer below the head.")
        cuts.append((f"frozen to {point}" if frozen else "nothing frozen", frozen))
    return cuts


def sweep_freeze(session, points=None, epochs=1, *, metric=None, batch_size=None, seed=0,
                 background=False):
    """A short run per freeze cut point (default: head only, then the top one, two and three
    blocks; or freeze_to selectors), each from the same starting weights, which are put back
    afterwards with the plan. Returns a SweepResult (a Future of it with background=True), also
    kept (growing) in `session.freeze_sweep`; apply its best plan with
    `set_frozen(result.best.frozen)`. metric=None compares the task's own: "val_accuracy", or
    "val_loss" (the MSE) for regression. `Session.sweep_freeze` is this function."""
    batch_size = session.check_ready(batch_size)
    epochs = whole_number("sweep_freeze: epochs", epochs)
    if metric is None:
        metric = task_named(session.task).sweep_metric
    if not isinstance(metric, str) or not metric:
        raise ConfigError(f"sweep_freeze: metric must be a metric's name like 'val_accuracy', got {metric!r}.")
    cuts = cut_points(session, points)
    sweep_id = uuid.uuid4().hex[:8]

    def job():
        model, plan = session.model, session.plan
        start = WeightSnapshot.of(model)
        result, ended = SweepResult(metric, (), len(cuts)), "failed"
        session.freeze_sweep = result

        def fit_point(index, cut):
            nonlocal result
            label, frozen = cut
            start.restore(model)
            session.set_frozen(frozen)
            tags = {"purpose": "sweep", "sweep": {"id": sweep_id, "index": index, "count": len(cuts), "label": label}}
            run = session.fit(epochs, batch_size, seed=seed, tags=tags)
            result = dataclasses.replace(result, points=(*result.points, measure(session, run, label, frozen, metric)))
            session.freeze_sweep = result
            return run

        try:
            run_phases(session, cuts, fit_point)
            done = len(result.points) == len(cuts) and all(p.status == "completed" for p in result.points)
            ended = "completed" if done else "stopped"
        finally:
            start.restore(model)
            session.set_frozen(plan.frozen)
            result = dataclasses.replace(result, ended=ended)
            session.freeze_sweep = result
        return result

    return jobs.run(job, background, "sweep")


def measure(session, run, label, frozen, metric):
    cache = run.config.get("cache", {})
    seconds = [row["seconds"] for row in run.epochs]
    seconds = seconds[1:] if len(seconds) > 1 else seconds
    value = run.final.get(metric)
    return SweepPoint(label, frozen, run.config["parameters"]["trainable"],
                      None if value is None else float(value),
                      statistics.fmean(seconds) if seconds else None,
                      float(cache.get("seconds", 0.0)) if cache.get("used") else 0.0,
                      int(cache.get("cached_layers", 0)), run.status, run.run_id)
