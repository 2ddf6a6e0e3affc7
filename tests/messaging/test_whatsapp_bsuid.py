"""WhatsApp usernames and business-scoped user ids (BSUIDs): read, sent to, and kept up to date
(meta-cloud-api.md section 4a)."""

import json
from datetime import timedelta

import pytest
import responses
from django.utils import timezone

from crm.addresses import Address, AddressTransport
from crm.models import Contact, ContactAddress
from crm.services import contact_get_or_create_by_addresses
from messaging.models import Conversation, Message, WebhookEvent
from messaging.providers.base import (
    AddressChange,
    InboundMessage,
    OutboundMessage,
    ProviderError,
    StatusUpdate,
    UnparsedItem,
)
from messaging.providers.whatsapp_cloud import WhatsAppCloudProvider, message_body
from messaging.providers.whatsapp_cloud_parse import NEEDS_PHONE_REASON, parse_body
from messaging.services import message_send_text

from .conftest import PHONE_NUMBER_ID, fixture_bytes, fixture_json, inbound_body

BSUID = "IT.1502576394655843"
PARENT = "IT.ENT.11815799212886844830"
PHONE = "393351032246"
OUT_WAMID = "wamid.HBgMVVNFUk5BTUUVAgASGBRPVVQxAA=="
SEND_URL = f"https://graph.facebook.com/v23.0/{PHONE_NUMBER_ID}/messages"
BSUID_T, PARENT_T, PHONE_T = (
    AddressTransport.WHATSAPP_BSUID,
    AddressTransport.WHATSAPP_PARENT_BSUID,
    AddressTransport.WHATSAPP,
)


def only(items, kind):
    assert len(items) == 1, items
    assert isinstance(items[0], kind), items[0]
    return items[0]


# Reading


def test_a_username_only_user_is_one_message_with_the_user_id_and_the_username():
    message = only(parse_body(fixture_bytes("inbound_text_username_only.json")), InboundMessage)
    assert message.sender == ""
    assert message.sender_name == "Giulia"
    assert message.sender_handle == "giulia.shop"
    assert message.addresses == (Address(BSUID_T, BSUID, "giulia.shop"),)
    assert message.text == "Ciao, è arrivato il mio ordine?"


def test_a_message_with_both_identifiers_carries_every_address():
    message = only(parse_body(fixture_bytes("inbound_text_bsuid_and_phone.json")), InboundMessage)
    assert message.sender == PHONE
    assert set(message.addresses) == {
        Address(BSUID_T, BSUID, "giulia.shop"),
        Address(PARENT_T, PARENT),
        Address(PHONE_T, PHONE),
    }


def test_a_parent_user_id_is_kept_beside_the_user_id():
    message = only(parse_body(fixture_bytes("inbound_text_parent_bsuid.json")), InboundMessage)
    assert message.addresses == (
        Address(BSUID_T, "IT.2209871234567"),
        Address(PARENT_T, PARENT),
    )


def test_a_user_id_where_the_phone_would_be_is_never_read_as_a_phone():
    body = inbound_body({"id": "wamid.X", "timestamp": "1", "type": "text", "text": {"body": "x"}})
    value = body["entry"][0]["changes"][0]["value"]
    value["messages"][0]["from"] = BSUID
    value["contacts"] = [{"profile": {"name": "Giulia"}, "user_id": BSUID}]
    message = only(parse_body(json.dumps(body).encode()), InboundMessage)
    assert message.sender == ""
    assert message.addresses == (Address(BSUID_T, BSUID),)


def test_a_message_with_no_sender_at_all_is_unparsed():
    body = inbound_body({"id": "wamid.X", "timestamp": "1", "type": "text", "text": {"body": "x"}})
    value = body["entry"][0]["changes"][0]["value"]
    del value["messages"][0]["from"]
    value["contacts"] = [{"profile": {"name": "Giulia"}}]
    item = only(parse_body(json.dumps(body).encode()), UnparsedItem)
    assert "from" in item.error


