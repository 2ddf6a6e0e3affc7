"""Every inbound type, posted signed through the real URL, ends as one stored message."""

from datetime import UTC, datetime

import pytest
import responses

from crm.models import Contact, ContactKind
from messaging.models import Conversation, Message, WebhookEvent

from .conftest import inbound_body

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_network():
    # Media downloads start after each inbound media message; nothing here may reach the internet.
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        yield mocked


def only_message():
    return Message.objects.get()


@pytest.mark.parametrize(
    ("fixture", "type_", "text"),
    [
        ("inbound_text.json", "text", "Hi, my order #4821 has not arrived yet"),
        ("inbound_image.json", "image", "Damaged box"),
        ("inbound_video.json", "video", "Unboxing"),
        ("inbound_audio_voice.json", "audio", ""),
        ("inbound_document.json", "document", "Invoice"),
        ("inbound_sticker.json", "sticker", ""),
        ("inbound_location.json", "location", None),
        ("inbound_contacts.json", "contacts", None),
        ("inbound_interactive_button_reply.json", "interactive", None),
        ("inbound_interactive_list_reply.json", "interactive", None),
        ("inbound_button_template.json", "button", None),
        ("inbound_reaction.json", "reaction", "👍"),
        ("inbound_unsupported.json", "unsupported", None),
        ("inbound_order.json", "order", None),
        ("inbound_system.json", "system", None),
        ("inbound_unknown_type.json", "unknown", None),
    ],
)
def test_it_stores_each_inbound_type(post_webhook, wa_channel, fixture, type_, text):
    assert post_webhook(fixture).status_code == 200
    message = only_message()
    assert message.type == type_
    assert message.direction == Message.Direction.INBOUND
    assert message.status == Message.Status.RECEIVED
    assert message.provider_message_id.startswith("wamid.")
    assert message.raw  # the vendor dict is kept untouched
    if text is not None:
        assert message.text == text
    assert WebhookEvent.objects.get().state == WebhookEvent.State.PROCESSED


def test_media_messages_keep_the_media_reference(post_webhook, wa_channel):
    post_webhook("inbound_document.json")
    message = only_message()
    assert message.payload["filename"] == "invoice-4821.pdf"
    assert message.payload["mime_type"] == "application/pdf"
    assert message.payload["media_id"]
    # The download failed here (no network): the message stays, with a visible state.
    assert message.media_state == Message.MediaState.FAILED
    assert message.media_error


def test_a_voice_note_is_flagged_as_voice(post_webhook, wa_channel):
    post_webhook("inbound_audio_voice.json")
    assert only_message().payload["voice"] is True


def test_a_location_keeps_its_coordinates(post_webhook, wa_channel):
    post_webhook("inbound_location.json")
    payload = only_message().payload
    assert payload["latitude"] == pytest.approx(51.5033635)
    assert payload["longitude"] == pytest.approx(-0.1276248)
    assert payload["name"] == "Parcel locker 17"


def test_a_reaction_points_at_its_message_and_its_removal_is_stored(post_webhook, wa_channel):
    post_webhook("inbound_reaction.json")
    post_webhook("inbound_reaction_removed.json")
    added, removed = Message.objects.order_by("created_at", "pk")
    target = "wamid.HBgMNDQ3NzAwOTAwMTIzFQIAERgSNUExQjJDM0Q0RTVGNjA3MTgyAA=="
    assert added.payload == {"message_id": target, "emoji": "👍"}
    assert removed.payload["message_id"] == target
    assert removed.payload["emoji"] == ""


def test_a_reply_keeps_the_message_it_answers(post_webhook, wa_channel):
    post_webhook("inbound_reply_context.json")
    reply = only_message()
    assert (
        reply.reply_to_provider_id
        == "wamid.HBgMNDQ3NzAwOTAwMTIzFQIAERgSNUExQjJDM0Q0RTVGNjA3MTgyAA=="
    )
    assert reply.text == "SW1A 1AA"


def test_an_unsupported_message_is_stored_with_its_error(post_webhook, wa_channel):
    post_webhook("inbound_unsupported.json")
    message = only_message()
    assert message.payload["errors"][0]["code"] == 131051
    # and it blocks nothing: the next message goes through
    post_webhook("inbound_text.json")
    assert Message.objects.count() == 2


def test_a_batch_with_one_broken_item_keeps_the_others(post_webhook, wa_channel):
    assert post_webhook("inbound_batch_one_broken.json").status_code == 200
    stored = set(Message.objects.values_list("text", flat=True))
    assert {"First", "Last"} <= stored
    assert "Bad timestamp" not in stored
    event = WebhookEvent.objects.get()
    # Unreadable as sent, so flagged for an operator and never retried.
    assert event.state == WebhookEvent.State.FLAGGED
    assert "Unreadable item" in event.error


def test_a_mixed_batch_is_handled_entirely(post_webhook, wa_channel):
    assert post_webhook("inbound_batch_mixed.json").status_code == 200
    assert Message.objects.filter(direction="in").count() >= 1


def test_an_unknown_number_becomes_a_lead_named_from_the_profile(post_webhook, wa_channel):
    post_webhook("inbound_text.json")
    contact = Contact.objects.get()
    assert contact.phone == "+447700900123"
    assert contact.kind == ContactKind.LEAD
    assert contact.name == "Olivia Bennett"


def test_a_known_number_is_linked_and_keeps_its_name(post_webhook, wa_channel):
    Contact.objects.create(phone="+447700900123", name="Olivia B. (VIP)", kind="customer")
    post_webhook("inbound_text.json")
    contact = Contact.objects.get()
    assert contact.name == "Olivia B. (VIP)"
    assert only_message().conversation.contact == contact


def test_the_open_conversation_is_reused(post_webhook, wa_channel):
    post_webhook(
        inbound_body(
            {"id": "wamid.A", "timestamp": "1752489005", "type": "text", "text": {"body": "one"}}
        )
    )
    post_webhook(
        inbound_body(
            {"id": "wamid.B", "timestamp": "1752489006", "type": "text", "text": {"body": "two"}}
        )
    )
    assert Conversation.objects.count() == 1
    conversation = Conversation.objects.get()
    assert conversation.messages.count() == 2
    assert conversation.last_inbound_at == datetime(2025, 7, 14, 10, 30, 6, tzinfo=UTC)


def test_a_closed_conversation_is_not_reused(post_webhook, wa_channel):
    post_webhook(
        inbound_body(
            {"id": "wamid.A", "timestamp": "1752489005", "type": "text", "text": {"body": "one"}}
        )
    )
    Conversation.objects.update(status=Conversation.Status.CLOSED)
    post_webhook(
        inbound_body(
            {"id": "wamid.B", "timestamp": "1752489006", "type": "text", "text": {"body": "two"}}
        )
    )
    assert Conversation.objects.count() == 2
    assert Conversation.objects.filter(status="open").count() == 1
