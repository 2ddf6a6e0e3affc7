"""A channel's delivery drain: batches, threads, order per conversation, once per message."""

import itertools
import json
import threading
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from crm.models import Contact, ContactAddress
from messaging.models import Channel, Conversation, Message
from messaging.services.delivery import channel_deliveries_drain
from messaging.services.outbound import channel_throttle_slot
from tests.concurrency import run_at_once

from .conftest import SEND_URL

pytestmark = pytest.mark.django_db


def queued(channel, conversations, count):
    """`count` queued texts, spread round robin over the conversations."""
    rows = [
        Message(
            channel=channel,
            conversation=conversation,
            direction=Message.Direction.OUTBOUND,
            type="text",
            text=f"{conversation.contact.phone} #{n}",
            status=Message.Status.QUEUED,
        )
        for n, conversation in zip(range(count), itertools.cycle(conversations), strict=False)
    ]
    return Message.objects.bulk_create(rows)


@pytest.fixture
def conversations(wa_channel):
    contacts = Contact.objects.bulk_create(
        [Contact(name=f"C{i}", phone=f"+3933300000{i:02d}") for i in range(5)]
    )
    now = timezone.now()
    return [
        Conversation.objects.create(channel=wa_channel, contact=c, last_inbound_at=now)
        for c in contacts
    ]


def answering(graph):
    """Meta's answer with a fresh id per send; returns the bodies it received, in order."""
    received = []
    counter = itertools.count()
    lock = threading.Lock()

    def callback(request):
        body = json.loads(request.body)
        with lock:
            received.append(body)
            number = next(counter)
        time.sleep(0.01)  # an answer takes a moment: the threads do overlap
        return 200, {}, json.dumps({"messages": [{"id": f"wamid.D{number}"}]})

    graph.add_callback("POST", SEND_URL, callback=callback)
    return received


def sent_texts_by_recipient(received):
    by_recipient = {}
    for body in received:
        by_recipient.setdefault(body["to"], []).append(body["text"]["body"])
    return by_recipient


def expected_by_recipient(messages):
    by_recipient = {}
    for message in sorted(messages, key=lambda m: m.pk):
        by_recipient.setdefault(message.conversation.contact.phone.lstrip("+"), []).append(
            message.text
        )
    return by_recipient


def test_a_drain_sends_every_due_message_of_its_channel_once_in_order(
    graph, wa_channel, conversations
):
    messages = queued(wa_channel, conversations, 12)
    later = queued(wa_channel, conversations[:1], 1)[0]
    Message.objects.filter(pk=later.pk).update(next_attempt_at=timezone.now() + timedelta(hours=1))
    received = answering(graph)

    assert channel_deliveries_drain(channel_id=wa_channel.pk, batch_size=5) == 12
    assert sent_texts_by_recipient(received) == expected_by_recipient(messages)
    assert set(Message.objects.exclude(pk=later.pk).values_list("status", flat=True)) == {"sent"}
    later.refresh_from_db()
    assert later.status == "queued"  # a retry not due yet waits for its time


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_threads_and_two_drains_send_each_message_once_and_each_conversation_in_order(
    graph, wa_channel, conversations, settings
):
    settings.OUTBOUND_SEND_THREADS = 4
    Channel.objects.filter(pk=wa_channel.pk).update(throughput_per_second=1000)
    messages = queued(wa_channel, conversations, 60)
    received = answering(graph)

    counts = []
    errors = run_at_once(
        2, lambda _: counts.append(channel_deliveries_drain(channel_id=wa_channel.pk, batch_size=7))
    )
    assert errors == []
    assert sum(counts) == 60
    assert len(received) == 60
    assert sent_texts_by_recipient(received) == expected_by_recipient(messages)
    assert Message.objects.filter(status="sent").count() == 60
    assert Message.objects.values("provider_message_id").distinct().count() == 60


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_throttle_shared_by_threads_gives_each_send_its_own_slot(wa_channel):
    Channel.objects.filter(pk=wa_channel.pk).update(throughput_per_second=40)
    slots = []
    lock = threading.Lock()

    def acquire(_):
        for _ in range(10):
            slot = channel_throttle_slot(channel=wa_channel)
            with lock:
                slots.append(slot)

    assert run_at_once(4, acquire) == []
    slots.sort()
    gaps = [b - a for a, b in itertools.pairwise(slots)]
    # 40 sends from four threads, each at its own slot 1/40 s after the previous one.
    assert len(slots) == 40
    assert min(gaps) == pytest.approx(1 / 40, abs=1e-6)
    assert max(sum(1 for t in slots if start <= t < start + 1) for start in slots) <= 40


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_threaded_answers_are_settled_like_one_at_a_time(
    graph, wa_channel, conversations, settings
):
    """Sent, retried after a 5xx, failed for good on a permanent error, refused without a call."""
    settings.OUTBOUND_SEND_THREADS = 4
    Channel.objects.filter(pk=wa_channel.pk).update(throughput_per_second=1000)
    ok, retried, refused, permanent = queued(wa_channel, conversations[:4], 4)
    ContactAddress.objects.create(
        contact=refused.conversation.contact,
        transport="whatsapp",
        address=refused.conversation.contact.phone,
        unreachable_at=timezone.now(),
        unreachable_reason="blocked",
    )

    def callback(request):
        to = json.loads(request.body)["to"]
        if to == retried.conversation.contact.phone.lstrip("+"):
            return 500, {}, json.dumps({"error": {"message": "boom", "code": 1}})
        if to == permanent.conversation.contact.phone.lstrip("+"):
            return 400, {}, json.dumps({"error": {"message": "bad number", "code": 131026}})
        return 200, {}, json.dumps({"messages": [{"id": "wamid.OK"}]})

    graph.add_callback("POST", SEND_URL, callback=callback)
    assert channel_deliveries_drain(channel_id=wa_channel.pk) == 4
    for message in (ok, retried, refused, permanent):
        message.refresh_from_db()
    assert (ok.status, ok.provider_message_id) == ("sent", "wamid.OK")
    assert retried.status == "queued" and retried.next_attempt_at > timezone.now()
    assert permanent.status == "failed" and permanent.error_code == 131026
    assert refused.status == "failed"
    assert len(graph.calls) == 3  # the refused one never reached the provider


def test_a_drain_gives_way_to_the_one_holding_the_channel(graph, wa_channel, conversations):
    queued(wa_channel, conversations, 3)
    Channel.objects.filter(pk=wa_channel.pk).update(
        delivery_lease_until=timezone.now() + timedelta(seconds=30)
    )
    assert channel_deliveries_drain(channel_id=wa_channel.pk) == 0
    assert Message.objects.filter(status="queued").count() == 3

    # A holder that died: its lease runs out and the next drain sends.
    Channel.objects.filter(pk=wa_channel.pk).update(
        delivery_lease_until=timezone.now() - timedelta(seconds=1)
    )
    answering(graph)
    assert channel_deliveries_drain(channel_id=wa_channel.pk) == 3
    assert Channel.objects.get(pk=wa_channel.pk).delivery_lease_until is None
