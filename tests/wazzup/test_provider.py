"""The Wazzup provider against a mocked API: sending with crmMessageId, error mapping, the
credential check, channels and the webhook subscription."""

import json

import pytest
import responses

from crm.models import Contact, ContactAddress
from messaging.models import Conversation, Message
from messaging.providers.base import OutboundMessage, ProviderError
from messaging.providers.wazzup import WazzupProvider, message_body
from messaging.services import message_deliver, message_send_text
from tests.wazzup.conftest import API, API_KEY, TELEGRAM_CHANNEL, WHATSAPP_CHANNEL, fixture_json


def provider(transport="whatsapp", **secrets):
    return WazzupProvider(
        settings={},
        secrets={"api_key": API_KEY, "webhook_token": "t", **secrets},
        channel_config={"transport": transport},
    )


def text(to="+447700900123", **extra):
    return OutboundMessage(to=to, type="text", text="Hi", callback_data="184512", **extra)


def test_the_send_body_matches_the_reference():
    expected = fixture_json("send_request.json")
    message = OutboundMessage(
        to="+447700900123",
        type="text",
        text=expected["text"],
        reply_to=expected["refMessageId"],
        callback_data=expected["crmMessageId"],
        author_id=expected["crmUserId"],
    )
    body = message_body(message, channel_id=WHATSAPP_CHANNEL, chat_type="whatsapp")
    assert body == expected


def test_media_goes_by_its_link_and_never_with_text():
    expected = fixture_json("send_media_request.json")
    message = OutboundMessage(
        to="+447700900123",
        type="image",
        media={"link": expected["contentUri"], "caption": "label"},
        callback_data=expected["crmMessageId"],
    )
    body = message_body(message, channel_id=WHATSAPP_CHANNEL, chat_type="whatsapp")
    assert body == expected
    assert "text" not in body


def test_telegram_sends_to_the_telegram_chat_id():
    message = text(to="", recipient_addresses={"telegram": "5123456789"})
    body = message_body(message, channel_id=TELEGRAM_CHANNEL, chat_type="telegram")
    assert (body["chatType"], body["chatId"]) == ("telegram", "5123456789")


def test_another_messenger_sends_to_its_wazzup_chat():
    message = text(to="", recipient_addresses={"wazzup": "instagram:example_client"})
    body = message_body(message, channel_id="c", chat_type="instagram")
    assert body["chatId"] == "example_client"


def test_a_contact_without_a_chat_of_that_kind_is_a_permanent_error():
    with pytest.raises(ProviderError) as caught:
        message_body(text(to=""), channel_id="c", chat_type="telegram")
    assert caught.value.permanent


@responses.activate
def test_send_returns_the_wazzup_message_id():
    responses.post(f"{API}/message", json=fixture_json("send_ok.json"), status=201)
    result = provider().send(sender_id=WHATSAPP_CHANNEL, message=text())
    assert result.provider_message_id == "e7f8a9b0-c1d2-4e3f-8a4b-5c6d7e8f9a0b"
    sent = json.loads(responses.calls[0].request.body)
    assert sent["crmMessageId"] == "184512"
    assert responses.calls[0].request.headers["Authorization"] == f"Bearer {API_KEY}"


@responses.activate
def test_a_repeated_crm_message_id_means_it_was_sent():
    responses.post(
        f"{API}/message", json=fixture_json("error_repeated_crm_message_id.json"), status=400
    )
    result = provider().send(sender_id=WHATSAPP_CHANNEL, message=text())
    assert result.provider_message_id == "crm:184512"


