"""Tuning tools over a `Session`: the LR finder, discriminative rates, gradual unfreezing, the
freeze sweep. Each takes and returns plain data; the session delegates to them.

- `lr_find`: an exponential sweep of the rate during one fit (a callback), weights put back.
- `rates`: a rate multiplier per layer group, honoured by every optimizer through its updates.
- `unfreezing`: `fine_tune` in fastai's sense, and one block unfrozen per epoch from the top.
- `sweep`: a short run per freeze cut point from the same starting weights.
- `suggest`: a freeze plan proposed from the layer signals of one short probing fit.

`groups` says what a layer group is (a block with weights).
"""
