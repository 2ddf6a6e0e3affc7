import json
from datetime import UTC, datetime
from pathlib import Path
from unittest import mock

import pytest
import requests
import responses
from django.http import HttpHeaders, QueryDict
from responses import matchers

from messaging import http
from messaging.providers import provider_class
from messaging.providers.base import (
    DeliveryStatus,
    ErrorInfo,
    IgnoredItem,
    InboundMessage,
    MalformedPayload,
    MessageType,
    OutboundMessage,
    ProviderError,
    StatusUpdate,
    TemplateCall,
    TemplateStatusUpdate,
    UnparsedItem,
    WebhookRejected,
)
from messaging.providers.whatsapp_cloud import (
    TEMPLATE_FIELDS,
    WhatsAppCloudProvider,
    signature_for,
)
from messaging.webhook_request import webhook_request

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "whatsapp_cloud"
GRAPH = "https://graph.facebook.com/v23.0"
WABA_ID = "104896532187654"
PHONE_NUMBER_ID = "117094531254879"
TOKEN = "EAAtest-access-token"
VECTOR = json.loads((FIXTURES / "signature_vector.json").read_text())
APP_SECRET = VECTOR["app_secret"]
VERIFY_TOKEN = "hub-verify-7Qm2xT9"
OLIVIA = "447700900123"
SENT_WAMID = "wamid.HBgMNDQ3NzAwOTAwMTIzFQIAERgSNUExQjJDM0Q0RTVGNjA3MTgyAA=="
TEMPLATE_WAMID = "wamid.HBgMNDQ3NzAwOTAwMTIzFQIAERgSNzdBQTg4QkI5OUNDMDBERDExAA=="
SEND_URL = f"{GRAPH}/{PHONE_NUMBER_ID}/messages"


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def fixture_json(name: str):
    return json.loads(fixture_bytes(name))


@pytest.fixture(autouse=True)
def graph_settings(settings):
    settings.GRAPH_API_BASE_URL = "https://graph.facebook.com"
    settings.GRAPH_API_VERSION = "v23.0"


def make_provider(settings=None, **secrets) -> WhatsAppCloudProvider:
    all_secrets = {
        "app_secret": APP_SECRET,
        "verify_token": VERIFY_TOKEN,
        "access_token": TOKEN,
        **secrets,
    }
    return WhatsAppCloudProvider(
        settings=settings or {"app_id": "987654321012345", "waba_id": WABA_ID},
        secrets=all_secrets,
    )


@pytest.fixture
def provider():
    return make_provider()


@pytest.fixture
def graph():
    with responses.RequestsMock() as mocked:
        yield mocked


def parse(provider, data) -> list:
    body = data if isinstance(data, bytes) else json.dumps(data).encode()
    return provider.parse_webhook(webhook_request(body))


def parse_one(provider, name):
    items = parse(provider, fixture_bytes(name))
    assert len(items) == 1
    return items[0]


def first_message(data: dict) -> dict:
    return data["entry"][0]["changes"][0]["value"]["messages"][0]


def assert_same_fields(sent: dict, expected: dict):
    assert sorted(sent) == sorted(expected)
    for key, value in expected.items():
        assert sent[key] == value, key


def sent_json(graph, index=0) -> dict:
    return json.loads(graph.calls[index].request.body)


# Registry and config


def test_it_is_registered_under_its_key():
    assert provider_class("whatsapp_cloud") is WhatsAppCloudProvider
    assert WhatsAppCloudProvider.key == "whatsapp_cloud"
    assert WhatsAppCloudProvider.setting_fields == ("app_id", "waba_id", "graph_version")
    assert WhatsAppCloudProvider.secret_fields == ("app_secret", "verify_token", "access_token")


def test_it_accepts_a_complete_config():
    errors = WhatsAppCloudProvider.validate_config(
        settings={"app_id": "987654321012345", "waba_id": WABA_ID, "graph_version": "v24.0"},
        secrets={"app_secret": "s", "verify_token": "v", "access_token": "t"},
    )
    assert errors == {}


def test_it_accepts_a_config_without_graph_version():
    errors = WhatsAppCloudProvider.validate_config(
        settings={"app_id": "1", "waba_id": "2"},
        secrets={"app_secret": "s", "verify_token": "v", "access_token": "t"},
    )
    assert errors == {}


def test_it_reports_missing_and_ill_formed_config():
    errors = WhatsAppCloudProvider.validate_config(
        settings={"app_id": "app-1", "graph_version": "23.0"},
        secrets={"app_secret": " ", "verify_token": ""},
    )
    assert sorted(errors) == [
        "access_token",
        "app_id",
        "app_secret",
        "graph_version",
        "verify_token",
        "waba_id",
    ]
    assert "Digits" in errors["app_id"]
    assert errors["waba_id"] == "Required."
    assert "v23.0" in errors["graph_version"]


# Signature


def test_it_signs_like_the_reference_vector():
    body = fixture_bytes("signed_body.json")
    assert VECTOR["body_file"].removeprefix("meta_") == "signed_body.json"
    assert signature_for(body, APP_SECRET) == VECTOR["expected_header_value"]


def test_it_accepts_the_reference_signature(provider):
    body = fixture_bytes("signed_body.json")
    headers = {VECTOR["header_name"]: VECTOR["expected_header_value"]}
    assert provider.verify_request(webhook_request(body, headers=headers)) is None


def test_it_rejects_the_signature_of_reserialised_json(provider):
    body = fixture_bytes("signed_body.json")
    reserialised = json.dumps(json.loads(body), ensure_ascii=False, separators=(",", ":"))
    negative = VECTOR["negative_case_reserialized_unescaped_json"]
    assert signature_for(reserialised.encode(), APP_SECRET) == negative
    with pytest.raises(WebhookRejected, match="does not match"):
        provider.verify_request(webhook_request(body, headers={"X-Hub-Signature-256": negative}))


@pytest.mark.parametrize(
    "headers",
    [
        {"x-hub-signature-256": VECTOR["expected_header_value"]},
        {"X-HUB-SIGNATURE-256": VECTOR["expected_header_value"]},
        HttpHeaders({"HTTP_X_HUB_SIGNATURE_256": VECTOR["expected_header_value"]}),
    ],
)
def test_it_finds_the_signature_header_in_any_casing(provider, headers):
    body = fixture_bytes("signed_body.json")
    assert provider.verify_request(webhook_request(body, headers=headers)) is None