@pytest.mark.parametrize(
    ("status", "body", "permanent", "channel_problem", "credentials"),
    [
        (400, fixture_json("error_invalid_message_data.json"), True, False, False),
        (400, fixture_json("error_wrong_transport.json"), True, False, False),
        (400, {"error": "CHANNEL_NO_MONEY", "description": "no money"}, True, True, False),
        (400, {"error": "MESSAGE_CHANNEL_UNAVAILABLE"}, True, True, False),
        (400, {"error": "UNKNOWN_ERROR_WITH_TRACE_ID"}, False, False, False),
        (500, {}, False, False, False),
        (429, {}, False, False, False),
        (401, {}, True, False, True),
    ],
)
@responses.activate
def test_errors_are_mapped(status, body, permanent, channel_problem, credentials):
    responses.post(f"{API}/message", json=body, status=status)
    with pytest.raises(ProviderError) as caught:
        provider().send(sender_id=WHATSAPP_CHANNEL, message=text())
    error = caught.value
    assert (error.permanent, error.channel_problem, error.credentials_invalid) == (
        permanent,
        channel_problem,
        credentials,
    )
    if body.get("error"):
        assert body["error"] in error.message
    if status == 429:
        assert error.retry_after == 5


def test_text_limits_and_the_waba_window_come_from_the_transport():
    caps = WazzupProvider.capabilities_for
    assert caps(channel_config={"transport": "whatsapp"}).max_text_length == 10_000
    assert caps(channel_config={"transport": "instagram"}).max_text_length == 1000
    assert caps(channel_config={"transport": "telegram"}).max_text_length == 4096
    assert caps(channel_config={"transport": "wapi"}).service_window_hours == 24
    assert caps(channel_config={"transport": "whatsapp"}).service_window_hours is None


@responses.activate
def test_verify_lists_channels_and_checks_the_crm_routes():
    responses.get(f"{API}/channels", json=fixture_json("channels.json"))
    responses.get(f"{API}/users", json=fixture_json("users_list.json"))
    assert provider().verify_credentials() == "4 channel(s), 3 active."


@responses.activate
def test_verify_names_a_wrong_key():
    responses.get(f"{API}/channels", status=401)
    with pytest.raises(ProviderError, match="401: the API key is wrong"):
        provider().verify_credentials()


@responses.activate
def test_verify_names_a_sidecar_key():
    responses.get(f"{API}/channels", json=fixture_json("channels.json"))
    responses.get(f"{API}/users", status=403)
    with pytest.raises(ProviderError, match="Sidecar key"):
        provider().verify_credentials()


@responses.activate
def test_channels_list_maps_transports_and_states():
    responses.get(f"{API}/channels", json=fixture_json("channels.json"))
    channels = {c.external_id: c for c in provider().channels_list()}
    waba = channels["6f7a8b9c-0d1e-4f2a-9b3c-4d5e6f7a8b9c"]
    assert (waba.transport, waba.config["transport"], waba.healthy) == ("waba", "wapi", True)
    insta = channels["c9d8e7f6-a5b4-4c3d-8e2f-1a0b9c8d7e6f"]
    assert (insta.transport, insta.state, insta.healthy) == ("instagram", "unauthorized", False)


@responses.activate
def test_subscribe_sends_the_url_with_its_token_and_every_subscription():
    responses.patch(f"{API}/webhooks", json=fixture_json("webhooks_patch_ok.json"))
    provider(webhook_token="tok").webhooks_subscribe(
        url="https://hub.example.com/webhooks/wazzup/x/"
    )
    sent = json.loads(responses.calls[0].request.body)
    expected = fixture_json("webhooks_patch_request.json")
    assert sent.keys() == expected.keys()
    assert sent["webhooksUri"] == "https://hub.example.com/webhooks/wazzup/x/?key=tok"
    assert sent["subscriptions"] == {
        "messagesAndStatuses": True,
        "contactsAndDealsCreation": True,
        "channelsUpdates": True,
        "templateStatus": False,
    }


@responses.activate
def test_a_failed_test_call_is_a_clear_error():
    responses.patch(
        f"{API}/webhooks", json=fixture_json("webhooks_patch_error_test_failed.json"), status=400
    )
    with pytest.raises(ProviderError, match="testPostNotPassed"):
        provider(webhook_token="tok").webhooks_subscribe(url="https://hub.example.com/w/")


