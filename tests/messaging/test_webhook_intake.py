"""The webhook endpoint: authentic requests are stored and processed, anything else is stored,
flagged and refused, and nothing in this path answers 500."""

import json
from datetime import timedelta
from unittest import mock

import pytest
import time_machine
from django.db import DatabaseError

from messaging.models import Message, WebhookEvent
from messaging.services import webhook_event_reprocess, webhook_events_requeue

from .conftest import FIXTURES, PHONE_NUMBER_ID, WABA_ID, fixture_bytes, sign
from .webhook_cases import ProviderWebhookCases

pytestmark = pytest.mark.django_db


def only_message(**expected):
    def check():
        message = Message.objects.get()
        assert {name: getattr(message, name) for name in expected} == expected

    return check


class TestWhatsAppCloudWebhook(ProviderWebhookCases):
    PROVIDER = "whatsapp_cloud"
    FIXTURE_DIR = FIXTURES
    VALID_FIXTURE = "inbound_text.json"
    SIGNING_SECRETS = ("app_secret",)
    FIXTURE_CASES = {
        "inbound_text.json": only_message(direction="in", type="text"),
        "inbound_image.json": only_message(direction="in", type="image"),
        "inbound_location.json": only_message(direction="in", type="location"),
        "inbound_interactive_button_reply.json": only_message(direction="in", type="interactive"),
    }

    def account_settings(self):
        return {"app_id": "1234567890", "waba_id": WABA_ID, "graph_version": "v23.0"}

    def account_secrets(self):
        return {"app_secret": "kit-app-secret", "verify_token": "v", "access_token": "EAAtok"}

    def channel_kwargs(self):
        return {"name": "Support line", "external_id": PHONE_NUMBER_ID}

    def sign(self, *, method, url, body, content_type, secrets):
        return {"X-Hub-Signature-256": sign(body, secrets["app_secret"])}


class TestSignatureSecurity:
    """Every provider's webhook must pass this set."""

    def test_it_accepts_a_valid_signature(self, post_webhook, wa_channel):
        response = post_webhook("inbound_text.json")
        assert response.status_code == 200
        event = WebhookEvent.objects.get()
        assert event.signature_valid is True
        assert event.state == WebhookEvent.State.PROCESSED
        assert Message.objects.count() == 1

    def test_it_rejects_a_missing_signature_and_keeps_the_attempt(self, post_webhook, wa_channel):
        response = post_webhook("inbound_text.json", signature="")
        assert response.status_code == 403
        event = WebhookEvent.objects.get()
        assert event.state == WebhookEvent.State.REJECTED
        assert event.signature_valid is False
        assert bytes(event.body) == fixture_bytes("inbound_text.json")
        assert Message.objects.count() == 0

    def test_it_rejects_a_wrong_signature(self, post_webhook, wa_channel):
        body = fixture_bytes("inbound_text.json")
        response = post_webhook(body, signature=sign(body, "another-secret"))
        assert response.status_code == 403
        assert WebhookEvent.objects.get().state == WebhookEvent.State.REJECTED
        assert Message.objects.count() == 0

    def test_it_rejects_a_tampered_body(self, post_webhook, wa_channel):
        body = fixture_bytes("inbound_text.json")
        tampered = body.replace(b"has not arrived", b"has arrived")
        response = post_webhook(tampered, signature=sign(body))
        assert response.status_code == 403
        assert Message.objects.count() == 0

    def test_it_rejects_everything_when_no_app_secret_is_configured(
        self, post_webhook, wa_account, wa_channel
    ):
        wa_account.secrets = {**wa_account.secrets, "app_secret": ""}
        wa_account.save()
        body = fixture_bytes("inbound_text.json")
        # Signed with an empty key: a check that skipped a missing secret would accept this.
        response = post_webhook(body, signature=sign(body, ""))
        assert response.status_code == 403
        assert WebhookEvent.objects.get().state == WebhookEvent.State.REJECTED
        assert Message.objects.count() == 0

    def test_a_duplicate_delivery_is_a_no_op(self, post_webhook, wa_channel):
        assert post_webhook("inbound_text.json").status_code == 200
        assert post_webhook("inbound_text.json").status_code == 200
        assert Message.objects.count() == 1

    def test_the_same_message_in_another_envelope_is_stored_once(self, post_webhook, wa_channel):
        body = json.loads(fixture_bytes("inbound_text.json"))
        post_webhook(body)
        body["entry"][0]["time"] = 1  # another body, same message id
        post_webhook(body)
        assert WebhookEvent.objects.filter(state="processed").count() == 2
        assert Message.objects.count() == 1


def test_the_reference_signature_vector_verifies(client, wa_account):
    vector = json.loads(fixture_bytes("signature_vector.json"))
    wa_account.secrets = {**wa_account.secrets, "app_secret": vector["app_secret"]}
    wa_account.save()
    response = client.post(
        f"/webhooks/whatsapp/{wa_account.key}/",
        data=fixture_bytes("signed_body.json"),
        content_type="application/json",
        HTTP_X_HUB_SIGNATURE_256=vector["expected_header_value"],
    )
    assert response.status_code == 200


