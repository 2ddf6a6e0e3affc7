"""A drain batch's statuses are applied together, with exactly the outcome of one at a time."""

import json
import random
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from crm.models import Contact
from messaging.models import Channel, Conversation, Message, PendingStatus, WebhookEvent
from messaging.providers.base import ErrorInfo, StatusUpdate
from messaging.services import webhook_event_store, webhook_events_drain
from messaging.services.statuses import status_apply
from messaging.services.statuses_batch import statuses_apply
from tests.concurrency import run_at_once

from .conftest import PHONE_NUMBER_ID, sign, status_body

pytestmark = pytest.mark.django_db

FIELDS = (
    "status",
    "sent_at",
    "delivered_at",
    "read_at",
    "failed_at",
    "error_code",
    "error_title",
    "error_detail",
)
T0 = datetime(2026, 7, 14, 10, 0, tzinfo=UTC)
STARTS = ["queued", "sending", "unknown", "sent", "delivered"]
KINDS = ["sent", "delivered", "read", "failed", "deleted"]  # "deleted": not a delivery status


def outbound(channel, conversation, wamid, status="sent"):
    return Message.objects.create(
        channel=channel,
        conversation=conversation,
        direction=Message.Direction.OUTBOUND,
        provider_message_id=wamid,
        type="text",
        text="Hi!",
        status=status,
    )


def update(wamid, status, seconds, *, code=None):
    errors = [ErrorInfo(code, f"error {code}", "details")] if code else []
    return StatusUpdate(
        provider_message_id=wamid,
        channel_external_id=PHONE_NUMBER_ID,
        status=status,
        timestamp=T0 + timedelta(seconds=seconds),
        errors=errors,
    )


@pytest.fixture
def twin(wa_channel):
    """A second channel on the same account, with a conversation of its own."""
    other = Channel.objects.create(
        name="Twin",
        account=wa_channel.account,
        provider=wa_channel.provider,
        external_id="999000111",
        display_number="+15550199000",
    )
    return other


def rows(channel):
    return {
        m["provider_message_id"]: tuple(m[f] for f in FIELDS)
        for m in Message.objects.filter(channel=channel).values("provider_message_id", *FIELDS)
    }


def test_a_batch_ends_exactly_where_one_status_at_a_time_ends(wa_channel, twin):
    """Random histories (repeats, steps back, failures, late arrivals) played both ways."""
    contact = Contact.objects.create(name="Ada", phone="+393331112233")
    one = Conversation.objects.create(channel=wa_channel, contact=contact)
    other = Conversation.objects.create(channel=twin, contact=contact)
    rng = random.Random(20261204)
    history = []
    for i in range(60):
        wamid = f"wamid.batch{i}"
        start = rng.choice(STARTS)
        outbound(wa_channel, one, wamid, start)
        outbound(twin, other, wamid, start)
        for _ in range(rng.randint(1, 6)):
            kind = rng.choice(KINDS)
            code = rng.choice([131026, 131049, None]) if kind == "failed" else None
            history.append(update(wamid, kind, rng.randint(0, 600), code=code))
    rng.shuffle(history)

    before = rows(twin)
    for each in history:
        status_apply(channel=wa_channel, update=each)
    moved = statuses_apply([(twin, each) for each in history])

    after = rows(twin)
    assert after == rows(wa_channel)
    assert moved == sum(1 for wamid, row in after.items() if row != before[wamid])
    assert moved > 30  # the histories do move most messages: the comparison is not vacuous
    one.refresh_from_db()
    other.refresh_from_db()
    assert other.last_message_status == one.last_message_status != ""


def test_a_read_without_delivered_fills_both_times_and_a_late_sent_changes_nothing(
    wa_channel, twin
):
    contact = Contact.objects.create(name="Ada", phone="+393331112233")
    message = outbound(
        wa_channel, Conversation.objects.create(channel=wa_channel, contact=contact), "w1"
    )
    statuses_apply(
        [
            (wa_channel, update("w1", "read", 30)),
            (wa_channel, update("w1", "delivered", 20)),
            (wa_channel, update("w1", "sent", 10)),
        ]
    )
    message.refresh_from_db()
    assert message.status == "read"
    assert message.delivered_at == message.read_at == T0 + timedelta(seconds=30)
    assert message.conversation.last_message_status == "read"