def test_it_rejects_a_missing_signature(provider):
    legacy_only = {"X-Hub-Signature": "sha1=0123456789abcdef0123456789abcdef01234567"}
    with pytest.raises(WebhookRejected, match="Missing X-Hub-Signature-256"):
        provider.verify_request(
            webhook_request(fixture_bytes("signed_body.json"), headers=legacy_only)
        )


@pytest.mark.parametrize("value", ["sha1=abc", "sha256=xyz", "sha256=", "17eceff8b12d258ea97c"])
def test_it_rejects_a_malformed_signature(provider, value):
    with pytest.raises(WebhookRejected, match="Malformed"):
        provider.verify_request(
            webhook_request(
                fixture_bytes("signed_body.json"), headers={"X-Hub-Signature-256": value}
            )
        )


def test_it_rejects_a_signature_made_with_another_secret(provider):
    body = fixture_bytes("signed_body.json")
    headers = {"X-Hub-Signature-256": signature_for(body, "another-app-secret")}
    with pytest.raises(WebhookRejected, match="does not match"):
        provider.verify_request(webhook_request(body, headers=headers))


def test_it_rejects_a_tampered_body(provider):
    body = fixture_bytes("signed_body.json").replace(b"447700900456", b"447700900999")
    headers = {"X-Hub-Signature-256": VECTOR["expected_header_value"]}
    with pytest.raises(WebhookRejected, match="does not match"):
        provider.verify_request(webhook_request(body, headers=headers))


def test_it_rejects_everything_without_an_app_secret():
    provider = make_provider(app_secret="")
    body = fixture_bytes("signed_body.json")
    headers = {"X-Hub-Signature-256": signature_for(body, "")}
    with pytest.raises(WebhookRejected, match="no app secret configured"):
        provider.verify_request(webhook_request(body, headers=headers))


# Handshake


def test_it_answers_the_handshake_with_the_challenge(provider):
    params = QueryDict(fixture_bytes("verify_get.query").decode().strip())
    assert provider.handshake(webhook_request(method="GET", query=params)) == "1158201444"


