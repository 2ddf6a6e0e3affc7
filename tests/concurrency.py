"""Run work on several threads released at the same moment, each with its own connection."""

import threading

from django.db import connection


def run_at_once(count: int, work, *, timeout: float = 60) -> list[Exception]:
    """Call `work(index)` on `count` threads at once; returns the exceptions they raised."""
    barrier = threading.Barrier(count)
    errors = []

    def worker(index):
        try:
            barrier.wait(timeout=10)
            work(index)
        except Exception as exc:  # collected for the caller to assert on
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    return errors
