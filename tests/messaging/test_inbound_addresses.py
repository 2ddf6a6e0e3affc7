"""Inbound messages find their contact by the strongest address they carry: a WhatsApp user id
(BSUID) first, the phone second. A username user writes without a phone and is never refused."""

import logging
from datetime import UTC, datetime

import pytest

from crm.models import Contact, ContactAddress
from messaging.models import Conversation, Message, WebhookEvent
from messaging.providers.base import Address, InboundMessage
from messaging.services import message_receive
from tests.concurrency import run_at_once
from tests.messaging.conftest import PHONE_NUMBER_ID, messages_envelope
from tickets.models import Ticket

BSUID = "IT.1502576394655843"
PARENT = "IT.ENT.11815799212886844830"
PHONE = "393351032246"


def body(*, wamid, wa_id=None, user_id=BSUID, parent=None, username="giulia.shop", text="Ciao"):
    contact = {"profile": {"name": "Giulia"}}
    if username:
        contact["profile"]["username"] = username
    message = {"id": wamid, "timestamp": "1752489005", "type": "text", "text": {"body": text}}
    if user_id:
        contact["user_id"] = user_id
        message["from_user_id"] = user_id
    if parent:
        contact["parent_user_id"] = parent
    if wa_id:
        contact["wa_id"] = wa_id
        message["from"] = wa_id
    return messages_envelope(contacts=[contact], messages=[message])


def addresses_of(contact):
    return set(contact.addresses.values_list("transport", "address"))


@pytest.fixture
def receive(post_webhook, wa_channel):
    def post(**kwargs):
        assert post_webhook(body(**kwargs)).status_code == 200
        event = WebhookEvent.objects.order_by("-pk").first()
        assert event.state == WebhookEvent.State.PROCESSED, event.error

    return post


def test_a_username_only_message_makes_a_lead_without_phone_with_conversation_and_ticket(receive):
    receive(wamid="wamid.U1")
    contact = Contact.objects.get()
    assert contact.phone is None
    assert contact.handle == "giulia.shop"
    assert contact.name == "Giulia"
    assert contact.kind == "lead"
    assert str(contact) == "Giulia (giulia.shop)"
    assert addresses_of(contact) == {("whatsapp_bsuid", BSUID)}
    row = contact.addresses.get()
    assert row.handle == "giulia.shop" and row.verified
    conversation = Conversation.objects.get()
    assert conversation.contact == contact
    assert Message.objects.get().conversation == conversation
    ticket = Ticket.objects.get()
    assert ticket.contact == contact
    assert ticket.title.endswith(" - giulia.shop")


def test_the_inbox_lists_a_phoneless_contact_by_username(receive, admin_client):
    receive(wamid="wamid.U1")
    contact = Contact.objects.get()
    contact.name = ""
    contact.save()
    page = admin_client.get("/inbox/").content.decode()
    assert '<span class="name">giulia.shop</span>' in page


def test_a_message_with_user_id_and_phone_joins_them_on_one_contact(receive):
    receive(wamid="wamid.B1", wa_id=PHONE, parent=PARENT)
    contact = Contact.objects.get()
    assert contact.phone == "+393351032246"
    assert contact.handle == "giulia.shop"
    assert addresses_of(contact) == {
        ("whatsapp_bsuid", BSUID),
        ("whatsapp_parent_bsuid", PARENT),
        ("whatsapp", "+393351032246"),
    }


def test_a_later_user_id_only_message_reaches_the_same_contact(receive):
    receive(wamid="wamid.B1", wa_id=PHONE)
    receive(wamid="wamid.B2")
    assert Contact.objects.count() == 1
    assert Conversation.objects.count() == 1
    assert Message.objects.count() == 2


def test_a_phone_first_contact_gains_its_user_id(receive):
    known = Contact.objects.create(phone="+393351032246", name="Giulia Rossi")
    receive(wamid="wamid.P1", wa_id=PHONE)
    known.refresh_from_db()
    assert Contact.objects.count() == 1
    assert ("whatsapp_bsuid", BSUID) in addresses_of(known)
    assert known.handle == "giulia.shop"
    receive(wamid="wamid.P2")
    assert Conversation.objects.get().contact == known
    assert Message.objects.count() == 2


def test_a_user_id_only_contact_gains_its_phone_when_a_message_carries_both(receive):
    receive(wamid="wamid.U1")
    receive(wamid="wamid.U2", wa_id=PHONE)
    contact = Contact.objects.get()
    assert contact.phone == "+393351032246"
    assert ("whatsapp", "+393351032246") in addresses_of(contact)


