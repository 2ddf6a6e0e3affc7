"""Items the database would refuse are refused by the parser: the item is flagged with its reason,
its neighbours are stored, and nothing is retried."""

import json
from datetime import timedelta
from unittest import mock

import pytest
import time_machine

from crm.models import Contact
from messaging.models import Message, WebhookEvent
from messaging.providers.base import InboundMessage, UnparsedItem
from messaging.providers.whatsapp_cloud_parse import parse_body
from messaging.services import (
    inbound,
    webhook_event_process,
    webhook_event_store,
    webhook_events_drain,
    webhook_events_requeue,
)

from .conftest import PHONE_NUMBER_ID, messages_envelope

pytestmark = pytest.mark.django_db

DEEP = "__deep__"


def text_message(wamid: str, text: str, **extra) -> dict:
    return {
        "from": "393351032246",
        "id": wamid,
        "timestamp": "1752489300",
        "type": "text",
        "text": {"body": text},
        **extra,
    }


def webhook(*messages: dict) -> bytes:
    """One webhook carrying `messages` in one change, as Meta batches them."""
    body = messages_envelope(
        contacts=[{"profile": {"name": "Giulia"}, "wa_id": "393351032246"}],
        messages=list(messages),
    )
    # The standard encoder cannot write 10,000 levels either: splice them in as text.
    return json.dumps(body).replace(f'"{DEEP}"', "[" * 10_000 + "]" * 10_000).encode()


BAD_ITEMS = {
    "a NUL in the message id": (
        text_message("wamid.bad\u0000id", "nul"),
        "id contains U+0000, a character the database cannot store",
    ),
    "a 5,000-character context.id": (
        text_message("wamid.badctx", "long reply", context={"from": "1", "id": "x" * 5000}),
        "context.id is 5000 characters long; an id has at most 128",
    ),
    "a body nested 10,000 deep": (
        text_message("wamid.baddeep", "deep", extra=DEEP),
        "nested deeper than 32 levels",
    ),
}


@pytest.fixture(params=list(BAD_ITEMS), ids=list(BAD_ITEMS))
def bad(request):
    return BAD_ITEMS[request.param]


def sandwich(bad_message: dict) -> bytes:
    return webhook(
        text_message("wamid.before", "before"), bad_message, text_message("wamid.after", "after")
    )


def store(account, body: bytes) -> int:
    with mock.patch("messaging.services.inbound.task_wake"):
        return webhook_event_store(
            provider="whatsapp_cloud", account=account, body=body, headers={}
        )


def test_the_parser_flags_the_bad_item_with_its_reason_and_reads_its_neighbours(bad):
    message, reason = bad
    items = parse_body(sandwich(message))
    assert [type(item) for item in items] == [InboundMessage, UnparsedItem, InboundMessage]
    assert [items[0].text, items[2].text] == ["before", "after"]
    assert reason in items[1].error
    assert items[1].channel_external_id == PHONE_NUMBER_ID


def test_the_deep_body_is_too_deep_for_the_json_parser_itself():
    with pytest.raises(RecursionError):
        json.loads(sandwich(BAD_ITEMS["a body nested 10,000 deep"][0]))


def test_the_reason_quotes_a_bad_id_short_and_storable():
    (item,) = parse_body(webhook(text_message("wamid.\u0000" + "y" * 300, "nul")))
    assert "\x00" not in item.error
    assert "wamid.\\u0000yyy" in item.error
    assert "(307 characters)" in item.error
    assert len(item.error) < 250


def test_a_drain_batch_stores_the_neighbours_and_flags_the_event_without_retrying(
    wa_account, wa_channel, bad
):
    message, reason = bad
    first = store(wa_account, webhook(text_message("wamid.first", "first event")))
    flagged = store(wa_account, sandwich(message))
    last = store(wa_account, webhook(text_message("wamid.last", "last event")))

    with mock.patch.object(inbound, "_event_process_alone") as one_by_one:
        assert webhook_events_drain() == 3
    one_by_one.assert_not_called()  # the batch did not fail

    texts = set(Message.objects.values_list("text", flat=True))
    assert texts == {"first event", "before", "after", "last event"}
    states = dict(WebhookEvent.objects.values_list("pk", "state"))
    assert states == {first: "processed", flagged: "flagged", last: "processed"}
    event = WebhookEvent.objects.get(pk=flagged)
    assert event.error.startswith("Unreadable item: Could not read message")
    assert reason in event.error
    assert event.attempts == 1

    with time_machine.travel(event.received_at + timedelta(hours=1)):
        assert webhook_events_requeue() == 0
    event.refresh_from_db()
    assert (event.state, event.attempts) == ("flagged", 1)


def test_processing_one_event_alone_stores_the_neighbours_and_flags_it(wa_account, wa_channel, bad):
    message, reason = bad
    event = webhook_event_process(event_id=store(wa_account, sandwich(message)))

    assert event.state == WebhookEvent.State.FLAGGED
    assert reason in event.error
    assert set(Message.objects.values_list("text", flat=True)) == {"before", "after"}
    assert webhook_events_requeue() == 0


def test_the_admin_lists_a_flagged_event_with_its_reason(admin_client, wa_account, wa_channel):
    message, reason = BAD_ITEMS["a 5,000-character context.id"]
    event = webhook_event_process(event_id=store(wa_account, sandwich(message)))

    listing = admin_client.get("/admin/messaging/webhookevent/?state=flagged").content.decode()
    assert f">{event.pk}<" in listing
    assert "Processed, some items unreadable" in listing
    page = admin_client.get(f"/admin/messaging/webhookevent/{event.pk}/change/").content.decode()
    assert reason in page


def test_an_item_failing_to_apply_still_fails_its_event_for_a_retry(wa_account):
    # No channel for this phone number id yet: that can be fixed, so it is retried.
    event = webhook_event_process(
        event_id=store(wa_account, webhook(text_message("wamid.x", "x"), {"id": "bad"}))
    )
    assert event.state == WebhookEvent.State.FAILED
    assert "No channel has the provider id" in event.error
    assert "Unreadable item" in event.error


@pytest.mark.parametrize("path", ["batch", "one by one"])
def test_a_bad_profile_name_is_cleaned_and_its_message_stored(wa_account, wa_channel, path):
    body = json.loads(webhook(text_message("wamid.named", "hello")))
    contact = body["entry"][0]["changes"][0]["value"]["contacts"][0]
    contact["profile"]["name"] = "Giu\u0000lia" + "a" * 5000
    event_id = store(wa_account, json.dumps(body).encode())

    if path == "batch":
        assert webhook_events_drain() == 1
    else:
        webhook_event_process(event_id=event_id)

    assert WebhookEvent.objects.get().state == "processed"
    assert Message.objects.get().text == "hello"
    name = Contact.objects.get().name
    assert name.startswith("Giulia") and len(name) == 200
