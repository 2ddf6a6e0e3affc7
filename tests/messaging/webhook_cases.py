"""The webhook tests every provider inherits: security cases and fixtures posted through the real
URL (routing, verification, storage and processing all run).

A provider's test class sets the class attributes and the `sign` hook, then inherits the tests:

    class TestTelegramWebhook(ProviderWebhookCases):
        PROVIDER = "telegram"
        ...

The class name has no `Test` prefix, so pytest collects it only through its subclasses.
`FIXTURE_CASES` maps a fixture file name to a check of the rows it must produce; conftest's
`pytest_generate_tests` turns each into one `test_each_fixture_posted_through_the_url` case.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

from integrations.models import IntegrationAccount
from messaging.models import Channel, Message, WebhookEvent


class ProviderWebhookCases:
    PROVIDER: str
    FIXTURE_DIR: Path
    VALID_FIXTURE: str  # an authentic request that produces exactly one message
    # The secret names whose absence must make every request fail (missing secret = reject).
    SIGNING_SECRETS: tuple[str, ...]
    FIXTURE_CASES: dict[str, Callable[[], None]] = {}

    # Hooks

    def account_settings(self) -> dict:
        return {}

    def account_secrets(self) -> dict:
        raise NotImplementedError

    def channel_kwargs(self) -> dict:
        raise NotImplementedError

    def sign(
        self, *, method: str, url: str, body: bytes, content_type: str, secrets: dict
    ) -> dict[str, str]:
        """The headers the provider would add to this request, signed with `secrets`."""
        raise NotImplementedError

    def content_type(self, name: str) -> str:
        return "application/json"

    # Fixtures

    @pytest.fixture
    def account(self, db):
        return IntegrationAccount.objects.create(
            description=f"{self.PROVIDER} test account",
            platform=self.PROVIDER,
            settings=self.account_settings(),
            secrets=self.account_secrets(),
        )

    @pytest.fixture
    def channel(self, account):
        return Channel.objects.create(
            account=account, provider=self.PROVIDER, **self.channel_kwargs()
        )

    @pytest.fixture
    def post(self, client, account, django_capture_on_commit_callbacks):
        def post(name_or_body, *, headers=None, secrets=None, url=None, name=None):
            """POST a fixture (by name) or raw bytes, signed with `secrets` (the account's by
            default) unless `headers` are given; `{}` posts it unsigned."""
            if isinstance(name_or_body, bytes):
                body, name = name_or_body, name or self.VALID_FIXTURE
            else:
                body, name = (self.FIXTURE_DIR / name_or_body).read_bytes(), name_or_body
            path = url or reverse("webhook", args=[self.PROVIDER, account.key])
            content_type = self.content_type(name)
            if headers is None:
                headers = self.sign(
                    method="POST",
                    url=settings.PUBLIC_BASE_URL + path,
                    body=body,
                    content_type=content_type,
                    secrets=self.account_secrets() if secrets is None else secrets,
                )
            # Tests run inside a transaction; run what the view leaves for after the commit.
            with django_capture_on_commit_callbacks(execute=True):
                return client.generic(
                    "POST", path, data=body, content_type=content_type, headers=headers
                )

        return post

    def valid_body(self) -> bytes:
        return (self.FIXTURE_DIR / self.VALID_FIXTURE).read_bytes()

    # Inherited tests

    def test_it_accepts_a_valid_request(self, post, channel):
        assert post(self.VALID_FIXTURE).status_code == 200
        event = WebhookEvent.objects.get()
        assert (event.provider, event.signature_valid) == (self.PROVIDER, True)
        assert event.state == WebhookEvent.State.PROCESSED
        assert Message.objects.count() == 1

    def test_it_rejects_an_unsigned_request(self, post, channel):
        assert post(self.VALID_FIXTURE, headers={}).status_code == 403
        event = WebhookEvent.objects.get()
        assert (event.state, event.signature_valid) == (WebhookEvent.State.REJECTED, False)
        assert bytes(event.body) == self.valid_body()
        assert not Message.objects.exists()

    def test_it_rejects_a_bad_signature(self, post, channel):
        body = self.valid_body()
        good = self.sign(
            method="POST",
            url="",
            body=body,
            content_type=self.content_type(self.VALID_FIXTURE),
            secrets=self.account_secrets(),
        )
        # Same headers, every value garbled in its last character.
        bad = {
            name: value[:-1] + ("0" if value[-1] != "0" else "1") for name, value in good.items()
        }
        assert post(body, headers=bad).status_code == 403
        assert WebhookEvent.objects.get().state == WebhookEvent.State.REJECTED
        assert not Message.objects.exists()

    def test_it_rejects_a_signature_over_another_body(self, post, channel):
        body = self.valid_body()
        other = body.replace(b"}", b" }", 1)
        assert other != body
        path = reverse("webhook", args=[self.PROVIDER, channel.account.key])
        signed_other = self.sign(
            method="POST",
            url=settings.PUBLIC_BASE_URL + path,
            body=other,
            content_type=self.content_type(self.VALID_FIXTURE),
            secrets=self.account_secrets(),
        )
        assert post(body, headers=signed_other).status_code == 403
        assert not Message.objects.exists()

    def test_it_rejects_a_signature_made_with_another_secret(self, post, channel):
        other = {name: f"other-{value}" for name, value in self.account_secrets().items()}
        assert post(self.VALID_FIXTURE, secrets=other).status_code == 403
        assert not Message.objects.exists()

    def test_it_rejects_everything_when_the_secret_is_missing(self, post, account, channel):
        missing = {**account.secrets, **dict.fromkeys(self.SIGNING_SECRETS, "")}
        account.secrets = missing
        account.save()
        # Signed with the empty secret: a check that skipped a missing secret would accept it.
        assert post(self.VALID_FIXTURE, secrets=missing).status_code == 403
        assert WebhookEvent.objects.get().state == WebhookEvent.State.REJECTED
        assert not Message.objects.exists()

    def test_a_replayed_request_stores_one_event_and_one_message(self, post, channel):
        assert post(self.VALID_FIXTURE).status_code == 200
        assert post(self.VALID_FIXTURE).status_code == 200
        assert WebhookEvent.objects.count() == 1
        assert Message.objects.count() == 1

    def test_each_fixture_posted_through_the_url(self, post, channel, fixture_name):
        assert post(fixture_name).status_code == 200
        assert WebhookEvent.objects.get().state == WebhookEvent.State.PROCESSED
        self.FIXTURE_CASES[fixture_name]()
