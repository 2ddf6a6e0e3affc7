"""A request budget shared by every process (web, workers): at most `limit` requests in each fixed
window of `period` seconds. In Redis when REDIS_URL is set (one INCR per request), else in the
database (one conditional UPDATE per request on a `RequestWindow` row).

Fixed windows, because that is how Wazzup counts (its counter resets every 5 seconds).
"""

import time
from functools import cache

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F

from integrations.models import RequestWindow


@cache
def _redis(url: str):
    import redis

    return redis.Redis.from_url(url)


def request_slot_acquire(
    *, name: str, limit: int, period: int, clock=time.time, sleep=time.sleep
) -> None:
    """Block until one more request fits in the current window of `name`, and count it."""
    while True:
        now = clock()
        window = int(now // period) * period
        if _take(name=name, window=window, limit=limit, period=period):
            return
        sleep(max(window + period - now, 0.001))


def _take(*, name: str, window: int, limit: int, period: int) -> bool:
    if settings.REDIS_URL:
        client = _redis(settings.REDIS_URL)
        key = f"switchboard:rate:{name}:{window}"
        with client.pipeline() as pipe:
            count, _ = pipe.incr(key).expire(key, period * 2).execute()
        return count <= limit
    return _take_in_database(name=name, window=window, limit=limit)


def _take_in_database(*, name: str, window: int, limit: int) -> bool:
    rows = RequestWindow.objects.filter(name=name)
    if rows.filter(window=window, count__lt=limit).update(count=F("count") + 1):
        return True
    if rows.filter(window__lt=window).update(window=window, count=1):
        return True
    if rows.exists():
        return False  # this window's budget is spent
    try:
        with transaction.atomic():
            RequestWindow.objects.create(name=name, window=window, count=1)
        return True
    except IntegrityError:
        return _take_in_database(name=name, window=window, limit=limit)
