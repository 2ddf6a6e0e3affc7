"""End to end over real HTTP through the sandbox's Twilio: a customer's signed form webhook opens
a lead, a conversation and a ticket; an inbox reply and a ticket comment reach the customer with
their status callbacks; once the 24 hours are over a comment goes as the Content utility template.
The real Twilio provider code runs against the live server."""

import time
from datetime import timedelta

import pytest
import requests
from django.utils import timezone

from accounts.models import AgentProfile, Role
from crm.models import Contact
from integrations.models import IntegrationAccount
from messaging.models import Channel, Conversation, Message, MessageTemplate
from messaging.sandbox import twilio as twilio_sandbox
from messaging.services import templates_sync
from tickets.models import Ticket
from tickets.services import channel_helpdesk_defaults_apply, ticket_comment_add

from .conftest import ACCOUNT_SID, AUTH_TOKEN

pytestmark = pytest.mark.django_db(transaction=True)
SENDER_DIGITS = "14155550100"
CUSTOMER = "393337654321"


def wait_for(predicate, seconds=15.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    return predicate()


@pytest.fixture
def line(sandbox):
    twilio_sandbox.reset()
    account = IntegrationAccount.objects.create(
        description="Twilio over the sandbox",
        platform="twilio",
        settings={"account_sid": ACCOUNT_SID, "messaging_service_sid": ""},
        secrets={"auth_token": AUTH_TOKEN},
    )
    channel = Channel.objects.create(
        name="Sandbox Twilio line",
        account=account,
        provider="twilio",
        external_id=f"whatsapp:+{SENDER_DIGITS}",
        display_number=f"+{SENDER_DIGITS}",
    )
    # Templates come from the sandbox's Content API, over HTTP, as the sync job reads them.
    assert templates_sync(account=account)["seen"] == len(twilio_sandbox.DEMO_CONTENT)
    channel_helpdesk_defaults_apply(channel=channel)
    channel.refresh_from_db()
    yield channel
    twilio_sandbox.reset()


def chat_url(base, customer=CUSTOMER):
    return f"{base}/sandbox/twilio/chat/{SENDER_DIGITS}/{customer}/"


def customer_does(base, action, customer=CUSTOMER):
    session = requests.Session()
    assert session.get(chat_url(base, customer), timeout=10).status_code == 200
    response = session.post(
        chat_url(base, customer) + "send",
        json={**action, "name": "Olivia Bennett"},
        headers={"X-CSRFToken": session.cookies.get("csrftoken", "")},
        timeout=20,
    )
    assert response.status_code == 200, response.text
    return response.json()


def business_bubbles(base, customer=CUSTOMER):
    state = requests.get(chat_url(base, customer) + "state", timeout=10).json()
    return [m for m in state["messages"] if m["from"] == "business"]


def test_a_customer_is_served_through_twilio_end_to_end(sandbox, line, client, django_user_model):
    # The customer writes: a signed form webhook opens a lead, a conversation and a ticket.
    answer = customer_does(sandbox, {"kind": "text", "text": "Hi, my parcel is late"})
    assert answer["webhook_status"] == 200
    inbound = wait_for(lambda: Message.objects.filter(direction="in").first())
    contact = Contact.objects.get()
    assert (contact.phone, contact.name, contact.kind) == (f"+{CUSTOMER}", "Olivia Bennett", "lead")
    conversation = Conversation.objects.get()
    assert inbound.conversation == conversation and conversation.channel == line
    ticket = Ticket.objects.get()
    assert ticket.contact == contact

    # An agent replies from the inbox: the reply goes out and its callbacks bring it to read.
    manager = django_user_model.objects.create_user(username="manager", password="pw")
    AgentProfile.objects.create(user=manager, role=Role.MANAGER)
    client.force_login(manager)
    response = client.post(f"/inbox/c/{conversation.pk}/reply", {"text": "We are on it."})
    assert response.status_code == 302
    reply = Message.objects.get(direction="out")
    assert wait_for(lambda: Message.objects.get(pk=reply.pk).status == "read"), Message.objects.get(
        pk=reply.pk
    ).status
    reply.refresh_from_db()
    assert reply.provider_message_id.startswith("SM")
    assert reply.sent_at and reply.delivered_at and reply.read_at
    assert [b["text"] for b in business_bubbles(sandbox)] == ["We are on it."]

    # A ticket comment inside the window goes as text.
    ticket_comment_add(ticket=ticket, author=manager, text="The courier has it today.")
    assert wait_for(lambda: len(business_bubbles(sandbox)) == 2)
    assert business_bubbles(sandbox)[1]["text"] == "The courier has it today."

    # 25 hours later the window is closed: the comment goes as the Content utility template.
    Conversation.objects.filter(pk=conversation.pk).update(
        last_inbound_at=timezone.now() - timedelta(hours=25)
    )
    ticket.refresh_from_db()
    ticket_comment_add(ticket=ticket, author=manager, text="It was delivered to your neighbour.")
    templated = Message.objects.filter(direction="out", type="template").get()
    assert templated.template == line.utility_template
    assert templated.template.external_id.startswith("HX")
    assert wait_for(lambda: Message.objects.get(pk=templated.pk).status == "read")
    bubbles = business_bubbles(sandbox)
    assert bubbles[2]["text"] == (
        f"Hello Olivia Bennett, there is news on your request {ticket.number}: "
        "It was delivered to your neighbour."
    )


def test_a_media_message_is_fetched_from_the_sandbox_with_basic_auth(sandbox, line):
    customer_does(sandbox, {"kind": "image"})
    message = wait_for(
        lambda: Message.objects.filter(
            direction="in", media_state=Message.MediaState.STORED
        ).first()
    )
    assert message is not None, Message.objects.values("media_state", "media_error").first()
    assert message.media_file.read().startswith(b"\x89PNG")


def test_a_quick_reply_tap_comes_back_as_a_button_with_its_context(sandbox, line):
    from crm.services_consent import consent_record
    from messaging.services import message_send_template

    customer_does(sandbox, {"kind": "text", "text": "hello"})
    wait_for(lambda: Message.objects.filter(direction="in").exists())
    contact = Contact.objects.get()
    welcome = MessageTemplate.objects.get(name="welcome_quick_reply")
    # A marketing template: it goes only to someone who opted in.
    consent_record(contact=contact, purpose="marketing", state="opted_in", source="widget")
    sent = message_send_template(
        channel=line, contact=contact, template=welcome, body_params=["Olivia"]
    )
    wait_for(lambda: Message.objects.get(pk=sent.pk).provider_message_id)
    sent.refresh_from_db()
    bubble = wait_for(lambda: [b for b in business_bubbles(sandbox) if b["choices"]])[0]
    customer_does(sandbox, {"kind": "choice", "message_id": bubble["id"], "choice": 1})
    tap = wait_for(lambda: Message.objects.filter(direction="in", type="button").first())
    assert tap.payload == {"text": "Talk to an agent", "payload": "agent"}
    assert tap.reply_to_provider_id == sent.provider_message_id


@pytest.mark.parametrize(
    ("customer", "status", "code"),
    [("393337653016", "failed", 63016), ("393337653024", "failed", 63024)],
)
def test_the_magic_numbers_fail_like_twilio(sandbox, line, customer, status, code):
    from messaging.services import message_send_text

    contact = Contact.objects.create(phone=f"+{customer}", name="Bad day")
    Conversation.objects.create(channel=line, contact=contact, last_inbound_at=timezone.now())
    sent = message_send_text(channel=line, contact=contact, text="hello")
    assert wait_for(lambda: Message.objects.get(pk=sent.pk).status == status)
    assert Message.objects.get(pk=sent.pk).error_code == code


def test_21211_is_refused_at_once(sandbox, line):
    from messaging.services import message_send_text

    contact = Contact.objects.create(phone="+393337651211", name="Nobody")
    Conversation.objects.create(channel=line, contact=contact, last_inbound_at=timezone.now())
    sent = message_send_text(channel=line, contact=contact, text="hello")
    sent.refresh_from_db()
    assert (sent.status, sent.error_code) == ("failed", 21211)
    assert "Invalid 'To' number" in sent.error_title


def test_the_inbox_template_picker_sends_a_twilio_content_template(
    sandbox, line, client, django_user_model
):
    customer_does(sandbox, {"kind": "text", "text": "hello"})
    wait_for(lambda: Message.objects.filter(direction="in").exists())
    conversation = Conversation.objects.get()
    Conversation.objects.filter(pk=conversation.pk).update(
        last_inbound_at=timezone.now() - timedelta(hours=30)
    )
    manager = django_user_model.objects.create_user(username="manager", password="pw")
    AgentProfile.objects.create(user=manager, role=Role.MANAGER)
    client.force_login(manager)
    page = client.get(f"/inbox/c/{conversation.pk}/").content.decode()
    order_status = MessageTemplate.objects.get(name="order_status")
    assert "order_status" in page and "appointment_reminder" not in page  # approved ones only
    response = client.post(
        f"/inbox/c/{conversation.pk}/template",
        {"template": order_status.pk, "body_params": ["Olivia", "#4821", "shipped"]},
    )
    assert response.status_code == 302
    sent = Message.objects.get(direction="out")
    assert wait_for(lambda: Message.objects.get(pk=sent.pk).status == "read")
    assert business_bubbles(sandbox)[-1]["text"] == "Hi Olivia, your order #4821 is now: shipped."


def test_a_business_event_notifies_through_a_twilio_template(sandbox, line):
    from integrations.models import BusinessEvent, NotificationRule
    from integrations.notifications import business_event_receive

    shop = IntegrationAccount.objects.create(description="Shop", platform="ecommerce")
    NotificationRule.objects.create(
        account=shop,
        event_type="order_status_changed",
        channel=line,
        template=MessageTemplate.objects.get(name="order_status"),
        parameters={"body": ["customer.name", "order.number", "status"]},
    )
    event, created = business_event_receive(
        account=shop,
        body={
            "id": "o-1",
            "type": "order_status_changed",
            "data": {
                "status": "shipped",
                "order": {"number": "A-100"},
                "customer": {"name": "Giulia", "phone": f"+{CUSTOMER}"},
            },
        },
    )
    assert created and event.state == BusinessEvent.State.SENT, event.reason
    assert wait_for(lambda: Message.objects.get(pk=event.message_id).status == "read")
    assert business_bubbles(sandbox)[-1]["text"] == "Hi Giulia, your order A-100 is now: shipped."
