"""Shared set-up for the Twilio tests: the account and sender of the fixtures, and signed form
posts through the real webhook URL.

The `.form` fixtures are Twilio's one-line form bodies (copied from the shared reference with
their trailing newline stripped)."""

import json
from pathlib import Path

import pytest
from django.conf import settings
from django.http import QueryDict
from django.urls import reverse

from integrations.models import IntegrationAccount
from messaging.models import Channel
from messaging.providers.twilio import signature_for

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "twilio"
ACCOUNT_SID = "AC3f9d2b7e1c4a6f8e0b2d4c6a8e0f1b3d"  # the one in the fixtures
SERVICE_SID = "MG8e2c4a6b8d0f2e4c6a8b0d2f4e6c8a0b"
AUTH_TOKEN = "7c1e9a3b5d7f9e1c3a5b7d9f1e3c5a7b"
SENDER = "whatsapp:+14155550100"
CUSTOMER = "+447700900123"
API = "https://api.twilio.com/2010-04-01"
FORM = "application/x-www-form-urlencoded"


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def fixture_json(name: str) -> dict:
    return json.loads(fixture_bytes(name))


def fixture_form(name: str) -> QueryDict:
    return QueryDict(fixture_bytes(name))


def sign(url: str, body: bytes, token: str = AUTH_TOKEN) -> str:
    return signature_for(url, dict(QueryDict(body).lists()), token)


def form_body(**params) -> bytes:
    form = QueryDict(mutable=True)
    for name, value in params.items():
        if isinstance(value, list):
            form.setlist(name, value)
        else:
            form[name] = value
    return form.urlencode().encode()


@pytest.fixture
def tw_account(db):
    return IntegrationAccount.objects.create(
        description="Test Twilio",
        platform="twilio",
        settings={"account_sid": ACCOUNT_SID, "messaging_service_sid": ""},
        secrets={"auth_token": AUTH_TOKEN},
    )


@pytest.fixture
def tw_channel(tw_account):
    return Channel.objects.create(
        name="Twilio line",
        account=tw_account,
        provider="twilio",
        external_id=SENDER,
        display_number="+14155550100",
    )


@pytest.fixture
def post_twilio(client, tw_account, django_capture_on_commit_callbacks):
    def post(body, *, signature=None, query="", token=AUTH_TOKEN, signed_url=None):
        """POST a form body (a fixture name or bytes) to the account's URL, signed for the URL
        Twilio would have called unless `signature` is given ("" posts it unsigned)."""
        if isinstance(body, str):
            body = fixture_bytes(body)
        path = reverse("webhook", args=["twilio", tw_account.key]) + (f"?{query}" if query else "")
        if signature is None:
            signature = sign(signed_url or settings.PUBLIC_BASE_URL + path, body, token)
        headers = {"X-Twilio-Signature": signature} if signature else {}
        with django_capture_on_commit_callbacks(execute=True):
            return client.generic("POST", path, data=body, content_type=FORM, headers=headers)

    return post
