"""Gradual unfreezing: fastai's `fine_tune`, and ULMFiT's one block per epoch from the top.

fine_tune trains in phases, one fit each, through the session's public methods as a cell
would: set the phase's plan and optimizer spec, fit, go on unless the fit was stopped.

- "frozen": everything below the head frozen, at the given rate, for `frozen_epochs`;
- unfreeze="all": then the whole model for `epochs`, at half the rate, the lower blocks
  slower (`lowest` × the head's rate at the bottom, geometric between: fastai's
  `slice(lr / 100, lr)`);
- unfreeze="gradual": then one more block per epoch from the top, at the same rates, and
  once every block trains, the epochs left as one phase.

A phase is a fit because trainable flags change only between fits: a compiled train function
does not see them, and the frozen prefix the cache computes changes with them (each phase
caches the part still frozen, and nothing once everything trains). Each phase's run carries
config["phase"] = {"tool", "group", "index", "count", "name"}. The plan stays where the last
phase left it; the optimizer spec is put back as it was.
"""

import dataclasses
import uuid

from ..errors import ConfigError
from ..validation import whole_number
from ..training import jobs
from .groups import describe, frozen_below_top, groups
from .phases import run_phases
from .rates import spread

MODES = ("all", "gradual")


@dataclasses.dataclass(frozen=True)
class Phase:
    """One fit of a fine_tune: the layers frozen, the epochs, the optimizer spec."""

    name: str
    frozen: tuple
    epochs: int
    spec: object


def phases(layers, spec, epochs, frozen_epochs, unfreeze="all", learning_rate=None, lowest=0.01):
    """The phases of a fine_tune (see the module docstring), checked before anything runs."""
    epochs, frozen_epochs = whole_number("fine_tune: epochs", epochs), whole_number("fine_tune: frozen_epochs",
                                                                                   frozen_epochs, minimum=0)
    if unfreeze not in MODES:
        raise ConfigError(f"fine_tune: unfreeze must be 'all' (everything after the frozen epochs) or 'gradual' "
                          f"(one block per epoch from the top), got {unfreeze!r}.")
    found = groups(layers)
    if len(found) < 2:
        raise ConfigError("fine_tune needs a head and at least one block with weights below it: this model has "
                          f"{len(found)} group of layers with weights.")
    frozen_spec = spec.replace(layer_rates=()) if learning_rate is None else spec.replace(
        learning_rate=learning_rate, layer_rates=())
    unfrozen_spec = frozen_spec.replace(learning_rate=frozen_spec.learning_rate / 2,
                                        layer_rates=spread(layers, lowest))
    plan = [Phase("frozen: head only", frozen_below_top(layers, 1), frozen_epochs, frozen_spec)] if frozen_epochs else []
    if unfreeze == "all":
        return plan + [Phase("unfrozen: everything", (), epochs, unfrozen_spec)]
    for epoch in range(epochs):
        count = epoch + 2  # the head and one more block per epoch
        if count >= len(found):
            plan.append(Phase("unfrozen: everything", (), epochs - epoch, unfrozen_spec))
            break
        plan.append(Phase(f"unfrozen: {describe(count, found)}", frozen_below_top(layers, count), 1, unfrozen_spec))
    return plan


def fine_tune(session, epochs=1, frozen_epochs=1, *, unfreeze="all", learning_rate=None, lowest=0.01,
              batch_size=None, seed=None, callbacks=(), background=False):
    """fastai's fine_tune: `frozen_epochs` with everything below the head frozen, then
    `epochs` with the body unfrozen at half the rate, spread by `lowest` (see set_rates).
    unfreeze="gradual" unfreezes one block per epoch from the top instead. One run per
    phase, marked config["phase"]; the optimizer spec is put back afterwards. Returns the runs
    (a Future of them with background=True). `Session.fine_tune` is this function."""
    batch_size = session.check_ready(batch_size)
    planned = phases(session.layers, session.optimizer, epochs, frozen_epochs, unfreeze, learning_rate, lowest)
    group = uuid.uuid4().hex[:8]

    def fit_phase(index, phase):
        session.set_frozen(phase.frozen)
        session.set_optimizer(phase.spec)
        tags = {"phase": {"tool": "fine_tune", "group": group, "index": index, "count": len(planned),
                          "name": phase.name}}
        return session.fit(phase.epochs, batch_size, callbacks=list(callbacks), seed=seed, tags=tags)

    def job():
        original = session.optimizer
        try:
            return run_phases(session, planned, fit_phase)
        finally:
            session.set_optimizer(original)

    return jobs.run(job, background, "fine-tune")