def test_it_refuses_a_handshake_with_the_wrong_token(provider):
    params = {"hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "1"}
    with pytest.raises(WebhookRejected, match="verify_token does not match"):
        provider.handshake(webhook_request(method="GET", query=params))


def test_it_refuses_a_handshake_with_another_mode(provider):
    params = {"hub.mode": "unsubscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1"}
    with pytest.raises(WebhookRejected, match=r"hub\.mode"):
        provider.handshake(webhook_request(method="GET", query=params))


def test_it_refuses_a_handshake_without_challenge(provider):
    params = {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN}
    with pytest.raises(WebhookRejected, match="challenge"):
        provider.handshake(webhook_request(method="GET", query=params))


def test_it_refuses_every_handshake_without_a_verify_token():
    provider = make_provider(verify_token="")
    params = {"hub.mode": "subscribe", "hub.verify_token": "", "hub.challenge": "1"}
    with pytest.raises(WebhookRejected, match="no verify token"):
        provider.handshake(webhook_request(method="GET", query=params))


# Inbound messages


def test_it_parses_a_text_message(provider):
    item = parse_one(provider, "inbound_text.json")
    assert isinstance(item, InboundMessage)
    assert item.provider_message_id == (
        "wamid.HBgMNDQ3NzAwOTAwMTIzFQIAEhggM0VCMEExRjI3QzlENEU1OEI2QTBDMkQxRTRGNUE2QjcA"
    )
    assert item.channel_external_id == PHONE_NUMBER_ID
    assert item.sender == OLIVIA
    assert item.sender_name == "Olivia Bennett"
    assert item.timestamp == datetime(2025, 7, 14, 10, 30, 5, tzinfo=UTC)
    assert item.type == MessageType.TEXT
    assert item.text == "Hi, my order #4821 has not arrived yet"
    assert item.payload == {}
    assert item.reply_to == ""
    assert item.errors == []
    assert item.raw == first_message(fixture_json("inbound_text.json"))


def test_it_parses_escaped_unicode_from_the_signed_body(provider):
    item = parse_one(provider, "signed_body.json")
    assert item.sender_name == "Tomás Ruiz"
    assert item.text == "¿Hay alguien ahí?"


def test_it_leaves_the_sender_name_empty_without_a_profile(provider):
    data = fixture_json("inbound_text.json")
    del data["entry"][0]["changes"][0]["value"]["contacts"][0]["profile"]
    [item] = parse(provider, data)
    assert item.sender_name == ""


MEDIA_CASES = [
    (
        "inbound_image.json",
        MessageType.IMAGE,
        {
            "media_id": "1093847561029384",
            "mime_type": "image/jpeg",
            "sha256": "q3K8yT0mR5vN2bX7cL1pW9eZ4hJ6gF0sA8dU3iO5kYw=",
            "filename": "",
            "caption": "Damaged box",
            "voice": False,
            "animated": False,
            "url": "",
        },
    ),
    (
        "inbound_video.json",
        MessageType.VIDEO,
        {
            "media_id": "5530192837465019",
            "mime_type": "video/mp4",
            "sha256": "RmFrZVZpZGVvSGFzaEJhc2U2NEV4YW1wbGUwMDAwMDA=",
            "filename": "",
            "caption": "Unboxing",
            "voice": False,
            "animated": False,
            "url": "",
        },
    ),
    (
        "inbound_document.json",
        MessageType.DOCUMENT,
        {
            "media_id": "2203948576120394",
            "mime_type": "application/pdf",
            "sha256": "Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZmdoaWo=",
            "filename": "invoice-4821.pdf",
            "caption": "Invoice",
            "voice": False,
            "animated": False,
            "url": "",
        },
    ),
    (
        "inbound_audio_voice.json",
        MessageType.AUDIO,
        {
            "media_id": "3319485762039485",
            "mime_type": "audio/ogg; codecs=opus",
            "sha256": "Vm9pY2Vub3RlaGFzaGV4YW1wbGUwMDExMjIzMzQ0NTU=",
            "filename": "",
            "caption": "",
            "voice": True,
            "animated": False,
            "url": "",
        },
    ),
    (
        "inbound_sticker.json",
        MessageType.STICKER,
        {
            "media_id": "4420596873140596",
            "mime_type": "image/webp",
            "sha256": "U3RpY2tlcmhhc2hleGFtcGxlQUFCQkNDRERFRUZGMDA=",
            "filename": "",
            "caption": "",
            "voice": False,
            "animated": False,
            "url": "",
        },
    ),
]


@pytest.mark.parametrize(("name", "kind", "payload"), MEDIA_CASES)
def test_it_parses_media_messages(provider, name, kind, payload):
    item = parse_one(provider, name)
    assert item.type == kind
    assert item.payload == payload
    assert item.text == payload["caption"]


def test_it_keeps_the_direct_media_url_when_meta_sends_one(provider):
    data = fixture_json("inbound_image.json")
    first_message(data)["image"]["url"] = "https://lookaside.fbsbx.com/fake-direct-url"
    [item] = parse(provider, data)
    assert item.payload["url"] == "https://lookaside.fbsbx.com/fake-direct-url"


def test_it_parses_a_location(provider):
    item = parse_one(provider, "inbound_location.json")
    assert item.type == MessageType.LOCATION
    assert item.payload == {
        "latitude": 51.5033635,
        "longitude": -0.1276248,
        "name": "Parcel locker 17",
        "address": "10 Example Street, London",
        "url": "",
    }
    assert item.text == "Parcel locker 17, 10 Example Street, London"


def test_it_parses_shared_contacts(provider):
    item = parse_one(provider, "inbound_contacts.json")
    assert item.type == MessageType.CONTACTS
    wire_contacts = first_message(fixture_json("inbound_contacts.json"))["contacts"]
    assert item.payload == {"contacts": wire_contacts}
    assert item.payload["contacts"][0]["phones"][0]["wa_id"] == "447700900789"
    assert item.text == "Sam Carter"


def test_it_parses_an_interactive_button_reply(provider):
    item = parse_one(provider, "inbound_interactive_button_reply.json")
    assert item.type == MessageType.INTERACTIVE
    assert item.payload == {
        "kind": "button_reply",
        "id": "ticket_close:4821",
        "title": "Close ticket",
        "description": "",
    }
    assert item.text == "Close ticket"
    assert item.reply_to == "wamid.HBgMNDQ3NzAwOTAwMTIzFQIAERgSOUY4RTdENkM1QjRBMzkyODE3AA=="


def test_it_parses_an_interactive_list_reply(provider):
    item = parse_one(provider, "inbound_interactive_list_reply.json")
    assert item.payload == {
        "kind": "list_reply",
        "id": "topic_delivery",
        "title": "Delivery",
        "description": "Where is my parcel?",
    }
    assert item.text == "Delivery"


def test_it_parses_a_flow_reply_and_keeps_the_answers_in_raw(provider):
    item = parse_one(provider, "inbound_interactive_nfm_reply.json")
    assert item.type == MessageType.INTERACTIVE
    assert item.payload == {"kind": "nfm_reply", "id": "flow", "title": "Sent", "description": ""}
    answers = json.loads(item.raw["interactive"]["nfm_reply"]["response_json"])
    assert answers["rating"] == "5"


def test_it_parses_a_template_quick_reply_button(provider):
    item = parse_one(provider, "inbound_button_template.json")
    assert item.type == MessageType.BUTTON
    assert item.payload == {"text": "Talk to an agent", "payload": "agent_request"}
    assert item.text == "Talk to an agent"
    assert item.reply_to == TEMPLATE_WAMID


def test_it_parses_a_reaction(provider):
    item = parse_one(provider, "inbound_reaction.json")
    assert item.type == MessageType.REACTION
    assert item.payload == {"message_id": SENT_WAMID, "emoji": "👍"}
    assert item.text == "👍"


def test_it_reads_a_reaction_without_emoji_as_removed(provider):
    item = parse_one(provider, "inbound_reaction_removed.json")
    assert item.type == MessageType.REACTION
    assert item.payload == {"message_id": SENT_WAMID, "emoji": ""}
    assert item.text == ""


def test_it_reads_a_reaction_with_empty_emoji_as_removed(provider):
    data = fixture_json("inbound_reaction.json")
    first_message(data)["reaction"]["emoji"] = ""
    [item] = parse(provider, data)
    assert item.payload == {"message_id": SENT_WAMID, "emoji": ""}


def test_it_parses_a_reply_context(provider):
    item = parse_one(provider, "inbound_reply_context.json")
    assert item.type == MessageType.TEXT
    assert item.text == "SW1A 1AA"
    assert item.reply_to == SENT_WAMID


def test_it_ignores_a_forwarded_context_without_id(provider):
    data = fixture_json("inbound_text.json")
    first_message(data)["context"] = {"forwarded": True}
    [item] = parse(provider, data)
    assert item.reply_to == ""


def test_it_parses_an_order_keeping_the_wire_keys(provider):
    item = parse_one(provider, "inbound_order.json")
    assert item.type == MessageType.ORDER
    assert item.payload == first_message(fixture_json("inbound_order.json"))["order"]
    assert item.payload["product_items"][0]["product_retailer_id"] == "SKU-4821"
    assert item.text == "Two please"


def test_it_parses_a_system_message_without_a_contact_profile(provider):
    item = parse_one(provider, "inbound_system.json")
    assert item.type == MessageType.SYSTEM
    assert item.payload["type"] == "user_changed_number"
    assert item.payload["wa_id"] == "447700900999"
    assert item.text == "Olivia changed their phone number to a new number"
    assert item.sender_name == ""


def test_it_parses_an_unsupported_message_with_its_errors(provider):
    item = parse_one(provider, "inbound_unsupported.json")
    assert item.type == MessageType.UNSUPPORTED
    assert item.text == ""
    assert item.payload == {}
    assert item.errors == [
        ErrorInfo(
            code=131051,
            title="Message type unknown",
            details="Message type is currently not supported.",
        )
    ]


def test_it_keeps_unknown_types_as_unknown_with_raw(provider):
    item = parse_one(provider, "inbound_unknown_type.json")
    assert item.type == MessageType.UNKNOWN
    assert item.payload == {}
    assert item.raw["type"] == "request_welcome"
    assert item.sender == OLIVIA


def test_it_keeps_the_object_of_an_unknown_type(provider):
    data = fixture_json("inbound_text.json")
    message = first_message(data)
    message["type"] = "hologram"
    message["hologram"] = {"id": "1", "depth": 3}
    [item] = parse(provider, data)
    assert item.type == MessageType.UNKNOWN
    assert item.payload == {"id": "1", "depth": 3}


# Statuses


def test_it_parses_a_sent_status_with_conversation(provider):
    item = parse_one(provider, "status_sent.json")
    assert isinstance(item, StatusUpdate)
    assert item.provider_message_id == SENT_WAMID
    assert item.channel_external_id == PHONE_NUMBER_ID
    assert item.status == DeliveryStatus.SENT
    assert item.timestamp == datetime(2025, 7, 14, 10, 36, 40, tzinfo=UTC)
    assert item.recipient == OLIVIA
    assert item.callback_data == ""
    assert item.errors == []
    assert item.raw["conversation"]["origin"]["type"] == "service"


def test_it_parses_a_v24_sent_status_without_conversation(provider):
    item = parse_one(provider, "status_sent_v24_no_conversation.json")
    assert item.status == DeliveryStatus.SENT
    assert item.timestamp == datetime(2025, 7, 14, 10, 36, 40, tzinfo=UTC)
    assert item.callback_data == "msg:0f3c2a9e-5b7d-4e1a-9c8b-2d6f4a1e7b30"
    assert "conversation" not in item.raw


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("status_delivered_template.json", DeliveryStatus.DELIVERED),
        ("status_read.json", DeliveryStatus.READ),
        ("status_played.json", DeliveryStatus.READ),
    ],
)
def test_it_maps_delivery_statuses(provider, name, status):
    item = parse_one(provider, name)
    assert isinstance(item, StatusUpdate)
    assert item.status == status


