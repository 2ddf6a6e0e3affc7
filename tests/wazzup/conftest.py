"""A Wazzup account with a WhatsApp and a Telegram channel (the fixtures' channel ids), and posts
of the fixtures through the real webhook URL with the account's token."""

import json
from pathlib import Path

import pytest
import responses
from django.urls import reverse

from accounts.models import AgentProfile, Role, User
from integrations.models import IntegrationAccount
from messaging.models import Channel

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "wazzup"
TOKEN = "wz-test-token-9Fq2Lx"
API_KEY = "wz-api-key"
API = "https://api.wazzup24.com/v3"
WHATSAPP_CHANNEL = "0b5e8a1c-3d4f-4a6b-8c9d-1e2f3a4b5c6d"
TELEGRAM_CHANNEL = "a1b2c3d4-e5f6-4789-8abc-def012345678"


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def fixture_json(name: str):
    return json.loads(fixture_bytes(name))


def make_agent(username, role=Role.SALES_REP, *, channels=(), capacity=5):
    user = User.objects.create_user(
        username=username, password="pw", is_staff=True, first_name=username.title()
    )
    profile = AgentProfile.objects.create(
        user=user, role=role, max_concurrent_conversations=capacity
    )
    profile.channels.set(channels)
    return user


@pytest.fixture
def wz_account(db):
    return IntegrationAccount.objects.create(
        description="Wazzup",
        platform="wazzup",
        secrets={"api_key": API_KEY, "webhook_token": TOKEN},
    )


@pytest.fixture
def wz_whatsapp(wz_account):
    return Channel.objects.create(
        name="Wazzup WhatsApp",
        account=wz_account,
        provider="wazzup",
        transport="whatsapp",
        external_id=WHATSAPP_CHANNEL,
        config={"transport": "whatsapp", "state": "active"},
    )


@pytest.fixture
def wz_telegram(wz_account):
    return Channel.objects.create(
        name="Wazzup Telegram",
        account=wz_account,
        provider="wazzup",
        transport="telegram",
        external_id=TELEGRAM_CHANNEL,
        config={"transport": "telegram", "state": "active"},
    )


@pytest.fixture
def wz_post(client, wz_account, django_capture_on_commit_callbacks):
    def post(name_or_body, *, key=TOKEN, replace=None):
        body = name_or_body if isinstance(name_or_body, bytes) else fixture_bytes(name_or_body)
        for old, new in (replace or {}).items():
            body = body.replace(old.encode(), new.encode())
        path = reverse("webhook", args=["wazzup", wz_account.key])
        if key is not None:
            path += f"?key={key}"
        with django_capture_on_commit_callbacks(execute=True):
            return client.generic("POST", path, data=body, content_type="application/json")

    return post


@pytest.fixture
def wazzup_api():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        yield mocked


def pytest_generate_tests(metafunc):
    # The same hook as tests/messaging/conftest.py, for the shared webhook cases here.
    if "fixture_name" in metafunc.fixturenames and metafunc.cls is not None:
        cases = getattr(metafunc.cls, "FIXTURE_CASES", {})
        metafunc.parametrize("fixture_name", sorted(cases))
