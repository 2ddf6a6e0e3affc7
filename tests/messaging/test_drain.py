"""Stored webhook events reach the task cluster as batches drained by woken tasks."""

import json
from types import SimpleNamespace
from unittest import mock

import pytest
import redis
from django.db import connection

from crm.models import Contact
from messaging import queueing
from messaging.models import Conversation, Message, WebhookEvent
from messaging.services import inbound, webhook_event_store, webhook_events_drain
from tests.concurrency import run_at_once

from .conftest import inbound_body, sign

pytestmark = pytest.mark.django_db

REDIS_URL = "redis://127.0.0.1:6379/14"


def store(account, n, *, start=0):
    for i in range(start, start + n):
        message = {
            "id": f"wamid.drain{i}",
            "timestamp": "1752489300",
            "type": "text",
            "text": {"body": f"message {i}"},
        }
        body = json.dumps(inbound_body(message, wa_id=f"39333{i:07d}")).encode()
        webhook_event_store(
            provider="whatsapp_cloud",
            account=account,
            body=body,
            headers={"x-hub-signature-256": sign(body)},
        )


def test_a_drain_processes_every_pending_event_in_batches(wa_account, wa_channel):
    with mock.patch("messaging.services.inbound.task_wake"):
        store(wa_account, 7)
    assert WebhookEvent.objects.filter(state="pending").count() == 7

    assert webhook_events_drain(batch_size=3) == 7
    assert Message.objects.count() == 7
    assert set(WebhookEvent.objects.values_list("state", "attempts")) == {("processed", 1)}


def test_an_event_that_breaks_is_marked_failed_and_the_batch_goes_on(wa_account, wa_channel):
    with mock.patch("messaging.services.inbound.task_wake"):
        store(wa_account, 3)
    broken = WebhookEvent.objects.order_by("pk")[1]
    real = inbound._event_items

    def items(event):
        # A database error outside any item's savepoint: it breaks the batch's transaction.
        if event.pk == broken.pk:
            with connection.cursor() as cursor:
                cursor.execute("SELECT no_such_column FROM messaging_webhookevent")
        return real(event)

    with mock.patch("messaging.services.inbound._event_items", side_effect=items):
        assert webhook_events_drain() == 3
    broken.refresh_from_db()
    assert broken.state == "failed" and "no_such_column" in broken.error
    assert Message.objects.count() == 2


@pytest.fixture
def redis_cluster(settings, monkeypatch):
    connection = redis.Redis.from_url(REDIS_URL)
    try:
        connection.ping()
    except redis.ConnectionError:
        pytest.skip("needs Redis on 127.0.0.1:6379 (as .ci/run starts it)")
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": False, "redis": REDIS_URL, "name": "t"}
    # Its own database, whatever broker the suite was configured with.
    monkeypatch.setattr(queueing, "_broker", lambda: SimpleNamespace(connection=connection))
    connection.flushdb()
    yield connection
    connection.flushdb()


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(queueing.time, "monotonic", clock)
    monkeypatch.setattr(queueing, "_last_wake", {})
    return clock


def test_a_burst_of_events_wakes_one_drain_until_it_starts(redis_cluster, clock):
    with mock.patch.object(queueing, "task_enqueue") as enqueue:
        woken = [queueing.task_wake("x.drain", flag="events") for _ in range(50)]
        assert woken.count(True) == 1 and enqueue.call_count == 1
        queueing.task_wake_clear(flag="events")  # the drain starts and looks
        clock.now += queueing.WAKE_COALESCE_SECONDS
        assert queueing.task_wake("x.drain", flag="events") is True
        assert enqueue.call_count == 2


def test_a_process_asks_redis_once_per_coalescing_interval(redis_cluster, clock):
    with mock.patch.object(queueing, "task_enqueue"):
        queueing.task_wake("x.drain", flag="events")
        queueing.task_wake_clear(flag="events")
        clock.now += queueing.WAKE_COALESCE_SECONDS / 2
        # Within the interval the process does not even ask: the drain still to finish looking
        # (it lingers longer than the interval) will see what it stored.
        assert queueing.task_wake("x.drain", flag="events") is False
        assert redis_cluster.get("switchboard:t:wake:events") is None
        # The sweeper and a drain's call for help are never coalesced away.
        assert queueing.task_wake("x.drain", flag="events", coalesce=False) is True
    assert queueing.DRAIN_LINGER_SECONDS > queueing.WAKE_COALESCE_SECONDS