def test_a_status_with_the_user_id_only_is_read():
    body = fixture_bytes("status_delivered_recipient_user_id_only.json")
    status = only(parse_body(body), StatusUpdate)
    assert status.status == "delivered"
    assert status.recipient == ""
    assert status.recipient_addresses == (Address(BSUID_T, BSUID),)


def test_a_status_takes_the_user_id_from_the_payload_contacts():
    status = only(parse_body(fixture_bytes("status_read_with_contacts.json")), StatusUpdate)
    assert status.recipient == PHONE
    assert set(status.recipient_addresses) == {Address(BSUID_T, BSUID), Address(PHONE_T, PHONE)}


def test_a_user_id_update_is_an_address_change():
    change = only(parse_body(fixture_bytes("user_id_update.json")), AddressChange)
    assert (change.transport, change.old, change.new, change.phone) == (
        BSUID_T,
        BSUID,
        "IT.7730041188552290",
        PHONE,
    )
    assert change.channel_external_id == PHONE_NUMBER_ID


def test_a_user_id_update_in_a_shape_we_do_not_know_is_unparsed():
    body = fixture_json("user_id_update.json")
    body["entry"][0]["changes"][0]["value"]["user_id_update"] = [{"something": "else"}]
    item = only(parse_body(json.dumps(body).encode()), UnparsedItem)
    assert "user_id_update" in item.error


def test_a_user_changed_user_id_system_message_is_an_address_change():
    body = inbound_body({"id": "wamid.S", "timestamp": "1", "type": "system"})
    value = body["entry"][0]["changes"][0]["value"]
    message = value["messages"][0]
    del message["from"]
    message["from_user_id"] = BSUID
    message["system"] = {
        "body": "User changed their id",
        "type": "user_changed_user_id",
        "user_id": "IT.7730041188552290",
    }
    change = only(parse_body(json.dumps(body).encode()), AddressChange)
    assert (change.old, change.new) == (BSUID, "IT.7730041188552290")


# Sending


def outbound(to="", **addresses):
    return OutboundMessage(
        to=to,
        type="text",
        text="Ciao Giulia, il tuo ordine è in consegna.",
        recipient_addresses=addresses,
    )


def test_a_contact_without_a_phone_is_sent_to_by_user_id():
    body = message_body(outbound(**{BSUID_T: BSUID, PARENT_T: PARENT}))
    assert body == fixture_json("send_text_bsuid_request.json")


def test_the_parent_user_id_is_used_when_there_is_no_user_id():
    assert message_body(outbound(**{PARENT_T: PARENT}))["recipient"] == PARENT


def test_the_phone_wins_and_the_user_id_is_then_not_sent():
    body = message_body(outbound(to="+" + PHONE, **{BSUID_T: BSUID}))
    assert body["to"] == PHONE
    assert "recipient" not in body


def test_a_contact_with_neither_phone_nor_user_id_fails_for_good():
    with pytest.raises(ProviderError) as caught:
        message_body(outbound())
    assert caught.value.permanent
    assert caught.value.message == "No WhatsApp phone or user id for this contact."


def test_the_provider_sends_to_user_ids():
    assert set(WhatsAppCloudProvider.recipient_transports) == {BSUID_T, PARENT_T, PHONE_T}


@pytest.fixture
def graph():
    with responses.RequestsMock() as mocked:
        yield mocked


@pytest.fixture
def username_contact(db):
    contact, _ = contact_get_or_create_by_addresses(
        addresses=[Address(BSUID_T, BSUID, "giulia.shop")], name="Giulia"
    )
    return contact


@pytest.fixture
def window_open(wa_channel, username_contact):
    return Conversation.objects.create(
        channel=wa_channel,
        contact=username_contact,
        last_inbound_at=timezone.now() - timedelta(hours=1),
    )


