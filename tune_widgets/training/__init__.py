"""Training: one fit's lifecycle and every feature around `model.fit`, each a callback.

- `fit`: the Fit object: checks, run config, inputs, the run, its end.
- `callbacks`: the callback base, the order constants, CancelFit, the stop and record callbacks.
- `trainer`: one `model.fit` with the ordered callbacks; `fit_stage` names what failed.
- `progress`: the Progress value live views receive, and the throttled callback sending it.
- `divergence`: ending a run on a NaN or infinite loss, last good weights back.
- `cache`: the frozen prefix's outputs, computed once and reused.
- `optimizers`: the optimizer spec, schedules, per-layer rate scaling.
- `acceleration`, `distribute`, `jobs`: XLA and mixed precision, tf.distribute, background fits.
"""

from .callbacks import Callback, CancelFit, Order
from .progress import Progress
from .trainer import Trainer, fit_stage
from ..runs.record import RunRecord  # here before runs/record.py: remove in 0.2

__all__ = ["Callback", "CancelFit", "Order", "Progress", "RunRecord", "Trainer", "fit_stage"]
