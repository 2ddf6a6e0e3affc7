"""End to end over real HTTP, for a customer who uses a WhatsApp username: Meta (the sandbox)
shows Switchboard their user id and no phone; they still get a lead, a conversation and a
ticket, replies reach them by user id, and when their phone shows up later it joins the same
contact."""

import pytest
import requests

from accounts.models import AgentProfile, Role
from crm.models import Contact, ContactAddress
from crm.services import contact_claim
from messaging.models import Conversation, Message
from messaging.services import message_send_text
from tickets.models import Ticket

from .test_end_to_end import sandbox, wait_for

__all__ = ["sandbox"]

pytestmark = pytest.mark.django_db(transaction=True)
USERNAME = "giulia.shop"
PHONE = "393351032246"


def customer_types(base, channel, text, **query):
    session = requests.Session()
    chat = f"{base}/sandbox/chat/{channel.external_id}/{USERNAME}/"
    assert session.get(chat, params=query, timeout=10).status_code == 200
    response = session.post(
        chat + "send",
        json={"kind": "text", "text": text, "name": "Giulia"},
        headers={"X-CSRFToken": session.cookies.get("csrftoken", "")},
        timeout=20,
    )
    assert response.status_code == 200, response.text
    assert response.json()["webhook_status"] == 200
    return response.json()


def test_a_username_customer_is_served_by_user_id_and_joined_with_their_phone_later(
    sandbox, wa_channel, django_user_model
):
    customer_types(sandbox, wa_channel, "Ciao, è arrivato il mio ordine?")
    inbound = wait_for(lambda: Message.objects.filter(direction="in").first())

    contact = Contact.objects.get()
    assert contact.phone is None
    assert contact.kind == "lead"
    assert contact.handle == USERNAME
    user_id = ContactAddress.objects.get(contact=contact, transport="whatsapp_bsuid").address
    assert user_id.startswith("IT.")
    conversation = Conversation.objects.get()
    assert inbound.conversation == conversation and conversation.contact == contact
    assert Ticket.objects.get().contact == contact

    agent = django_user_model.objects.create(username="rep")
    AgentProfile.objects.create(user=agent, role=Role.SALES_REP)
    assert contact_claim(contact=contact, user=agent)
    reply = message_send_text(
        channel=wa_channel, contact=contact, text="Ciao Giulia, è in consegna.", actor=agent
    )
    assert wait_for(lambda: Message.objects.get(pk=reply.pk).status == "read")
    reply.refresh_from_db()
    assert reply.sent_at and reply.delivered_at and reply.read_at
    # The sandbox put it in the username's chat: it went by `recipient`, there being no phone.
    state = requests.get(
        f"{sandbox}/sandbox/chat/{wa_channel.external_id}/{USERNAME}/state", timeout=10
    ).json()
    assert [m["text"] for m in state["messages"] if m["from"] == "business"] == [
        "Ciao Giulia, è in consegna."
    ]

    customer_types(sandbox, wa_channel, "Ecco il mio numero", phone=PHONE)
    assert wait_for(lambda: Message.objects.filter(direction="in").count() == 2)
    assert Contact.objects.count() == 1
    contact.refresh_from_db()
    assert contact.phone == f"+{PHONE}"
    assert ContactAddress.objects.get(contact=contact, transport="whatsapp_bsuid").address == (
        user_id
    )
    assert Conversation.objects.count() == 1