def send(channel, contact, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        message = message_send_text(channel=channel, contact=contact, text="Ciao!")
    message.refresh_from_db()
    return message


@pytest.mark.django_db
def test_a_reply_to_a_username_contact_goes_out_with_recipient(
    graph, wa_channel, username_contact, window_open, django_capture_on_commit_callbacks
):
    graph.post(SEND_URL, json=fixture_json("send_bsuid_ok.json"))
    message = send(wa_channel, username_contact, django_capture_on_commit_callbacks)
    assert message.status == "sent"
    assert message.provider_message_id == OUT_WAMID
    sent = json.loads(graph.calls[-1].request.body)
    assert sent["recipient"] == BSUID
    assert "to" not in sent


@pytest.mark.django_db
def test_error_131062_on_send_fails_for_good_with_a_clear_reason(
    graph, wa_channel, username_contact, window_open, django_capture_on_commit_callbacks
):
    graph.post(SEND_URL, status=400, json=fixture_json("error_131062.json"))
    message = send(wa_channel, username_contact, django_capture_on_commit_callbacks)
    assert message.status == "failed"
    assert message.error_code == 131062
    assert NEEDS_PHONE_REASON in message.error_title
    assert len(graph.calls) == 1


# Through the webhook URL


@pytest.fixture
def sent_to_username(wa_channel, username_contact, window_open):
    def make(wamid=OUT_WAMID):
        return Message.objects.create(
            channel=wa_channel,
            conversation=window_open,
            direction=Message.Direction.OUTBOUND,
            provider_message_id=wamid,
            type="text",
            text="Ciao!",
            status=Message.Status.SENT,
        )

    return make


@pytest.mark.django_db
def test_a_status_with_the_user_id_only_is_applied(post_webhook, sent_to_username):
    message = sent_to_username()
    assert post_webhook("status_delivered_recipient_user_id_only.json").status_code == 200
    message.refresh_from_db()
    assert message.status == "delivered"
    assert WebhookEvent.objects.get().state == WebhookEvent.State.PROCESSED


@pytest.mark.django_db
def test_a_status_with_contacts_is_applied(post_webhook, sent_to_username):
    message = sent_to_username()
    post_webhook("status_read_with_contacts.json")
    message.refresh_from_db()
    assert message.status == "read"


@pytest.mark.django_db
def test_error_131062_on_a_status_fails_the_message_with_a_clear_reason(
    post_webhook, sent_to_username
):
    message = sent_to_username("wamid.HBgMVVNFUk5BTUUVAgASGBRPVVQyAA==")
    post_webhook("status_failed_131062.json")
    message.refresh_from_db()
    assert message.status == "failed"
    assert message.error_code == 131062
    assert message.error_title == NEEDS_PHONE_REASON


@pytest.mark.django_db
def test_a_user_id_update_moves_the_contacts_user_id(post_webhook, wa_channel, username_contact):
    assert post_webhook("user_id_update.json").status_code == 200
    assert WebhookEvent.objects.get().state == WebhookEvent.State.PROCESSED
    row = ContactAddress.objects.get(transport=BSUID_T)
    assert (row.contact_id, row.address) == (username_contact.pk, "IT.7730041188552290")


@pytest.mark.django_db
def test_an_unreadable_user_id_update_is_flagged_for_an_operator(post_webhook, wa_channel):
    body = fixture_json("user_id_update.json")
    body["entry"][0]["changes"][0]["value"]["user_id_update"] = [{"something": "else"}]
    post_webhook(body)
    event = WebhookEvent.objects.get()
    assert event.state == WebhookEvent.State.FLAGGED
    assert "user_id_update" in event.error


@pytest.mark.django_db
def test_a_username_user_writing_gets_a_phone_less_contact(post_webhook, wa_channel):
    post_webhook("inbound_text_username_only.json")
    contact = Contact.objects.get()
    assert contact.phone is None
    assert ContactAddress.objects.get(transport=BSUID_T).address == BSUID
    post_webhook("inbound_text_bsuid_and_phone.json")
    contact = Contact.objects.get()
    assert contact.phone == "+" + PHONE
    assert Message.objects.filter(direction="in").count() == 2
