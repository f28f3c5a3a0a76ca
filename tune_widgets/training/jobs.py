"""Running work (a fit, a sweep) in the caller's thread or in a worker, so the kernel stays free."""

import concurrent.futures


def run(job, background, name):
    """job() now, or a Future of it computed in a worker thread (the kernel stays free)."""
    if not background:
        return job()
    executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"tune-widgets-{name}")
    future = executor.submit(job)
    executor.shutdown(wait=False)
    return future


def chain(future, then):
    """A Future of then(future.result()), settled when `future` is (its error passed on)."""
    chained = concurrent.futures.Future()

    def settle(done):
        try:
            chained.set_result(then(done.result()))
        except BaseException as error:  # noqa: BLE001 - whoever waits on `chained` gets it
            chained.set_exception(error)

    future.add_done_callback(settle)
    return chained
