"""Comparing runs as plain data: a summary row per run, the config fields that differ, and the
curves to overlay. The runs panel draws these; tests and cells can read them directly."""

import dataclasses
import json
import math
import time

METRICS = ("loss", "val_loss", "accuracy", "val_accuracy")
MEASURED = frozenset({"cache.seconds", "cache.bytes"})  # measurements a config carries: never "a difference"


def flatten(config, prefix=""):
    """{"optimizer.learning_rate": 0.001, ...}: nested dicts as dotted keys, other values whole."""
    flat = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def config_diff(configs):
    """{field: [its value in each config]} for the fields whose values differ, in the order
    the fields first appear; a field a config lacks reads None."""
    flats = [flatten(config) for config in configs]
    fields = list(dict.fromkeys(key for flat in flats for key in flat))
    return {field: [flat.get(field) for flat in flats] for field in fields
            if field not in MEASURED and len({_comparable(flat.get(field)) for flat in flats}) > 1}


def _comparable(value):
    return json.dumps(value, sort_keys=True, default=str)


@dataclasses.dataclass(frozen=True)
class Curve:
    """One metric of one run, per epoch. x counts on from the run it resumed, if any."""

    run_id: str
    metric: str
    x: tuple
    y: tuple  # None where the epoch has no finite value (a stopped epoch has no validation)


def overlay(runs, metrics=METRICS):
    """One Curve per run and metric, runs in the order given."""
    curves = []
    for run in runs:
        before = (run.config.get("resumed_from") or {}).get("epochs_before", 0)
        x = tuple(before + row["epoch"] + 1 for row in run.epochs)
        for metric in metrics:
            curves.append(Curve(run.run_id, metric, x, tuple(_finite(row.get(metric)) for row in run.epochs)))
    return curves


def _finite(value):
    return value if isinstance(value, (int, float)) and math.isfinite(value) else None


def best_epoch(run, metric="val_loss"):
    """The epoch row with the lowest finite `metric`, or None."""
    rows = [row for row in run.epochs if _finite(row.get(metric)) is not None]
    return min(rows, key=lambda row: row[metric]) if rows else None


def summary(run):
    """The runs table's row: id, start, status, freeze plan, optimizer and rate, epochs, best."""
    config = run.config
    optimizer = config.get("optimizer", {})
    rate = f"{optimizer.get('optimizer', '?')} @ {optimizer.get('learning_rate', float('nan')):g}"
    if optimizer.get("schedule", "constant") != "constant":
        rate += f" ({optimizer['schedule']})"
    best = best_epoch(run)
    if best is None:
        best_text = "—"
    else:
        accuracy = _finite(best.get("val_accuracy"))
        best_text = f"val_loss {best['val_loss']:.4f}" + (f" · acc {accuracy:.3f}" if accuracy is not None else "")
    purpose = config.get("purpose", "train")
    return {"run_id": run.run_id, "started": time.strftime("%Y-%m-%d %H:%M", time.localtime(run.started_at)),
            "status": run.status if purpose == "train" else f"{run.status} ({purpose})", "plan": config.get("plan_summary") or f"{len(config.get('frozen', []))} frozen",
            "optimizer": rate, "epochs": f"{len(run.epochs)}/{config.get('epochs', '?')}", "best": best_text}