def test_handshake_answers_the_challenge(client, wa_account):
    query = {
        "hub.mode": "subscribe",
        "hub.verify_token": "verify-me",
        "hub.challenge": "1158201444",
    }
    response = client.get(f"/webhooks/whatsapp/{wa_account.key}/", query)
    assert response.status_code == 200
    assert response.content == b"1158201444"


def test_handshake_with_a_wrong_token_is_forbidden(client, wa_account):
    query = {"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "1158201444"}
    response = client.get(f"/webhooks/whatsapp/{wa_account.key}/", query)
    assert response.status_code == 403
    assert b"1158201444" not in response.content


def test_an_unknown_account_key_is_404(client, db):
    response = client.post(
        "/webhooks/whatsapp/00000000-0000-0000-0000-000000000000/",
        data=b"{}",
        content_type="application/json",
    )
    assert response.status_code == 404


def test_a_malformed_body_is_stored_as_failed_and_answered_200(post_webhook, wa_channel):
    response = post_webhook(b"{not json at all")
    assert response.status_code == 200
    event = WebhookEvent.objects.get()
    assert event.state == WebhookEvent.State.FAILED
    assert event.error.startswith("Malformed payload")
    assert bytes(event.body) == b"{not json at all"


def test_an_inactive_accounts_events_are_stored_and_not_processed(
    post_webhook, wa_account, wa_channel
):
    wa_account.is_active = False
    wa_account.save()
    response = post_webhook("inbound_text.json")
    assert response.status_code == 200
    event = WebhookEvent.objects.get()
    assert event.state == WebhookEvent.State.SKIPPED
    assert Message.objects.count() == 0


def test_a_change_for_an_unknown_phone_number_id_is_flagged(post_webhook, wa_account):
    response = post_webhook("inbound_text.json")  # no channel exists yet
    assert response.status_code == 200
    event = WebhookEvent.objects.get()
    assert event.state == WebhookEvent.State.FAILED
    assert "No channel has the provider id '117094531254879'" in event.error


def test_a_database_outage_answers_503_so_meta_retries(post_webhook, wa_channel):
    with mock.patch("messaging.webhooks.webhook_event_store", side_effect=DatabaseError("down")):
        response = post_webhook("inbound_text.json")
    assert response.status_code == 503


def test_the_sweeper_requeues_events_left_pending(post_webhook, wa_channel):
    with mock.patch("messaging.services.inbound.task_wake"):  # the wake-up was lost
        post_webhook("inbound_text.json")
    event = WebhookEvent.objects.get()
    assert event.state == WebhookEvent.State.PENDING
    assert Message.objects.count() == 0
    assert webhook_events_requeue() == 0  # too recent: may still be on its way
    with time_machine.travel(event.received_at + timedelta(minutes=5)):
        assert webhook_events_requeue() == 1
    event.refresh_from_db()
    assert event.state == WebhookEvent.State.PROCESSED
    assert Message.objects.count() == 1


def test_a_failed_event_is_processed_again_once_its_channel_exists(
    post_webhook, wa_account, wa_channel
):
    wa_channel.external_id = "someone-else"
    wa_channel.save()
    post_webhook("inbound_text.json")
    assert WebhookEvent.objects.get().state == WebhookEvent.State.FAILED
    wa_channel.external_id = "117094531254879"
    wa_channel.save()
    assert webhook_events_requeue() == 1
    assert WebhookEvent.objects.get().state == WebhookEvent.State.PROCESSED
    assert Message.objects.count() == 1


def test_reprocessing_never_processes_a_rejected_event(post_webhook, wa_channel):
    post_webhook("inbound_text.json", signature="sha256=" + "0" * 64)
    event = WebhookEvent.objects.get()
    assert webhook_event_reprocess(event_id=event.pk).state == WebhookEvent.State.REJECTED
    assert Message.objects.count() == 0


def test_a_saved_account_is_not_served_from_the_cache(post_webhook, wa_account, wa_channel):
    assert post_webhook("inbound_text.json").status_code == 200  # the account is now cached
    wa_account.secrets = {**wa_account.secrets, "app_secret": "rotated-secret"}
    wa_account.save()
    body = fixture_bytes("status_sent.json")
    # Signed with the old secret: refused at once, not after the cache expires.
    assert post_webhook(body).status_code == 403
    assert post_webhook(body, signature=sign(body, "rotated-secret")).status_code == 200


def test_the_cache_lets_an_unchanged_account_skip_the_lookup(
    post_webhook, wa_account, wa_channel, django_assert_num_queries
):
    post_webhook("status_sent.json")
    body = fixture_bytes("inbound_text.json")
    # The insert only: no account query, no savepoint.
    with mock.patch("messaging.services.inbound.task_wake"), django_assert_num_queries(1):
        post_webhook(body)
