"""Enqueueing for the task cluster, cheap enough for the webhook path.

Each process keeps one broker (one Redis connection pool) instead of opening one per task. Work
that drains a table (stored webhook events) is woken, not enqueued per row: a flag in Redis
(SET NX with a time to live) makes a burst of a thousand requests enqueue one drain, and the
drain clears the flag before it looks, so a row stored after its last look wakes the next one.
If a wake-up is lost (a worker dies, Redis restarts), the flag expires and the sweeper re-wakes.
"""

from functools import cache

from django.conf import settings
from django_q.brokers import get_broker
from django_q.tasks import async_task

WAKE_FLAG_SECONDS = 30


@cache
def _broker():
    return get_broker()


def task_enqueue(func: str, *args, **kwargs):
    return async_task(func, *args, broker=_broker(), **kwargs)


def _flag_key(name: str) -> str | None:
    conf = settings.Q_CLUSTER
    # Inline tasks (tests) and the ORM broker (one dev machine) simply enqueue every time.
    if conf.get("sync") or not conf.get("redis"):
        return None
    return f"switchboard:{conf['name']}:wake:{name}"


def task_wake(func: str, *, flag: str) -> bool:
    """Enqueue `func` unless a run of it is already waiting to start. True if enqueued."""
    key = _flag_key(flag)
    if key is not None and not _broker().connection.set(key, 1, nx=True, ex=WAKE_FLAG_SECONDS):
        return False
    task_enqueue(func, group=flag)
    return True


def task_wake_helper(func: str, *, flag: str) -> bool:
    """A running drain that found a full batch asks for one more drain to share the work, so
    every worker of the cluster gets busy. Only with Redis: inline and ORM-broker runs stay
    single-file."""
    return _flag_key(flag) is not None and task_wake(func, flag=flag)


def task_wake_clear(*, flag: str) -> None:
    """Called by the woken task before it looks for work."""
    key = _flag_key(flag)
    if key is not None:
        _broker().connection.delete(key)
