"""Shared set-up for the WhatsApp Cloud tests: an account, its channel, and signed posts of the
fixtures through the real webhook URL (the signature, content type and encoding all run)."""

import hashlib
import hmac
import json
from datetime import timedelta
from pathlib import Path

import pytest
import responses
from django.utils import timezone

from crm.models import Contact
from integrations.models import IntegrationAccount
from messaging.models import Channel, Conversation

from .telegram_support import bot_api, post_update, tg_account, tg_channel  # noqa: F401

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "whatsapp_cloud"
APP_SECRET = "test-app-secret"
PHONE_NUMBER_ID = "117094531254879"  # the one in the fixtures
WABA_ID = "104896532187654"
SEND_URL = f"https://graph.facebook.com/v23.0/{PHONE_NUMBER_ID}/messages"


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def fixture_json(name: str) -> dict:
    return json.loads(fixture_bytes(name))


def sign(body: bytes, secret: str = APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@pytest.fixture
def wa_account(db):
    return IntegrationAccount.objects.create(
        description="Test WABA",
        platform="whatsapp_cloud",
        settings={"app_id": "1234567890", "waba_id": WABA_ID, "graph_version": "v23.0"},
        secrets={"app_secret": APP_SECRET, "verify_token": "verify-me", "access_token": "EAAtok"},
    )


@pytest.fixture
def wa_channel(wa_account):
    return Channel.objects.create(
        name="Support line",
        account=wa_account,
        provider="whatsapp_cloud",
        external_id=PHONE_NUMBER_ID,
        display_number="+15550199234",
    )


@pytest.fixture
def graph():
    """The Graph API, mocked: a test adds the answers it expects."""
    with responses.RequestsMock() as mocked:
        yield mocked


@pytest.fixture
def contact(db):
    return Contact.objects.create(phone="+393351032246", name="Giulia")


@pytest.fixture
def window_open(wa_channel, contact):
    """A conversation whose customer wrote an hour ago: the customer-service window is open."""
    return Conversation.objects.create(
        channel=wa_channel, contact=contact, last_inbound_at=timezone.now() - timedelta(hours=1)
    )


@pytest.fixture
def post_webhook(client, wa_account, django_capture_on_commit_callbacks):
    def post(body, *, signature=None, account=None):
        if isinstance(body, dict):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = fixture_bytes(body)
        headers = {}
        signature = sign(body) if signature is None else signature
        if signature:
            headers["HTTP_X_HUB_SIGNATURE_256"] = signature
        target = account or wa_account
        # Tests run inside a transaction; run what the view leaves for after the commit.
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(
                f"/webhooks/whatsapp/{target.key}/",
                data=body,
                content_type="application/json",
                **headers,
            )

    return post


def messages_envelope(*, contacts: list[dict], messages: list[dict]) -> dict:
    """A webhook with one `messages` change in Meta's shape, for cases the fixtures do not cover."""
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": WABA_ID,
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "15550199234",
                                "phone_number_id": PHONE_NUMBER_ID,
                            },
                            "contacts": contacts,
                            "messages": messages,
                        },
                    }
                ],
            }
        ],
    }


def inbound_body(message: dict, *, wa_id="393351032246", name="Giulia") -> dict:
    """A one-message envelope from a sender known by phone."""
    return messages_envelope(
        contacts=[{"profile": {"name": name}, "wa_id": wa_id}],
        messages=[{"from": wa_id, **message}],
    )


def status_body(wamid: str, status: str, *, timestamp="1752489400", **extra) -> dict:
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": WABA_ID,
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "15550199234",
                                "phone_number_id": PHONE_NUMBER_ID,
                            },
                            "statuses": [
                                {
                                    "id": wamid,
                                    "status": status,
                                    "timestamp": timestamp,
                                    "recipient_id": "393351032246",
                                    **extra,
                                }
                            ],
                        },
                    }
                ],
            }
        ],
    }


def pytest_generate_tests(metafunc):
    # One case per fixture a ProviderWebhookCases subclass lists (tests/messaging/webhook_cases.py).
    if "fixture_name" in metafunc.fixturenames and metafunc.cls is not None:
        cases = getattr(metafunc.cls, "FIXTURE_CASES", {})
        metafunc.parametrize("fixture_name", sorted(cases))
