"""End to end over real HTTP with the Wazzup sandbox: webhooks connected (with Wazzup's test
call), a WhatsApp customer's first message opens a lead, a deal, a conversation and a ticket; the
agent's reply goes out with crmMessageId and reaches `read`; an echo from the agent's phone shows
in the thread as theirs."""

import time

import pytest
import requests

from crm.models import Contact, Deal, Pipeline, Stage
from integrations.demo_wazzup import SANDBOX_WAZZUP_ACCOUNT
from integrations.models import IntegrationAccount
from messaging.models import Channel, Message, RoutingMode
from messaging.sandbox import wazzup as emulator
from messaging.services.provider_items import account_channels_import, account_webhooks_connect
from tests.wazzup.conftest import make_agent
from tickets.models import Ticket, TicketComment
from tickets.routing import conversation_reply

pytestmark = pytest.mark.django_db(transaction=True)
API_KEY = "e2e-wazzup-key"


def wait_for(predicate, seconds=15.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    return predicate()


@pytest.fixture
def connected(sandbox):
    account = IntegrationAccount.objects.create(
        description="Wazzup e2e", platform="wazzup", secrets={"api_key": API_KEY}
    )
    assert account_channels_import(account=account) == (2, 0)
    said = account_webhooks_connect(account=account)
    assert "test call" in said
    pipeline = Pipeline.objects.create(name="Sales")
    Stage.objects.create(pipeline=pipeline, name="New")
    whatsapp = Channel.objects.get(external_id=emulator.WHATSAPP_CHANNEL_ID)
    whatsapp.routing_mode = RoutingMode.ROUND_ROBIN
    whatsapp.new_client_pipeline = pipeline
    whatsapp.save()
    return account, whatsapp


def act(base, account, **fields):
    session = requests.Session()
    assert session.get(f"{base}/sandbox/wazzup/", timeout=10).status_code == 200
    response = session.post(
        f"{base}/sandbox/wazzup/act/",
        data={"account": account.pk, "csrfmiddlewaretoken": session.cookies["csrftoken"], **fields},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response


def test_a_wazzup_whatsapp_client_gets_a_lead_deal_ticket_reply_and_echo(sandbox, connected):
    account, whatsapp = connected
    assert account.secrets["webhook_token"] not in SANDBOX_WAZZUP_ACCOUNT["secrets"].values()
    anna = make_agent("anna", channels=[whatsapp])
    act(
        sandbox,
        account,
        do="customer",
        channel=whatsapp.external_id,
        chat="447700900999",
        name="Olivia Bennett",
        text="Hi, where is my order?",
    )
    inbound = wait_for(lambda: Message.objects.filter(direction="in").first())
    assert inbound.text == "Hi, where is my order?"
    contact = Contact.objects.get()
    assert (contact.phone, contact.kind) == ("+447700900999", "lead")
    assert contact.responsible == anna  # round robin
    deal = Deal.objects.get()
    assert list(deal.contacts.all()) == [contact]
    conversation = inbound.conversation
    assert conversation.assignee == anna
    assert Ticket.objects.get(contact=contact) == conversation.ticket

    reply = conversation_reply(conversation=conversation, user=anna, text="On it, Olivia!")
    assert wait_for(lambda: Message.objects.get(pk=reply.pk).status == "read")
    requests_seen = emulator.account(API_KEY).requests
    sent = [body for _method, route, body in requests_seen if route == "message"]
    assert sent == [
        {
            "channelId": whatsapp.external_id,
            "chatType": "whatsapp",
            "chatId": "447700900999",
            "text": "On it, Olivia!",
            "crmUserId": str(anna.pk),
            "crmMessageId": str(reply.pk),
        }
    ]

    act(
        sandbox,
        account,
        do="echo",
        channel=whatsapp.external_id,
        chat="447700900999",
        user=str(anna.pk),
        text="Sent you the tracking link from my phone",
    )
    echo = wait_for(
        lambda: Message.objects.filter(text="Sent you the tracking link from my phone").first()
    )
    assert (echo.direction, echo.sent_by, echo.conversation) == ("out", anna, conversation)
    assert TicketComment.objects.get(message=echo).ticket == conversation.ticket
    page = requests.get(
        f"{sandbox}/sandbox/wazzup/?account={account.pk}&channel={whatsapp.external_id}"
        "&chat=447700900999",
        timeout=10,
    ).text
    assert "On it, Olivia!" in page and "tracking link" in page