def test_statuses_for_messages_not_stored_yet_are_kept_and_applied_later(wa_channel):
    contact = Contact.objects.create(name="Ada", phone="+393331112233")
    conversation = Conversation.objects.create(channel=wa_channel, contact=contact)
    known = outbound(wa_channel, conversation, "known")
    statuses_apply(
        [
            (wa_channel, update("early", "delivered", 5)),
            (wa_channel, update("known", "delivered", 5)),
            (wa_channel, update("early", "read", 9)),
        ]
    )
    assert set(PendingStatus.objects.values_list("provider_message_id", "status")) == {
        ("early", "delivered"),
        ("early", "read"),
    }
    known.refresh_from_db()
    assert known.status == "delivered"


def store_statuses(account, wamids, status):
    with mock.patch("messaging.services.inbound.task_wake"):
        for seconds, wamid in enumerate(wamids):
            body = json.dumps(status_body(wamid, status, timestamp=str(1752489400 + seconds)))
            webhook_event_store(
                provider="whatsapp_cloud",
                account=account,
                body=body.encode(),
                headers={"x-hub-signature-256": sign(body.encode())},
            )


def drain_queries(account, channel, conversation, count, tag):
    wamids = [f"wamid.{tag}{i}" for i in range(count)]
    for wamid in wamids:
        outbound(channel, conversation, wamid)
    store_statuses(account, wamids, "delivered")
    with CaptureQueriesContext(connection) as queries:
        assert webhook_events_drain(batch_size=count) == count
    assert set(
        Message.objects.filter(provider_message_id__in=wamids).values_list("status", flat=True)
    ) == {"delivered"}
    return len(queries)


def test_a_drain_applies_a_batch_of_statuses_in_the_same_statements_at_any_size(
    wa_account, wa_channel
):
    contact = Contact.objects.create(name="Ada", phone="+393331112233")
    conversation = Conversation.objects.create(channel=wa_channel, contact=contact)
    few = drain_queries(wa_account, wa_channel, conversation, 5, "few")
    many = drain_queries(wa_account, wa_channel, conversation, 50, "many")
    assert few == many
    assert set(WebhookEvent.objects.values_list("state", flat=True)) == {"processed"}


def test_when_the_batch_fails_together_each_status_is_applied_alone(wa_account, wa_channel):
    contact = Contact.objects.create(name="Ada", phone="+393331112233")
    conversation = Conversation.objects.create(channel=wa_channel, contact=contact)
    for wamid in ("a", "b", "c"):
        outbound(wa_channel, conversation, wamid)
    store_statuses(wa_account, ["a", "b", "c"], "read")
    real = status_apply

    def breaks_on_b(*, channel, update):
        if update.provider_message_id == "b":
            raise RuntimeError("b breaks")
        return real(channel=channel, update=update)

    with (
        mock.patch(
            "messaging.services.statuses_batch.statuses_apply",
            side_effect=RuntimeError("together"),
        ),
        mock.patch("messaging.services.statuses.status_apply", side_effect=breaks_on_b),
    ):
        assert webhook_events_drain() == 3
    assert dict(Message.objects.values_list("provider_message_id", "status")) == {
        "a": "read",
        "b": "sent",
        "c": "read",
    }
    failed = WebhookEvent.objects.get(state="failed")
    assert "b breaks" in failed.error
    assert WebhookEvent.objects.filter(state="processed").count() == 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_drains_on_the_same_messages_neither_deadlock_nor_step_back(wa_channel):
    contact = Contact.objects.create(name="Ada", phone="+393331112233")
    conversation = Conversation.objects.create(channel=wa_channel, contact=contact)
    wamids = [f"wamid.race{i}" for i in range(40)]
    for wamid in wamids:
        outbound(wa_channel, conversation, wamid)
    # One drain has the deliveries, the other the readings, in opposite orders of ids.
    batches = [
        [(wa_channel, update(w, "delivered", 10)) for w in wamids],
        [(wa_channel, update(w, "read", 20)) for w in reversed(wamids)],
    ]

    def work(index):
        for _ in range(5):
            with transaction.atomic():
                statuses_apply(batches[index])

    assert run_at_once(2, work) == []
    assert set(Message.objects.values_list("status", flat=True)) == {"read"}
    assert set(Message.objects.values_list("read_at", flat=True)) == {T0 + timedelta(seconds=20)}
