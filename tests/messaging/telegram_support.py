"""Shared set-up for the Telegram tests: a bot channel with its token and webhook secret, and
updates posted with the secret header through the channel's real webhook URL."""

import json
from pathlib import Path

import pytest
import responses
from django.urls import reverse

from integrations.models import IntegrationAccount
from messaging.models import Channel

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "telegram"
BOT_ID = "7012345678"  # the one in the fixtures
BOT_TOKEN = "7012345678:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
WEBHOOK_SECRET = "tg_S3cr3t-9fQ2vL7xR4"
API = f"https://api.telegram.org/bot{BOT_TOKEN}"
USER_ID = "5123456789"  # Olivia, in the fixtures


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def fixture_json(name: str) -> dict:
    return json.loads(fixture_bytes(name))


@pytest.fixture
def tg_account(db):
    return IntegrationAccount.objects.create(description="Telegram bots", platform="telegram")


@pytest.fixture
def tg_channel(tg_account):
    return Channel.objects.create(
        name="Helpdesk bot",
        account=tg_account,
        provider="telegram",
        transport="telegram",
        external_id=BOT_ID,
        display_number="@helpdesk_hub_test_bot",
        config={"bot_id": BOT_ID, "bot_username": "helpdesk_hub_test_bot"},
        secrets={"bot_token": BOT_TOKEN, "webhook_secret": WEBHOOK_SECRET},
        throughput_per_second=30,
    )


@pytest.fixture
def post_update(client, tg_channel, django_capture_on_commit_callbacks):
    """POST an update (fixture name, dict or bytes) with the secret header to the bot's URL."""

    def post(body, *, secret=WEBHOOK_SECRET, channel=None):
        if isinstance(body, dict):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = fixture_bytes(body)
        headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
        target = channel or tg_channel
        with django_capture_on_commit_callbacks(execute=True):
            return client.generic(
                "POST",
                reverse("webhook", args=["telegram", target.key]),
                data=body,
                content_type="application/json",
                headers=headers,
            )

    return post


@pytest.fixture
def bot_api():
    """The Bot API, mocked: a test adds the answers it expects."""
    with responses.RequestsMock() as mocked:
        yield mocked
