"""How much to freeze, from the data: a short probing fit with everything trainable, its layer
signals read per block, and the deepest cut below which the blocks barely learn.

"Barely learns" is measured by each block's share of the loss's fall during the probe: at each
sampled step, −⟨gradient, update⟩ on a fixed held-out batch is how much that block's update lowered
the loss, to first order (see `training/signals.py`), summed over the probe's second half. A block
under a third of the best backbone block's share (or 2 % of the whole) does little of the
learning however far its weights move (Adam moves every weight at about the rate, so distance
says little). On a model whose lower blocks see only noise they get 2-17 %, the block that sees
the signal 64 % (tests/core/test_suggest.py). Freezing the blocks below
the cut saves their backward pass, and with the feature cache their forward pass too: the
estimate is the cache pass, timed as the cache is built for the proposal, counted three times
(forward and backward) per epoch. The weights and the plan are put back afterwards, as the sweep
does, and the cache built is the one the next fit of the proposal uses.
"""

import dataclasses

from ..models.snapshot import WeightSnapshot
from ..training import jobs
from ..training.signals import LayerSignals
from ..validation import whole_number
from .groups import groups

RELATIVE = 1 / 3  # a block barely learns below this share of the best backbone block's
ABSOLUTE = 0.02  # or below this share of the whole fall of the loss
SAMPLES = 16  # about this many sampled steps per probe


@dataclasses.dataclass(frozen=True)
class FreezeSuggestion:
    """A proposed plan: `frozen` (layer names; apply with `session.set_frozen(s.frozen)`), the
    last frozen block (`cut`, None for nothing frozen), each block's share of the probe's loss fall
    (bottom to top), the estimated seconds saved per epoch, the reason in plain words, and the
    probe's run id."""

    frozen: tuple
    cut: str | None
    shares: tuple  # ((block, share), ...)
    seconds_saved: float | None
    reason: str
    run_id: str

    def __repr__(self):
        return f"FreezeSuggestion(cut={self.cut!r}, {len(self.frozen)} layers frozen: {self.reason})"


def suggest_freeze(session, epochs=1, *, batch_size=None, seed=0, background=False):
    """Propose how much to freeze from a probing fit of `epochs` with every layer trainable (see
    the module docstring). Returns a FreezeSuggestion (a Future of it with background=True), also
    kept in `session.freeze_suggestion` (the layer map shows it) until it is dismissed (set to None);
    the weights and plan are put back. `Session.suggest_freeze` is this function."""
    batch_size = session.check_ready(batch_size)
    epochs = whole_number("suggest_freeze: epochs", epochs)

    def job():
        model, plan = session.model, session.plan
        start = WeightSnapshot.of(model)
        steps = -(-len(session.train_data) // batch_size) * epochs
        probe = LayerSignals(every=max(1, steps // SAMPLES), cost_share=None)
        try:
            session.set_frozen(())
            run = session.fit(epochs, batch_size, seed=seed, callbacks=[probe], tags={"purpose": "suggest_freeze"})
            shares = block_shares(session.layers, run.layer_signals)
            cut, frozen = deepest_cut(session.layers, shares)
            start.restore(model)
            seconds = _seconds_saved(session, frozen, batch_size) if frozen else 0.0
        finally:
            start.restore(model)
            session.set_frozen(plan.frozen)
        session.freeze_suggestion = FreezeSuggestion(frozen, cut, tuple(shares.items()), seconds,
                                                     _reason(shares, cut, seconds, run), run.run_id)
        return session.freeze_suggestion

    return jobs.run(job, background, "suggest")


def block_shares(layers, signals):
    """{block: share of the summed descent} for the blocks holding weights, bottom to top, over the
    probe's second half: early on, while the new head is random, every block lowers the loss by
    quieting what does not help, which says nothing of what it can learn."""
    index = {name: i for i, name in enumerate(signals["layers"])}
    samples = signals["samples"][len(signals["samples"]) // 2:]  # the first half: every block helps the new head
    totals = {}
    for block, members in groups(layers):
        columns = [index[layers[i].name] for i in members if layers[i].name in index]
        totals[block] = sum(sample["descent"][c] or 0.0 for sample in samples for c in columns)
    whole = sum(max(value, 0.0) for value in totals.values())
    if whole <= 0:  # the held-out loss did not fall: nothing to tell the blocks apart by
        return {}
    return {block: max(value, 0.0) / whole for block, value in totals.items()}


def deepest_cut(layers, shares):
    """(last block frozen or None, frozen layer names): every block from the bottom up to the
    first that learns, the head never; nothing without shares (the loss did not fall)."""
    blocks = list(shares)[:-1]  # the top group is the head
    best = max((shares[block] for block in blocks), default=0.0)
    cut = None
    for block in blocks:
        if shares[block] >= max(RELATIVE * best, ABSOLUTE):
            break
        cut = block
    if cut is None:
        return None, ()
    last = max(row.index for row in layers if row.block == cut)
    return cut, tuple(row.name for row in layers[:last + 1])


def _seconds_saved(session, frozen, batch_size):
    """The frozen part's cache pass over the training data, three times (forward, backward), per
    epoch; None when the cache cannot take that prefix. Builds the cache the next fit reuses."""
    session.set_frozen(frozen)
    _, _, _, info = session.feature_cache.prepare(session.model, session.plan, session.encoded, batch_size)
    if not info.get("used"):
        return None
    train, validation = len(session.train_data), len(session.validation_data)
    return 3 * info["seconds"] * train / (train + validation)


def _reason(shares, cut, seconds, run):
    steps = len(run.batches)
    if not shares:
        return (f"In a {steps}-step probe with every layer training, the held-out loss did not fall, so no block can "
                f"be told to learn more than another: freeze nothing yet. Lower the learning rate or probe longer "
                f"(epochs=...), or use sweep_freeze.")
    ranked = ", ".join(f"{block} {share:.0%}" for block, share in shares.items())
    if cut is None:
        return (f"In a {steps}-step probe every block below the head lowered the loss (shares of its fall: {ranked}): "
                f"freeze nothing, or use sweep_freeze to weigh the time.")
    saved = f" Freezing them saves about {seconds:.1f} s an epoch (measured by the cache)." if seconds else ""
    return (f"In a {steps}-step probe with every layer training, the blocks up to {cut} barely lowered the loss "
            f"(shares of its fall: {ranked}): they learn little here, so freeze up to {cut}.{saved}")
