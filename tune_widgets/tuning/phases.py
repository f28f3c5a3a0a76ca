"""The loop that tools running several fits share (fine_tune's phases, the sweep's cut points):
one fit per step, in order, until a step does not complete or a stop is asked."""


def run_phases(session, steps, fit_step):
    """The RunRecords of `fit_step(index, step)` for each of `steps` in turn. `fit_step` sets its
    step up on `session`, fits and returns the run; the loop ends early when a run ends other
    than "completed" or `session.stop()` was called. Putting the session back is the caller's
    (in a `finally`), so it happens however the loop ends."""
    runs = []
    for index, step in enumerate(steps):
        if session.stop_requested:
            break
        run = fit_step(index, step)
        runs.append(run)
        if run.status != "completed":
            break
    return runs