def test_a_drain_looks_again_after_lingering_and_finds_stragglers(
    redis_cluster, wa_account, wa_channel, monkeypatch
):
    with mock.patch("messaging.services.inbound.task_wake"):
        store(wa_account, 2)
    naps = []

    def nap(seconds):
        # An event stored while the drain lingers, by a process whose wake-up was coalesced.
        naps.append(seconds)
        if len(naps) == 1:
            with mock.patch("messaging.services.inbound.task_wake"):
                store(wa_account, 1, start=2)

    monkeypatch.setattr("messaging.services.inbound.time.sleep", nap)
    with mock.patch.object(queueing, "task_enqueue"):
        assert webhook_events_drain() == 3
    assert naps == [queueing.DRAIN_LINGER_SECONDS] * 2
    assert Message.objects.count() == 3


def test_a_lost_wake_up_expires(redis_cluster, clock):
    with mock.patch.object(queueing, "task_enqueue"):
        queueing.task_wake("x.drain", flag="events")
    ttl = redis_cluster.ttl("switchboard:t:wake:events")
    assert 0 < ttl <= queueing.WAKE_FLAG_SECONDS


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_drains_process_each_event_exactly_once(wa_account, wa_channel):
    with mock.patch("messaging.services.inbound.task_wake"):
        store(wa_account, 60)
    counts = []
    errors = run_at_once(3, lambda _: counts.append(webhook_events_drain(batch_size=5)))
    assert errors == []
    assert sum(counts) == 60
    assert Message.objects.count() == 60
    assert set(WebhookEvent.objects.values_list("state", "attempts")) == {("processed", 1)}


def stored_event(account, *, wamid, wa_id, text="hi", name="Giulia"):
    message = {"id": wamid, "timestamp": "1752489300", "type": "text", "text": {"body": text}}
    body = json.dumps(inbound_body(message, wa_id=wa_id, name=name)).encode()
    with mock.patch("messaging.services.inbound.task_wake"):
        webhook_event_store(provider="whatsapp_cloud", account=account, body=body, headers={})


def test_one_batch_with_a_new_sender_twice_makes_one_contact_conversation_and_ticket(
    wa_account, wa_channel
):
    from tickets.models import Ticket

    stored_event(wa_account, wamid="wamid.b1", wa_id="393335550001", text="first", name="Ada")
    stored_event(wa_account, wamid="wamid.b2", wa_id="393335550001", text="second")
    stored_event(wa_account, wamid="wamid.b3", wa_id="393335550002", text="other")
    assert webhook_events_drain() == 3

    ada = Contact.objects.get(phone="+393335550001")
    assert ada.name == "Ada" and ada.kind == "lead"
    assert Conversation.objects.filter(contact=ada).count() == 1
    ticket = Ticket.objects.get(contact=ada)
    # In arrival order: the first message is the description, the second a comment.
    assert ticket.description.endswith("first")
    assert [c.text for c in ticket.comments.all()] == ["second"]
    assert ticket.status == "customer_responded"
    assert Message.objects.count() == 3


def test_a_batch_skips_what_was_stored_before_and_flags_an_unreadable_sender(
    wa_account, wa_channel
):
    stored_event(wa_account, wamid="wamid.once", wa_id="393335550003")
    webhook_events_drain()
    # A redelivery with another body (so another event), a bad sender and a good message.
    stored_event(wa_account, wamid="wamid.once", wa_id="393335550003", text="again")
    stored_event(wa_account, wamid="wamid.bad", wa_id="12")
    stored_event(wa_account, wamid="wamid.good", wa_id="393335550004")
    assert webhook_events_drain() == 3

    states = dict(WebhookEvent.objects.values_list("body", "state"))
    assert sorted(states.values()) == ["failed", "processed", "processed", "processed"]
    failed = WebhookEvent.objects.get(state="failed")
    assert "PhoneNumberInvalid" in failed.error
    assert Message.objects.filter(provider_message_id="wamid.once").count() == 1
    assert Message.objects.get(provider_message_id="wamid.once").text == "hi"
    assert Message.objects.filter(provider_message_id="wamid.good").exists()
