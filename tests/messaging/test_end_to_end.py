"""End to end over real HTTP: the sandbox customer writes, Switchboard stores it; Switchboard
replies through the real WhatsApp Cloud provider, and the sandbox's status webhooks bring the
reply to `read`."""

import time

import pytest
import requests

from messaging.models import Message
from messaging.services import message_send_text

pytestmark = pytest.mark.django_db(transaction=True)
CUSTOMER = "393331234567"


@pytest.fixture
def sandbox(settings, live_server, wa_channel):
    settings.SANDBOX_ENABLED = True
    settings.PUBLIC_BASE_URL = live_server.url
    settings.GRAPH_API_BASE_URL = f"{live_server.url}/sandbox/graph"
    settings.SANDBOX_STATUS_DELAY = 0.05
    return live_server.url


def wait_for(predicate, seconds=10.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    return predicate()


def customer_types(base, channel, text):
    session = requests.Session()
    chat = f"{base}/sandbox/chat/{channel.external_id}/{CUSTOMER}/"
    assert session.get(chat, timeout=10).status_code == 200
    response = session.post(
        chat + "send",
        json={"kind": "text", "text": text, "name": "Sandbox Customer"},
        headers={"X-CSRFToken": session.cookies.get("csrftoken", "")},
        timeout=20,
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_a_customer_message_typed_on_the_sandbox_is_stored(sandbox, wa_channel):
    answer = customer_types(sandbox, wa_channel, "Ciao, where is my order?")
    assert answer["webhook_status"] == 200
    message = wait_for(lambda: Message.objects.filter(direction="in").first())
    assert message.text == "Ciao, where is my order?"
    assert message.conversation.contact.phone == "+393331234567"
    assert message.conversation.contact.name == "Sandbox Customer"


def test_a_reply_sent_through_the_service_reaches_read(sandbox, wa_channel):
    customer_types(sandbox, wa_channel, "Hello")
    inbound = wait_for(lambda: Message.objects.filter(direction="in").first())
    reply = message_send_text(
        channel=wa_channel, contact=inbound.conversation.contact, text="Hi! On it."
    )
    assert wait_for(lambda: Message.objects.get(pk=reply.pk).status == "read")
    reply.refresh_from_db()
    assert reply.provider_message_id.startswith("wamid.")
    assert reply.sent_at and reply.delivered_at and reply.read_at
    state = requests.get(
        f"{sandbox}/sandbox/chat/{wa_channel.external_id}/{CUSTOMER}/state", timeout=10
    ).json()
    assert [m["text"] for m in state["messages"] if m["from"] == "business"] == ["Hi! On it."]