def test_it_maps_an_unknown_status_to_unknown(provider):
    data = fixture_json("status_read.json")
    data["entry"][0]["changes"][0]["value"]["statuses"][0]["status"] = "deleted"
    [item] = parse(provider, data)
    assert item.status == DeliveryStatus.UNKNOWN


def test_it_parses_a_failed_status_outside_the_window(provider):
    item = parse_one(provider, "status_failed_131047.json")
    assert item.status == DeliveryStatus.FAILED
    assert item.recipient == "447700900456"
    assert item.errors == [
        ErrorInfo(
            code=131047,
            title="Re-engagement message",
            details=(
                "Message failed to send because more than 24 hours have passed since the "
                "customer last replied to this number."
            ),
        )
    ]


def test_it_parses_a_failed_undeliverable_status(provider):
    item = parse_one(provider, "status_failed_131026.json")
    assert item.status == DeliveryStatus.FAILED
    assert item.errors == [
        ErrorInfo(
            code=131026,
            title="Message undeliverable",
            details="Message could not be delivered to the recipient.",
        )
    ]


# Template status updates and other fields


def test_it_parses_an_approved_template_update(provider):
    item = parse_one(provider, "template_status_update_approved.json")
    assert item == TemplateStatusUpdate(
        account_external_id=WABA_ID,
        template_external_id="1298374650192837",
        name="order_shipped",
        language="en_US",
        status="APPROVED",
        reason="",
        raw=fixture_json("template_status_update_approved.json")["entry"][0]["changes"][0]["value"],
    )


def test_it_parses_a_rejected_template_update(provider):
    item = parse_one(provider, "template_status_update_rejected.json")
    assert isinstance(item, TemplateStatusUpdate)
    assert item.template_external_id == "1298374650192999"
    assert item.name == "summer_promo"
    assert item.status == "REJECTED"
    assert item.reason == "INVALID_FORMAT"
    assert item.raw["rejection_info"]["recommendation"].startswith("Remove")


def test_it_ignores_fields_it_does_not_handle(provider):
    item = parse_one(provider, "phone_number_quality_update.json")
    assert isinstance(item, IgnoredItem)
    assert "phone_number_quality_update" in item.reason
    assert item.raw["value"]["event"] == "FLAGGED"


def test_it_ignores_a_messages_change_with_nothing_in_it(provider):
    data = fixture_json("inbound_text.json")
    value = data["entry"][0]["changes"][0]["value"]
    del value["messages"]
    [item] = parse(provider, data)
    assert isinstance(item, IgnoredItem)
    assert "no messages" in item.reason


def test_it_reports_system_errors_as_unparsed(provider):
    item = parse_one(provider, "webhook_value_errors.json")
    assert isinstance(item, UnparsedItem)
    assert item.error == (
        "Meta reported a webhook error: 131000 Something went wrong: "
        "Webhook payload could not be generated."
    )
    assert item.channel_external_id == PHONE_NUMBER_ID
    assert item.raw["code"] == 131000


# Batches


def test_it_reads_every_entry_of_a_mixed_batch(provider):
    items = parse(provider, fixture_bytes("inbound_batch_mixed.json"))
    assert [type(item) for item in items] == [
        InboundMessage,
        InboundMessage,
        StatusUpdate,
        StatusUpdate,
    ]
    assert [(m.sender, m.sender_name, m.text) for m in items[:2]] == [
        (OLIVIA, "Olivia Bennett", "Any news?"),
        ("447700900456", "Tomás Ruiz", "Hola"),
    ]
    assert [s.status for s in items[2:]] == [DeliveryStatus.DELIVERED, DeliveryStatus.READ]
    assert {item.channel_external_id for item in items} == {PHONE_NUMBER_ID}


def test_it_keeps_good_items_when_one_is_broken(provider):
    items = parse(provider, fixture_bytes("inbound_batch_one_broken.json"))
    kinds = [type(item).__name__ for item in items]
    assert kinds == [
        "InboundMessage",
        "UnparsedItem",
        "UnparsedItem",
        "InboundMessage",
        "UnparsedItem",
        "StatusUpdate",
        "UnparsedItem",
    ]
    first, bad_time, bad_image, last, bad_status, status, bad_change = items
    assert (first.text, last.text) == ("First", "Last")
    assert "wamid.FAKE0000BROKEN0000000000000000000000000002" in bad_time.error
    assert "invalid literal" in bad_time.error
    assert bad_time.raw["text"]["body"] == "Bad timestamp"
    assert bad_time.channel_external_id == PHONE_NUMBER_ID
    assert "missing field 'id'" in bad_image.error
    assert bad_status.error == "Could not read status: missing field 'id'"
    assert status.provider_message_id == "wamid.FAKE0000BROKEN0000000000000000000000000005"
    assert "not an object" in bad_change.error
    assert bad_change.channel_external_id == ""


