"""One fresh process's first fit, as notebook 02 runs it, for the start-up cases of run.py:

    python benchmarks/first_fit.py CACHE_FOLDER|off [--quick] [--warm]

Prints one JSON line: seconds from before `import tune_widgets` to the first fit done, the fit
alone, its cache pass (and whether the disk cache held the features); with --warm, the same fit
again in this now warm process, on a second session without the disk cache (a fresh pass). A
fit is done when the session is idle, as the Train button sees it (the final weight save follows).
"""

import json
import sys
import time

started = time.perf_counter()

import tune_widgets as tw  # noqa: E402

imported = time.perf_counter() - started


def first_fit(folder, quick):
    """Notebook 02's session and its Train click: (seconds until the session is idle, when, run)."""
    session = tw.Session(feature_cache_dir=None if folder == "off" else folder)
    session.load_model(tw.minilm_folder(), sequence_length=48 if quick else 64)
    session.set_data(tw.load_tweets(n=120 if quick else 1300, seed=0), validation=0.25, batch_size=16 if quick else 32)
    session.freeze_to("transformer_layer_5")
    session.set_optimizer(learning_rate=5e-3)
    idle = []
    session.observe(lambda change: idle.append(time.perf_counter()) if not change["new"] else None, names=["training"])
    fit_started = time.perf_counter()
    run = session.fit(epochs=1 if quick else 5)
    return idle[0] - fit_started, idle[0], run


def main(argv):
    folder, quick, warm = argv[0], "--quick" in argv, "--warm" in argv
    fit_seconds, done, run = first_fit(folder, quick)
    result = {"import_seconds": imported, "cold_seconds": done - started, "fit_seconds": fit_seconds,
              "pass_seconds": run.config["cache"].get("seconds"), "disk": run.config["cache"].get("disk")}
    if warm:
        result["warm_fit_seconds"], *_ = first_fit("off", quick)
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