def test_when_the_user_id_and_the_phone_have_different_owners_the_user_id_wins_and_it_is_logged(
    receive, caplog
):
    by_phone = Contact.objects.create(phone="+393351032246", name="Phone owner")
    by_bsuid = Contact.objects.create(name="Username owner", handle="giulia.shop")
    ContactAddress.objects.create(contact=by_bsuid, transport="whatsapp_bsuid", address=BSUID)
    with caplog.at_level(logging.WARNING, logger="crm.services"):
        receive(wamid="wamid.C1", wa_id=PHONE)
    assert Conversation.objects.get().contact == by_bsuid
    assert "two contacts for one person" in caplog.text
    by_phone.refresh_from_db()
    by_bsuid.refresh_from_db()
    assert by_phone.phone == "+393351032246"
    assert by_bsuid.phone is None  # never merged, never stolen
    assert Contact.objects.count() == 2


def test_an_unreadable_phone_beside_a_user_id_is_not_refused(receive):
    receive(wamid="wamid.X1", wa_id="12")
    contact = Contact.objects.get()
    assert contact.phone is None
    assert addresses_of(contact) == {("whatsapp_bsuid", BSUID)}


def test_a_message_with_neither_phone_nor_user_id_is_flagged(post_webhook, wa_channel):
    post_webhook(body(wamid="wamid.N1", user_id=None))
    event = WebhookEvent.objects.get()
    assert event.state == WebhookEvent.State.FLAGGED
    assert "from" in event.error
    assert not Contact.objects.exists()


def test_a_user_id_without_username_names_the_contact_by_the_user_id(receive):
    receive(wamid="wamid.N2", username="")
    contact = Contact.objects.get()
    assert contact.handle == BSUID
    assert str(contact) == f"Giulia ({BSUID})"


def inbound(index, addresses, sender=""):
    return InboundMessage(
        provider_message_id=f"wamid.R{index}",
        channel_external_id=PHONE_NUMBER_ID,
        sender=sender,
        sender_name="Racer",
        timestamp=datetime(2026, 1, 1, 12, 0, index, tzinfo=UTC),
        type="text",
        text=f"message {index}",
        addresses=addresses,
    )


@pytest.mark.django_db
def test_message_receive_alone_resolves_by_user_id_too(wa_channel):
    first = message_receive(
        channel=wa_channel, inbound=inbound(1, (Address("whatsapp_bsuid", BSUID, "giulia"),))
    )
    second = message_receive(
        channel=wa_channel,
        inbound=inbound(2, (Address("whatsapp_bsuid", BSUID),), sender=PHONE),
    )
    assert first.conversation_id == second.conversation_id
    contact = Contact.objects.get()
    assert contact.phone is None  # `addresses` given: the sender is not read as a phone again
    assert contact.handle == "giulia"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_ten_concurrent_phoneless_first_messages_make_one_contact_conversation_and_ticket(
    wa_channel,
):
    errors = run_at_once(
        10,
        lambda i: message_receive(
            channel=wa_channel, inbound=inbound(i, (Address("whatsapp_bsuid", BSUID, "g"),))
        ),
    )
    assert errors == []
    contact = Contact.objects.get()
    assert contact.phone is None
    assert Conversation.objects.get().contact == contact
    assert Ticket.objects.get().contact == contact
    assert Message.objects.count() == 10


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_ten_concurrent_first_messages_with_user_id_and_phone_make_one_contact(wa_channel):
    both = (Address("whatsapp_bsuid", BSUID), Address("whatsapp", PHONE))
    errors = run_at_once(
        10, lambda i: message_receive(channel=wa_channel, inbound=inbound(i, both))
    )
    assert errors == []
    contact = Contact.objects.get()
    assert contact.phone == "+393351032246"
    assert addresses_of(contact) == {("whatsapp_bsuid", BSUID), ("whatsapp", "+393351032246")}
    assert Ticket.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_ten_concurrent_mixed_first_messages_make_one_conversation(wa_channel):
    # Odd writers know only the user id, even ones also the phone.
    def work(i):
        addresses = (Address("whatsapp_bsuid", BSUID),)
        if i % 2 == 0:
            addresses += (Address("whatsapp", PHONE),)
        message_receive(channel=wa_channel, inbound=inbound(i, addresses))

    assert run_at_once(10, work) == []
    owner = ContactAddress.objects.get(transport="whatsapp_bsuid").contact
    assert Conversation.objects.get().contact == owner
    assert Message.objects.count() == 10
    assert Ticket.objects.count() == 1
