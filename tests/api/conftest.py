"""Set-up for the REST API tests: a WhatsApp account and channel, a shop account with a key,
staff of each role with a token, and a mocked Graph API."""

import itertools
import json
from datetime import timedelta

import pytest
import responses
from django.core.cache import cache
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.models import AgentProfile, Role, User
from crm.models import Contact
from integrations.models import AccountAPIKey, IntegrationAccount
from messaging.models import Conversation, MessageTemplate
from tests.messaging.conftest import PHONE_NUMBER_ID, fixture_json, wa_account, wa_channel

__all__ = ["wa_account", "wa_channel"]

SEND_URL = f"https://graph.facebook.com/v23.0/{PHONE_NUMBER_ID}/messages"


@pytest.fixture(autouse=True)
def _fresh_throttle_counters():
    # Throttle counters live in the cache; each test starts with none.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def graph():
    sent = itertools.count(1)

    def accept(request):
        # Meta's answer, with a new message id each time (ids are unique per channel).
        answer = fixture_json("send_template_ok.json")
        answer["messages"][0]["id"] = f"wamid.TEST{next(sent)}"
        return 200, {}, json.dumps(answer)

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.add_callback(responses.POST, SEND_URL, callback=accept)
        yield mocked


def graph_bodies(graph) -> list[dict]:
    return [json.loads(call.request.body) for call in graph.calls if call.request.url == SEND_URL]


@pytest.fixture
def shop(db):
    return IntegrationAccount.objects.create(description="Shop", platform="ecommerce")


def make_key(account, name="test key", **extra):
    api_key, key = AccountAPIKey.objects.create_key(name=name, account=account, **extra)
    return api_key, key


@pytest.fixture
def shop_key(shop):
    return make_key(shop)[1]


@pytest.fixture
def wa_key(wa_account):
    return make_key(wa_account, name="crm key")[1]


def key_client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client


def make_user(username: str, role: str | None) -> User:
    user = User.objects.create_user(username=username, password="switchboard")
    if role:
        AgentProfile.objects.create(user=user, role=role)
    return user


def token_client(user) -> APIClient:
    token, _ = Token.objects.get_or_create(user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def manager(db):
    return make_user("manager", Role.MANAGER)


@pytest.fixture
def rep1(db):
    return make_user("rep1", Role.SALES_REP)


@pytest.fixture
def rep2(db):
    return make_user("rep2", Role.SALES_REP)


@pytest.fixture
def quality(db):
    return make_user("quality", Role.QUALITY_CONTROL)


@pytest.fixture
def giulia(rep1):
    return Contact.objects.create(phone="+393351032246", name="Giulia", responsible=rep1)


@pytest.fixture
def marco(rep2):
    return Contact.objects.create(phone="+393471234567", name="Marco", responsible=rep2)


def open_window(channel, contact):
    return Conversation.objects.create(
        channel=channel, contact=contact, last_inbound_at=timezone.now() - timedelta(hours=1)
    )


@pytest.fixture
def template(wa_account):
    return MessageTemplate.objects.create(
        account=wa_account,
        name="order_update",
        language="it",
        category="UTILITY",
        status="APPROVED",
        components=[{"type": "BODY", "text": "Ciao {{1}}, l'ordine {{2}} è {{3}}"}],
        body_param_count=3,
    )


def assert_error(response, status: int, code: str | None = None):
    """Every API error has one shape."""
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "fields"}, body
    assert body["error"]["message"]
    if code:
        assert body["error"]["code"] == code, body
    return body["error"]
