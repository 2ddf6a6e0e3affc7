"""Providers that name their deliveries (Provider.dedupe_key) are deduplicated by that name, per
account and channel; and an event posted to a channel's URL is parsed with that channel."""

import json
from unittest import mock

import pytest

from messaging.models import WebhookEvent
from messaging.providers.whatsapp_cloud import WhatsAppCloudProvider
from messaging.services import inbound, webhook_event_store

from .conftest import inbound_body

pytestmark = pytest.mark.django_db


def body(text: str) -> bytes:
    message = {"id": "wamid.k1", "timestamp": "1752489300", "type": "text", "text": {"body": text}}
    return json.dumps(inbound_body(message)).encode()


@pytest.fixture(autouse=True)
def no_wake():
    with mock.patch("messaging.services.inbound.task_wake"):
        yield


def test_another_body_with_the_same_delivery_key_is_a_redelivery(wa_account, wa_channel):
    first = webhook_event_store(
        provider="whatsapp_cloud",
        account=wa_account,
        body=body("a"),
        headers={},
        delivery_key="update-7",
    )
    again = webhook_event_store(
        provider="whatsapp_cloud",
        account=wa_account,
        body=body("b"),
        headers={},
        delivery_key="update-7",
    )
    assert first is not None
    assert again is None
    assert WebhookEvent.objects.count() == 1


def test_a_delivery_key_is_scoped_to_the_channel(wa_account, wa_channel):
    other = wa_channel.__class__.objects.create(
        name="Other bot", account=wa_account, provider="whatsapp_cloud", external_id="999"
    )
    ids = [
        webhook_event_store(
            provider="whatsapp_cloud",
            account=wa_account,
            channel=channel,
            body=body("a"),
            headers={},
            delivery_key="update-7",
        )
        for channel in (wa_channel, other)
    ]
    assert None not in ids
    assert set(WebhookEvent.objects.values_list("channel_id", flat=True)) == {
        wa_channel.pk,
        other.pk,
    }


def test_without_a_delivery_key_only_an_identical_body_is_a_redelivery(wa_account):
    stored = [
        webhook_event_store(provider="whatsapp_cloud", account=wa_account, body=b, headers={})
        for b in (body("a"), body("b"), body("a"))
    ]
    assert stored[0] is not None and stored[1] is not None
    assert stored[2] is None


def test_an_event_from_a_channel_url_is_parsed_with_that_channels_settings(wa_account, wa_channel):
    wa_channel.config = {"marker": "this channel"}
    wa_channel.save()
    event_id = webhook_event_store(
        provider="whatsapp_cloud",
        account=wa_account,
        channel=wa_channel,
        body=body("a"),
        headers={},
    )
    seen = []
    real_parse = WhatsAppCloudProvider.parse_webhook

    def parse(self, request):
        seen.append(self.channel_config)
        return real_parse(self, request)

    with mock.patch.object(WhatsAppCloudProvider, "parse_webhook", parse):
        inbound.webhook_event_process(event_id=event_id)
    assert seen == [{"marker": "this channel"}]


def test_the_webhook_view_stores_the_channel_of_a_channel_url(client, wa_account, wa_channel):
    with (
        mock.patch.object(WhatsAppCloudProvider, "verify_request"),
        mock.patch.object(WhatsAppCloudProvider, "dedupe_key", return_value="delivery-1"),
    ):
        for text in ("a", "b"):
            response = client.post(
                f"/webhooks/whatsapp_cloud/{wa_channel.key}/",
                data=body(text),
                content_type="application/json",
            )
            assert response.status_code == 200
    event = WebhookEvent.objects.get()
    assert event.channel == wa_channel