@responses.activate
def test_message_send_goes_out_with_crm_message_id_and_the_agent(wz_whatsapp):
    from tests.wazzup.conftest import make_agent

    anna = make_agent("anna", channels=[wz_whatsapp])
    contact = Contact.objects.create(phone="+447700900123", name="Olivia")
    Conversation.objects.create(channel=wz_whatsapp, contact=contact)
    responses.post(f"{API}/message", json=fixture_json("send_ok.json"), status=201)
    message = message_send_text(channel=wz_whatsapp, contact=contact, text="Hello", actor=anna)
    message_deliver(message_id=message.pk)
    message.refresh_from_db()
    assert message.status == "sent"
    sent = json.loads(responses.calls[0].request.body)
    assert sent == {
        "channelId": WHATSAPP_CHANNEL,
        "chatType": "whatsapp",
        "chatId": "447700900123",
        "text": "Hello",
        "crmUserId": str(anna.pk),
        "crmMessageId": str(message.pk),
    }


@responses.activate
def test_a_channel_problem_marks_the_channel_unhealthy(wz_telegram):
    contact = Contact.objects.create(name="Sam")
    ContactAddress.objects.create(contact=contact, transport="telegram", address="5123456789")
    Conversation.objects.create(channel=wz_telegram, contact=contact)
    responses.post(f"{API}/message", json={"error": "CHANNEL_BLOCKED"}, status=400)
    message = message_send_text(channel=wz_telegram, contact=contact, text="Hello")
    message_deliver(message_id=message.pk)
    wz_telegram.refresh_from_db()
    assert not wz_telegram.is_healthy
    assert "CHANNEL_BLOCKED" in wz_telegram.last_error
    assert Message.objects.get(pk=message.pk).status == "failed"


@responses.activate
def test_a_lost_answer_is_retried_with_the_same_crm_message_id(wz_whatsapp):
    import requests

    contact = Contact.objects.create(phone="+447700900123", name="Olivia")
    Conversation.objects.create(channel=wz_whatsapp, contact=contact)
    responses.post(f"{API}/message", body=requests.ReadTimeout("lost"))
    message = message_send_text(channel=wz_whatsapp, contact=contact, text="Hello")
    message_deliver(message_id=message.pk)
    message.refresh_from_db()
    assert message.status == "queued"  # retried, not parked as "outcome unknown"


@responses.activate
def test_the_hourly_sync_job_imports_channels_and_refreshes_states(wz_whatsapp):
    from integrations.services import templates_sync_all

    channels = fixture_json("channels.json")
    channels[0]["state"] = "qr"  # the WhatsApp number must be scanned again
    responses.get(f"{API}/channels", json=channels)
    report = templates_sync_all()
    assert (report.counts["channels_created"], report.counts["channels_updated"]) == (3, 1)
    wz_whatsapp.refresh_from_db()
    assert (wz_whatsapp.config["state"], wz_whatsapp.is_healthy) == ("qr", False)
    assert "qr" in wz_whatsapp.last_error


@responses.activate
def test_a_document_goes_out_by_its_temporary_link_as_content_uri(wz_whatsapp, settings, tmp_path):
    from django.core.files.base import ContentFile

    from messaging.documents import document_send

    settings.MEDIA_ROOT = str(tmp_path)
    contact = Contact.objects.create(phone="+447700900123", name="Olivia")
    Conversation.objects.create(channel=wz_whatsapp, contact=contact)
    responses.post(f"{API}/message", json=fixture_json("send_ok.json"), status=201)
    message = document_send(
        channel=wz_whatsapp,
        contact=contact,
        file=ContentFile(b"%PDF-1.4 label", name="label.pdf"),
        caption="Your label",
    )
    message_deliver(message_id=message.pk)
    sent = json.loads(responses.calls[0].request.body)
    assert sent["contentUri"].startswith(settings.PUBLIC_BASE_URL + "/")
    assert "text" not in sent  # Wazzup takes text or contentUri, never both
    assert Message.objects.get(pk=message.pk).status == "sent"