def test_it_reports_a_change_without_metadata_and_reads_the_next(provider):
    broken = fixture_json("inbound_text.json")
    del broken["entry"][0]["changes"][0]["value"]["metadata"]
    good = fixture_json("status_read.json")
    broken["entry"].append(good["entry"][0])
    unparsed, status = parse(provider, broken)
    assert isinstance(unparsed, UnparsedItem)
    assert unparsed.error == "Could not read change: missing field 'metadata'"
    assert unparsed.raw["field"] == "messages"
    assert status.status == DeliveryStatus.READ


def test_it_returns_nothing_for_an_empty_entry_list(provider):
    assert parse(provider, b'{"object":"whatsapp_business_account","entry":[]}') == []


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"\xff\xfe\x00garbage",
        b"[]",
        b'"whatsapp_business_account"',
        b'{"object":"page","entry":[]}',
        b'{"entry":[]}',
        b'{"object":"whatsapp_business_account"}',
        b'{"object":"whatsapp_business_account","entry":{}}',
    ],
)
def test_it_refuses_a_malformed_body(provider, body):
    with pytest.raises(MalformedPayload):
        provider.parse_webhook(webhook_request(body))


# Sending


def test_it_sends_text_like_the_reference(provider, graph):
    graph.add(responses.POST, SEND_URL, json=fixture_json("send_ok.json"))
    result = provider.send(
        sender_id=PHONE_NUMBER_ID,
        message=OutboundMessage(
            to="+447700900123",
            type=MessageType.TEXT,
            text="Thanks Olivia, we are checking with the courier now.",
        ),
    )
    request = graph.calls[0].request
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Content-Type"] == "application/json"
    assert_same_fields(sent_json(graph), fixture_json("send_text_request.json"))
    assert result.provider_message_id == SENT_WAMID
    assert result.raw == fixture_json("send_ok.json")


def test_it_sends_a_reply_with_context(provider, graph):
    graph.add(responses.POST, SEND_URL, json=fixture_json("send_ok.json"))
    expected = fixture_json("send_reply_request.json")
    provider.send(
        sender_id=PHONE_NUMBER_ID,
        message=OutboundMessage(
            to="+447700900123",
            type=MessageType.TEXT,
            text="Could you confirm your postcode?",
            reply_to=expected["context"]["message_id"],
        ),
    )
    # We always state preview_url; the reference reply leaves it to Meta's default (false).
    expected["text"]["preview_url"] = False
    assert_same_fields(sent_json(graph), expected)


def test_it_sends_a_positional_template_like_the_reference(provider, graph):
    graph.add(
        responses.POST,
        SEND_URL,
        json=fixture_json("send_template_ok.json"),
    )
    result = provider.send(
        sender_id=PHONE_NUMBER_ID,
        message=OutboundMessage(
            to="+447700900123",
            type=MessageType.TEMPLATE,
            template=TemplateCall(
                name="order_shipped",
                language="en_US",
                header_params=["#4821"],
                body_params=["Olivia", "#4821", "July 16"],
                button_params=[
                    {"index": 0, "sub_type": "url", "value": "4821"},
                    {"index": 1, "sub_type": "quick_reply", "value": "agent_request"},
                ],
            ),
        ),
    )
    sent, expected = sent_json(graph), fixture_json("send_template_request.json")
    assert_same_fields(sent, expected)
    assert_same_fields(sent["template"], expected["template"])
    for sent_component, expected_component in zip(
        sent["template"]["components"], expected["template"]["components"], strict=True
    ):
        assert_same_fields(sent_component, expected_component)
    assert result.provider_message_id == TEMPLATE_WAMID


def test_it_sends_a_named_template_with_a_media_header(provider, graph):
    graph.add(
        responses.POST,
        SEND_URL,
        json=fixture_json("send_template_ok.json"),
    )
    provider.send(
        sender_id=PHONE_NUMBER_ID,
        message=OutboundMessage(
            to="+447700900123",
            type=MessageType.TEMPLATE,
            template=TemplateCall(
                name="ticket_update",
                language="en",
                header_media={
                    "type": "image",
                    "link": "https://cdn.example.com/banners/ticket.jpg",
                },
                body_params={"customer_name": "Olivia", "ticket_id": "4821"},
            ),
        ),
    )
    sent, expected = sent_json(graph), fixture_json("send_template_named_request.json")
    assert_same_fields(sent, expected)
    header, body = sent["template"]["components"]
    assert header == expected["template"]["components"][0]
    assert body == expected["template"]["components"][1]


def test_it_sends_a_document_header_by_id_and_a_copy_code_button(provider, graph):
    graph.add(responses.POST, SEND_URL, json=fixture_json("send_ok.json"))
    provider.send(
        sender_id=PHONE_NUMBER_ID,
        message=OutboundMessage(
            to="+447700900123",
            type=MessageType.TEMPLATE,
            template=TemplateCall(
                name="invoice_ready",
                language="it",
                header_media={"type": "document", "id": "1188223344556677", "filename": "a.pdf"},
                button_params=[{"index": 2, "sub_type": "copy_code", "value": "SAVE20"}],
            ),
        ),
    )
    assert sent_json(graph)["template"] == {
        "name": "invoice_ready",
        "language": {"code": "it"},
        "components": [
            {
                "type": "header",
                "parameters": [
                    {
                        "type": "document",
                        "document": {"id": "1188223344556677", "filename": "a.pdf"},
                    }
                ],
            },
            {
                "type": "button",
                "sub_type": "copy_code",
                "index": "2",
                "parameters": [{"type": "coupon_code", "coupon_code": "SAVE20"}],
            },
        ],
    }


def test_it_sends_media_by_id_like_the_reference(provider, graph):
    graph.add(responses.POST, SEND_URL, json=fixture_json("send_ok.json"))
    provider.send(
        sender_id=PHONE_NUMBER_ID,
        message=OutboundMessage(
            to="+447700900123",
            type=MessageType.IMAGE,
            media={"id": "1188223344556677", "caption": "Label for your return"},
        ),
    )
    assert_same_fields(sent_json(graph), fixture_json("send_media_by_id_request.json"))


def test_it_sends_a_document_by_link_like_the_reference(provider, graph):
    graph.add(responses.POST, SEND_URL, json=fixture_json("send_ok.json"))
    provider.send(
        sender_id=PHONE_NUMBER_ID,
        message=OutboundMessage(
            to="+447700900123",
            type=MessageType.DOCUMENT,
            media={
                "link": "https://files.example.com/invoices/4821.pdf",
                "filename": "invoice-4821.pdf",
                "caption": "Your invoice",
            },
        ),
    )
    sent, expected = sent_json(graph), fixture_json("send_document_by_link_request.json")
    assert_same_fields(sent, expected)
    assert_same_fields(sent["document"], expected["document"])


