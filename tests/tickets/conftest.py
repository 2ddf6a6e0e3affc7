"""Ticket tests run the real inbound path: signed webhooks through the URL, the pipeline, the
WhatsApp Cloud provider against a mocked Graph API."""

import json

import pytest
import responses

from accounts.models import AgentProfile, Role, User
from messaging.models import MessageTemplate
from tests.messaging import conftest as messaging_fixtures
from tests.messaging.conftest import PHONE_NUMBER_ID, fixture_json, inbound_body

# The WhatsApp account, channel and signed webhook poster of the messaging tests.
wa_account = messaging_fixtures.wa_account
wa_channel = messaging_fixtures.wa_channel
post_webhook = messaging_fixtures.post_webhook
__all__ = ["fixture_json", "inbound_body"]

SEND_URL = f"https://graph.facebook.com/v23.0/{PHONE_NUMBER_ID}/messages"


@pytest.fixture
def graph():
    # Nothing may reach the internet: media downloads that start after inbound media fail here,
    # and each test registers the Graph API answers it expects.
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        yield mocked


def sent_bodies(graph) -> list[dict]:
    return [
        json.loads(call.request.body)
        for call in graph.calls
        if call.request.method == "POST" and call.request.url == SEND_URL
    ]


def text_message(text: str, *, wamid: str, timestamp: str = "1752489005") -> dict:
    return {"id": wamid, "timestamp": timestamp, "type": "text", "text": {"body": text}}


@pytest.fixture
def say(post_webhook, wa_channel):
    """The customer Giulia (+39 335 103 2246) writes on the test channel."""

    def post(text: str, *, wamid: str, timestamp: str = "1752489005", wa_id="393351032246"):
        body = inbound_body(text_message(text, wamid=wamid, timestamp=timestamp), wa_id=wa_id)
        response = post_webhook(body)
        assert response.status_code == 200
        return response

    return post


def staff_user(username: str, role: str | None = Role.MANAGER) -> User:
    user = User.objects.create_user(username=username, password="x", is_staff=True)
    if role is not None:
        AgentProfile.objects.create(user=user, role=role)
    return user


@pytest.fixture
def manager(db):
    return staff_user("manager")


@pytest.fixture
def utility_template(wa_account):
    return MessageTemplate.objects.create(
        account=wa_account,
        name="ticket_update",
        language="en_US",
        category="UTILITY",
        status="APPROVED",
        components=[
            {"type": "BODY", "text": "Hello {{1}}, there is news on your request {{2}}: {{3}}"}
        ],
        body_param_count=3,
    )
