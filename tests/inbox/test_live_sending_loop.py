"""Events published from code that is not async (a webhook drain, a send) go out through one
event loop per process, so the channel layer's Redis connection is made once, not per flush."""

import pytest
import redis
from django.conf import settings

from messaging import live

pytestmark = pytest.mark.skipif(
    not live._layer_is_shared(), reason="the in-memory layer has no connection to keep"
)


def connections_made() -> int:
    return redis.Redis.from_url(settings.REDIS_URL).info("stats")["total_connections_received"]


def test_flushes_reuse_one_loop_and_one_connection():
    live.live_group_send([("inbox.test-loop", {"type": "conversation", "id": 1})])
    loop = live._sending_loop()
    before = connections_made()
    for n in range(10):
        live.live_group_send([("inbox.test-loop", {"type": "conversation", "id": n})])
    # connections_made() itself connects once per call
    assert connections_made() - before <= 1
    assert live._sending_loop() is loop and loop.is_running()


def test_a_forked_child_starts_its_own_loop(monkeypatch):
    loop = live._sending_loop()
    monkeypatch.setattr(live, "_sender", live._sender)  # the parent's loop is back after
    monkeypatch.setattr(live.os, "getpid", lambda: -1)
    child = live._sending_loop()
    assert child is not loop and child.is_running()
    child.call_soon_threadsafe(child.stop)