def test_it_drops_caption_and_filename_where_meta_refuses_them(provider, graph):
    graph.add(responses.POST, SEND_URL, json=fixture_json("send_ok.json"))
    provider.send(
        sender_id=PHONE_NUMBER_ID,
        message=OutboundMessage(
            to="+447700900123",
            type=MessageType.AUDIO,
            media={"id": "77", "caption": "listen", "filename": "a.ogg"},
        ),
    )
    assert sent_json(graph)["audio"] == {"id": "77"}


def test_it_sends_a_reaction_like_the_reference(provider, graph):
    graph.add(responses.POST, SEND_URL, json=fixture_json("send_ok.json"))
    expected = fixture_json("send_reaction_request.json")
    provider.send(
        sender_id=PHONE_NUMBER_ID,
        message=OutboundMessage(
            to="+447700900123", type=MessageType.REACTION, reaction=expected["reaction"]
        ),
    )
    assert_same_fields(sent_json(graph), expected)


def test_it_sends_callback_data_for_status_matching(provider, graph):
    graph.add(responses.POST, SEND_URL, json=fixture_json("send_ok.json"))
    provider.send(
        sender_id=PHONE_NUMBER_ID,
        message=OutboundMessage(
            to="447700900123", type=MessageType.TEXT, text="Hi", callback_data="msg:42"
        ),
    )
    sent = sent_json(graph)
    assert sent["biz_opaque_callback_data"] == "msg:42"
    assert sent["to"] == "447700900123"


@pytest.mark.parametrize(
    ("message", "error"),
    [
        (OutboundMessage(to="+1", type=MessageType.LOCATION), "type 'location' are not supported"),
        (OutboundMessage(to="+1", type=MessageType.IMAGE), "needs media"),
        (OutboundMessage(to="+1", type=MessageType.IMAGE, media={"caption": "x"}), "'id' or a"),
        (OutboundMessage(to="+1", type=MessageType.TEMPLATE), "needs a template"),
        (
            OutboundMessage(
                to="+1",
                type=MessageType.TEMPLATE,
                template=TemplateCall(
                    name="t", language="en", button_params=[{"index": 0, "sub_type": "flow"}]
                ),
            ),
            "sub_type 'flow'",
        ),
        (
            OutboundMessage(
                to="+1",
                type=MessageType.TEMPLATE,
                template=TemplateCall(
                    name="t", language="en", button_params=[{"index": 0, "sub_type": "url"}]
                ),
            ),
            "missing 'value'",
        ),
        (OutboundMessage(to="+1", type=MessageType.REACTION, reaction={}), "'message_id'"),
    ],
)
def test_it_refuses_messages_it_cannot_build_without_calling_meta(provider, graph, message, error):
    with pytest.raises(ProviderError, match=error) as caught:
        provider.send(sender_id=PHONE_NUMBER_ID, message=message)
    assert caught.value.permanent is True
    assert len(graph.calls) == 0


def test_it_fails_for_good_when_meta_returns_no_message_id(provider, graph):
    graph.add(responses.POST, SEND_URL, json={"messages": []})
    with pytest.raises(ProviderError, match="without a message id") as caught:
        provider.send(
            sender_id=PHONE_NUMBER_ID,
            message=OutboundMessage(to="+447700900123", type=MessageType.TEXT, text="Hi"),
        )
    assert caught.value.permanent is True


def test_it_calls_graph_through_the_http_seam(provider):
    response = mock.Mock(status_code=200)
    response.json.return_value = fixture_json("send_ok.json")
    with mock.patch("messaging.http.request", autospec=True, return_value=response) as request:
        provider.send(
            sender_id=PHONE_NUMBER_ID,
            message=OutboundMessage(to="+447700900123", type=MessageType.TEXT, text="Hi"),
        )
    request.assert_called_once()
    assert request.call_args.args == ("POST", SEND_URL)


def test_it_uses_the_configured_base_url_and_graph_version(settings, graph):
    settings.GRAPH_API_BASE_URL = "http://sandbox.test:8001/"
    provider = make_provider(settings={"app_id": "1", "waba_id": WABA_ID, "graph_version": "v24.0"})
    graph.add(
        responses.POST,
        f"http://sandbox.test:8001/v24.0/{PHONE_NUMBER_ID}/messages",
        json=fixture_json("send_ok.json"),
    )
    result = provider.send(
        sender_id=PHONE_NUMBER_ID,
        message=OutboundMessage(to="+447700900123", type=MessageType.TEXT, text="Hi"),
    )
    assert result.provider_message_id == SENT_WAMID


# Errors

ERROR_CASES = [
    # fixture, HTTP status, permanent, credentials_invalid, per_recipient
    ("error_131047.json", 400, True, False, False),
    ("error_130429.json", 400, False, False, False),
    ("error_131056.json", 400, False, False, True),
    ("error_132000.json", 400, True, False, False),
    ("error_132001.json", 404, True, False, False),
    ("error_131009.json", 400, True, False, False),
    ("error_131053.json", 400, True, False, False),
    ("error_190_expired_token.json", 401, True, True, False),
    ("error_4_app_rate_limit.json", 400, False, False, False),
    ("error_80007_waba_rate_limit.json", 400, False, False, False),
    ("error_368_blocked.json", 400, True, False, False),
]


def send_text(provider):
    return provider.send(
        sender_id=PHONE_NUMBER_ID,
        message=OutboundMessage(to="+447700900123", type=MessageType.TEXT, text="Hi"),
    )


@pytest.mark.parametrize(("name", "status", "permanent", "credentials", "recipient"), ERROR_CASES)
def test_it_maps_graph_errors(provider, graph, name, status, permanent, credentials, recipient):
    body = fixture_json(name)
    graph.add(responses.POST, SEND_URL, json=body, status=status)
    with pytest.raises(ProviderError) as caught:
        send_text(provider)
    error = caught.value
    assert error.code == body["error"]["code"]
    assert error.permanent is permanent
    assert error.credentials_invalid is credentials
    assert error.per_recipient is recipient
    assert error.retry_after is None
    assert error.raw == body
    assert error.message.startswith(f"{body['error']['code']} ")
    assert "(#" not in error.message


