"""Records of runs: plain data, JSON-ready, shared by the fit, the store and the panels."""

import dataclasses
import time
import uuid


@dataclasses.dataclass
class RunRecord:
    """What one fit did: its configuration, its metrics per batch and per epoch, its timing.

    Plain data (`to_dict` is JSON-ready), so runs can be compared, shown and saved.
    """

    config: dict
    run_id: str = dataclasses.field(default_factory=lambda: uuid.uuid4().hex[:8])
    started_at: float = dataclasses.field(default_factory=time.time)
    status: str = "running"  # running, completed, stopped, failed, diverged
    batches: list = dataclasses.field(default_factory=list)  # {"step", "epoch", metrics…, "time"}
    epochs: list = dataclasses.field(default_factory=list)  # {"epoch", metrics…, "val_…", "seconds"}
    total_steps: int = 0
    duration: float = 0.0
    error: str = ""
    ended_early: str = ""  # which plain Keras callback ended a completed run early (EarlyStopping), and when
    weights: str = ""  # "saving" from the run's end until its final weights are on disk, then "saved"; "" if none kept
    layer_signals: dict = dataclasses.field(default_factory=dict)  # see empty_signals and training/signals.py

    @property
    def final(self):
        """The last epoch's metrics, or {} before the first epoch ends."""
        return dict(self.epochs[-1]) if self.epochs else {}

    def to_dict(self):
        return dataclasses.asdict(self)

    def __repr__(self):
        final = ", ".join(f"{k}={v:.4g}" for k, v in self.final.items() if isinstance(v, float))
        return f"RunRecord({self.run_id}, {self.status}, {len(self.epochs)} epochs, {self.duration:.1f}s; {final})"


def thinned(count, limit):
    """At most `limit` evenly spaced indices of range(count), the last one always included:
    long runs keep their shape in a chart or a metrics file at a bounded size."""
    stride = max(1, -(-count // limit))
    return list(range(count - 1, -1, -stride))[::-1]


def empty_signals(names, parts=((), ())):
    """A run's `layer_signals` before its first sample (see training/signals.py): the top-level
    layer `names`, and the blocks' sublayers as `parts` (their paths, and each one's layer index).
    Each sample adds per layer "update_ratio", "weight_norm", "grad_norm" and "descent", and per
    sublayer "parts": {"update_ratio", "grad_norm"}; the end of the fit adds each layer's "drift"
    and "loaded_norm" (‖w₀‖) and each sublayer's "parts"["drift"]."""
    paths, owners = parts
    return {"layers": list(names), "parts": {"paths": list(paths), "owners": list(owners), "drift": None},
            "samples": [], "drift": None, "loaded_norm": None, "seconds": 0.0}
