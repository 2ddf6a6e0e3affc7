"""Enqueueing for the task cluster, cheap enough for the webhook path.

Each process keeps one broker (one Redis connection pool) instead of opening one per task. Work
that drains a table (stored webhook events) is woken, not enqueued per row:

- a flag in Redis (SET NX with a time to live) makes a burst of requests enqueue one drain; the
  drain clears the flag before it looks, so a row stored after its last look wakes the next one;
- each process asks Redis at most once per WAKE_COALESCE_SECONDS; a row it stores meanwhile was
  committed less than that after a wake-up whose drain has not yet finished looking, and a
  drain looks once more DRAIN_LINGER_SECONDS after it found nothing, so that row is seen;
- a lost wake-up (a worker dies, Redis restarts) expires with the flag, and the sweeper re-wakes.

With the ORM broker (one development machine) and inline tasks (tests), every wake enqueues.
"""

import logging
import time
from collections.abc import Callable
from functools import cache

from django.conf import settings
from django.db import transaction
from django_q.brokers import get_broker
from django_q.tasks import async_task

WAKE_FLAG_SECONDS = 30
WAKE_COALESCE_SECONDS = 0.1
DRAIN_LINGER_SECONDS = 0.25  # must exceed WAKE_COALESCE_SECONDS

_last_wake: dict[str, float] = {}

logger = logging.getLogger(__name__)


@cache
def _broker():
    return get_broker()


def task_enqueue(func: str, *args, **kwargs):
    return async_task(func, *args, broker=_broker(), **kwargs)


def after_commit(callback: Callable[[], object], *, what: str) -> None:
    """Hand work to the task cluster once the caller's rows are committed, best effort.

    What was committed (a stored webhook, a queued message) is the durable promise and the
    sweep re-drives it, so a broker that is down at this moment is logged, never raised: an
    error here would turn a stored event or a queued send into a 500 that invites a retry and
    a second send.
    """

    def run():
        try:
            callback()
        except Exception:
            logger.exception("%s: the task cluster was not reached; the sweep re-drives it", what)

    transaction.on_commit(run)


def _flag_key(name: str) -> str | None:
    conf = settings.Q_CLUSTER
    if conf.get("sync") or not conf.get("redis"):
        return None
    return f"switchboard:{conf['name']}:wake:{name}"


def task_wake(func: str, *args, flag: str, coalesce: bool = True) -> bool:
    """Enqueue `func(*args)` unless a run of it is already waiting to start. True if enqueued."""
    key = _flag_key(flag)
    if key is not None:
        now = time.monotonic()
        if coalesce and now - _last_wake.get(flag, float("-inf")) < WAKE_COALESCE_SECONDS:
            return False
        _last_wake[flag] = now
        if not _broker().connection.set(key, 1, nx=True, ex=WAKE_FLAG_SECONDS):
            return False
    task_enqueue(func, *args, group=flag)
    return True


def task_wake_helper(func: str, *, flag: str) -> bool:
    """A running drain that found a full batch asks for one more drain to share the work, so
    every worker of the cluster gets busy. Only with Redis: inline and ORM-broker runs stay
    single-file."""
    return _flag_key(flag) is not None and task_wake(func, flag=flag, coalesce=False)


def task_wake_clear(*, flag: str) -> None:
    """Called by the woken task before it looks for work."""
    key = _flag_key(flag)
    if key is not None:
        _broker().connection.delete(key)


def drain_linger_seconds(*, flag: str) -> float:
    """How long a drain waits for stragglers before it stops (see the module's docstring)."""
    return DRAIN_LINGER_SECONDS if _flag_key(flag) is not None else 0.0