def test_it_writes_a_readable_error_message(provider, graph):
    graph.add(
        responses.POST,
        SEND_URL,
        json=fixture_json("error_131047.json"),
        status=400,
    )
    with pytest.raises(ProviderError) as caught:
        send_text(provider)
    assert str(caught.value) == (
        "131047 Re-engagement message: Message failed to send because more than 24 hours "
        "have passed since the customer last replied to this number."
    )


def test_it_uses_retry_after_when_meta_sends_it(provider, graph):
    graph.add(
        responses.POST,
        SEND_URL,
        json=fixture_json("error_130429.json"),
        status=429,
        headers={"Retry-After": "30"},
    )
    with pytest.raises(ProviderError) as caught:
        send_text(provider)
    assert caught.value.retry_after == 30.0
    assert caught.value.permanent is False


def test_it_marks_code_zero_as_invalid_credentials(provider, graph):
    body = {"error": {"message": "(#0) AuthException", "type": "OAuthException", "code": 0}}
    graph.add(responses.POST, SEND_URL, json=body, status=401)
    with pytest.raises(ProviderError) as caught:
        send_text(provider)
    assert caught.value.credentials_invalid is True
    assert caught.value.permanent is True
    assert caught.value.message == "0 AuthException"


@pytest.mark.parametrize(
    ("status", "code", "permanent"),
    [
        (500, 1, False),  # unknown code on a 5xx: Meta's side, retry
        (503, 2, False),
        (500, 131026, True),  # a known permanent code stays permanent
        (400, 131021, True),  # unknown code on a 4xx: our side, do not retry
    ],
)
def test_it_decides_unknown_codes_by_http_status(provider, graph, status, code, permanent):
    body = {"error": {"message": "Something", "type": "OAuthException", "code": code}}
    graph.add(responses.POST, SEND_URL, json=body, status=status)
    with pytest.raises(ProviderError) as caught:
        send_text(provider)
    assert caught.value.permanent is permanent
    assert caught.value.code == code


def test_it_trusts_is_transient_for_unknown_codes(provider, graph):
    body = {"error": {"message": "Temporary", "code": 2, "is_transient": True}}
    graph.add(responses.POST, SEND_URL, json=body, status=400)
    with pytest.raises(ProviderError) as caught:
        send_text(provider)
    assert caught.value.permanent is False


@pytest.mark.parametrize(("status", "permanent"), [(502, False), (400, True)])
def test_it_reports_unreadable_error_bodies_with_the_status(provider, graph, status, permanent):
    graph.add(
        responses.POST,
        SEND_URL,
        body="<html><body>Bad   Gateway</body></html>",
        status=status,
    )
    with pytest.raises(ProviderError) as caught:
        send_text(provider)
    assert caught.value.message == (
        f"Graph API answered HTTP {status}: <html><body>Bad Gateway</body></html>"
    )
    assert caught.value.permanent is permanent
    assert caught.value.code is None


def test_it_reports_a_timeout_as_transient_and_possibly_delivered(provider, graph):
    graph.add(
        responses.POST,
        SEND_URL,
        body=requests.exceptions.ReadTimeout("read timed out"),
    )
    with pytest.raises(ProviderError) as caught:
        send_text(provider)
    assert caught.value.permanent is False
    assert caught.value.raw == {"timeout": True}
    assert "may have reached Meta" in caught.value.message
    assert isinstance(caught.value.__cause__, http.HttpFailure)


def test_it_reports_a_connection_error_as_transient(provider, graph):
    graph.add(
        responses.POST,
        SEND_URL,
        body=requests.exceptions.ConnectionError("refused"),
    )
    with pytest.raises(ProviderError) as caught:
        send_text(provider)
    assert caught.value.permanent is False
    assert caught.value.raw == {"timeout": False}


def test_it_refuses_to_call_meta_without_an_access_token(graph):
    provider = make_provider(access_token="")
    with pytest.raises(ProviderError, match="No access token") as caught:
        send_text(provider)
    assert caught.value.credentials_invalid is True
    assert len(graph.calls) == 0


def test_it_reports_a_200_that_is_not_json(provider, graph):
    graph.add(responses.POST, SEND_URL, body="OK")
    with pytest.raises(ProviderError, match="without a JSON object") as caught:
        send_text(provider)
    assert caught.value.raw == {"status": 200, "body": "OK"}


# Mark as read


def test_it_marks_a_message_read_like_the_reference(provider, graph):
    graph.add(responses.POST, SEND_URL, json=fixture_json("mark_read_ok.json"))
    expected = fixture_json("mark_read_request.json")
    provider.mark_read(sender_id=PHONE_NUMBER_ID, provider_message_id=expected["message_id"])
    assert_same_fields(sent_json(graph), expected)
    assert graph.calls[0].request.headers["Authorization"] == f"Bearer {TOKEN}"


def test_it_raises_when_mark_read_is_refused(provider, graph):
    graph.add(
        responses.POST,
        SEND_URL,
        json=fixture_json("error_131009.json"),
        status=400,
    )
    with pytest.raises(ProviderError) as caught:
        provider.mark_read(sender_id=PHONE_NUMBER_ID, provider_message_id="wamid.unknown")
    assert caught.value.code == 131009


# Templates


def test_it_lists_templates_across_pages(provider, graph):
    page1 = fixture_json("templates_page1.json")
    graph.add(
        responses.GET,
        f"{GRAPH}/{WABA_ID}/message_templates",
        json=page1,
        match=[matchers.query_param_matcher({"fields": TEMPLATE_FIELDS, "limit": "100"})],
    )
    page2 = fixture_json("templates_page2_last.json")
    graph.add(responses.GET, page1["paging"]["next"], json=page2)

    templates = list(provider.iter_templates())

    assert [(t.external_id, t.name, t.language, t.status) for t in templates] == [
        ("1298374650192837", "order_shipped", "en_US", "APPROVED"),
        ("1298374650192901", "ticket_update", "en", "PENDING"),
        ("1298374650192999", "summer_promo", "en_US", "REJECTED"),
    ]
    assert [t.category for t in templates] == ["UTILITY", "UTILITY", "MARKETING"]
    assert [t.parameter_format for t in templates] == ["POSITIONAL", "NAMED", "POSITIONAL"]
    assert templates[0].components[0] == {
        "type": "HEADER",
        "format": "TEXT",
        "text": "Order {{1}} is on its way",
        "example": {"header_text": ["#4821"]},
    }
    assert templates[2].raw["rejected_reason"] == "INVALID_FORMAT"
    assert len(graph.calls) == 2
    assert all(c.request.headers["Authorization"] == f"Bearer {TOKEN}" for c in graph.calls)


