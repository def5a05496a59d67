"""Run calls at the same moment in threads (concurrency tests): a barrier releases them together."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence


def run_at_once(calls: Sequence[Callable[[], object]], timeout: float = 60) -> list[BaseException]:
    """Start every call in its own thread, release them together, wait for all; return what they raised."""
    barrier = threading.Barrier(len(calls))
    errors: list[BaseException] = []

    def run(call: Callable[[], object]) -> None:
        try:
            barrier.wait(timeout=timeout)
            call()
        except BaseException as err:  # collected for the test to assert on
            errors.append(err)

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    assert not any(thread.is_alive() for thread in threads), "a call did not finish in time"
    return errors