def test_it_defaults_parameter_format_to_positional(provider, graph):
    graph.add(
        responses.GET,
        f"{GRAPH}/{WABA_ID}/message_templates",
        json={"data": [{"id": 7, "name": "hi", "language": "en", "components": []}]},
    )
    [template] = provider.iter_templates()
    assert template.external_id == "7"
    assert template.parameter_format == "POSITIONAL"


def test_it_stops_when_paging_loops(provider, graph):
    url = f"{GRAPH}/{WABA_ID}/message_templates?after=X"
    graph.add(
        responses.GET,
        f"{GRAPH}/{WABA_ID}/message_templates",
        json={"data": [], "paging": {"next": url}},
    )
    graph.add(responses.GET, url, json={"data": [], "paging": {"next": url}})
    with pytest.raises(ProviderError, match="already read"):
        list(provider.iter_templates())


# Media


MEDIA_ID = "1093847561029384"


def test_it_fetches_media_in_two_authenticated_calls(provider, graph):
    info = fixture_json("media_get.json")
    graph.add(responses.GET, f"{GRAPH}/{MEDIA_ID}", json=info)
    graph.add(responses.GET, info["url"], body=b"\xff\xd8fake-jpeg", content_type="image/jpeg")

    media = provider.media_fetch(media_id=MEDIA_ID)

    assert media.content == b"\xff\xd8fake-jpeg"
    assert media.mime_type == "image/jpeg"
    assert media.sha256 == info["sha256"]
    assert [c.request.url for c in graph.calls] == [f"{GRAPH}/{MEDIA_ID}", info["url"]]
    assert all(c.request.headers["Authorization"] == f"Bearer {TOKEN}" for c in graph.calls)


def test_it_asks_for_a_fresh_url_once_when_the_download_404s(provider, graph):
    info = fixture_json("media_get.json")
    graph.add(responses.GET, f"{GRAPH}/{MEDIA_ID}", json=info)
    graph.add(responses.GET, info["url"], status=404)
    graph.add(responses.GET, info["url"], body=b"fresh", content_type="image/jpeg")

    media = provider.media_fetch(media_id=MEDIA_ID)

    assert media.content == b"fresh"
    assert [c.request.url for c in graph.calls] == [
        f"{GRAPH}/{MEDIA_ID}",
        info["url"],
        f"{GRAPH}/{MEDIA_ID}",
        info["url"],
    ]


def test_it_gives_up_after_a_second_404(provider, graph):
    info = fixture_json("media_get.json")
    graph.add(responses.GET, f"{GRAPH}/{MEDIA_ID}", json=info)
    graph.add(responses.GET, info["url"], status=404)
    with pytest.raises(ProviderError, match="HTTP 404") as caught:
        provider.media_fetch(media_id=MEDIA_ID)
    assert caught.value.permanent is True
    assert len(graph.calls) == 4


@pytest.mark.parametrize(("status", "permanent"), [(500, False), (400, True)])
def test_it_maps_media_lookup_errors(provider, graph, status, permanent):
    body = {"error": {"message": "Oops", "code": 100 if status == 400 else 1}}
    graph.add(responses.GET, f"{GRAPH}/{MEDIA_ID}", json=body, status=status)
    with pytest.raises(ProviderError) as caught:
        provider.media_fetch(media_id=MEDIA_ID)
    assert caught.value.permanent is permanent


def test_it_reports_a_download_timeout_as_transient(provider, graph):
    info = fixture_json("media_get.json")
    graph.add(responses.GET, f"{GRAPH}/{MEDIA_ID}", json=info)
    graph.add(responses.GET, info["url"], body=requests.exceptions.ReadTimeout("slow"))
    with pytest.raises(ProviderError) as caught:
        provider.media_fetch(media_id=MEDIA_ID)
    assert caught.value.permanent is False
    assert caught.value.raw == {"timeout": True}


def test_it_uploads_media_as_multipart(provider, graph):
    graph.add(
        responses.POST,
        f"{GRAPH}/{PHONE_NUMBER_ID}/media",
        json=fixture_json("media_upload_ok.json"),
    )
    media_id = provider.media_upload(
        sender_id=PHONE_NUMBER_ID,
        content=b"%PDF-1.4 fake",
        mime_type="application/pdf",
        filename="label.pdf",
    )
    assert media_id == "1188223344556677"
    request = graph.calls[0].request
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    body = request.body
    assert b'name="messaging_product"\r\n\r\nwhatsapp\r\n' in body
    assert b'name="type"\r\n\r\napplication/pdf\r\n' in body
    assert b'name="file"; filename="label.pdf"\r\nContent-Type: application/pdf' in body
    assert b"%PDF-1.4 fake" in body


def test_it_maps_an_upload_error(provider, graph):
    graph.add(
        responses.POST,
        f"{GRAPH}/{PHONE_NUMBER_ID}/media",
        json=fixture_json("error_131053.json"),
        status=400,
    )
    with pytest.raises(ProviderError, match="131053 Media upload error") as caught:
        provider.media_upload(
            sender_id=PHONE_NUMBER_ID, content=b"<html>", mime_type="text/html", filename="x.html"
        )
    assert caught.value.permanent is True


# Credentials


def test_it_verifies_credentials_against_the_waba(provider, graph):
    graph.add(
        responses.GET,
        f"{GRAPH}/{WABA_ID}",
        json={"id": WABA_ID, "name": "Acme Support"},
        match=[matchers.query_param_matcher({"fields": "id,name"})],
    )
    assert provider.verify_credentials() == f"WABA {WABA_ID} (Acme Support)"
    assert graph.calls[0].request.headers["Authorization"] == f"Bearer {TOKEN}"


def test_it_reports_expired_credentials(provider, graph):
    graph.add(
        responses.GET,
        f"{GRAPH}/{WABA_ID}",
        json=fixture_json("error_190_expired_token.json"),
        status=401,
    )
    with pytest.raises(ProviderError, match="190 Error validating access token") as caught:
        provider.verify_credentials()
    assert caught.value.credentials_invalid is True
