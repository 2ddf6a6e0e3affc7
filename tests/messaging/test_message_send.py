"""The one send entry: every check in message_send, and the channel's capabilities (window,
text limit, rate-limit backoff, templates, read receipts) decide instead of fixed numbers."""

import dataclasses
from datetime import timedelta
from unittest.mock import PropertyMock, patch

import pytest
from django.utils import timezone

from messaging.models import Channel, Conversation, Message, MessageTemplate
from messaging.providers.base import TemplateKind
from messaging.selectors import conversation_window, template_list_fillable
from messaging.services import (
    MediaContent,
    MessageRefused,
    TemplateContent,
    TextContent,
    message_mark_read,
    message_send,
    message_send_text,
)

from .conftest import SEND_URL, fixture_json

pytestmark = pytest.mark.django_db


@pytest.fixture
def wrote_25_hours_ago(wa_channel, contact):
    return Conversation.objects.create(
        channel=wa_channel, contact=contact, last_inbound_at=timezone.now() - timedelta(hours=25)
    )


@pytest.fixture
def template(wa_account):
    return MessageTemplate.objects.create(
        account=wa_account,
        name="ticket_update",
        language="it",
        category="UTILITY",
        status="APPROVED",
        components=[{"type": "BODY", "text": "Ciao {{1}}"}],
        body_param_count=1,
    )


@pytest.fixture
def capabilities(wa_channel):
    """Give every channel the WhatsApp capabilities with some fields changed."""
    base = wa_channel.capabilities
    patches = []

    def set_(**changes):
        caps = dataclasses.replace(base, **changes)
        patcher = patch.object(Channel, "capabilities", new_callable=PropertyMock)
        patcher.start().return_value = caps
        patches.append(patcher)
        return caps

    yield set_
    for patcher in reversed(patches):  # stacked patches unwind last first
        patcher.stop()


def test_a_channel_without_a_window_sends_free_text_after_25_hours(
    wa_channel, contact, wrote_25_hours_ago, capabilities
):
    capabilities(service_window_hours=None)
    window = conversation_window(channel=wa_channel, contact=contact)
    assert (window.is_open, window.closes_at, window.time_left) == (True, None, None)

    message = message_send_text(channel=wa_channel, contact=contact, text="Still here?")

    assert message.status == "queued"
    assert Message.objects.get().text == "Still here?"


def test_without_a_window_even_a_contact_who_never_wrote_gets_free_text(
    wa_channel, contact, capabilities
):
    capabilities(service_window_hours=None)
    message = message_send_text(channel=wa_channel, contact=contact, text="Hello")
    assert message.status == "queued"


def test_the_window_length_and_its_refusal_text_follow_the_capabilities(
    wa_channel, contact, wrote_25_hours_ago, capabilities
):
    capabilities(service_window_hours=48)
    assert message_send_text(channel=wa_channel, contact=contact, text="ok").status == "queued"

    capabilities(service_window_hours=12)
    with pytest.raises(MessageRefused) as refused:
        message_send_text(channel=wa_channel, contact=contact, text="too late")
    assert refused.value.code == "outside_window"
    assert "The 12-hour customer-service window is closed" in str(refused.value)


def test_whatsapp_keeps_the_24_hour_text(wa_channel, contact, wrote_25_hours_ago):
    with pytest.raises(MessageRefused, match="The 24-hour customer-service window is closed"):
        message_send_text(channel=wa_channel, contact=contact, text="too late")


def test_the_text_limit_follows_the_capabilities(wa_channel, contact, window_open, capabilities):
    capabilities(max_text_length=10)
    assert message_send_text(channel=wa_channel, contact=contact, text="x" * 10).status == "queued"
    with pytest.raises(MessageRefused) as refused:
        message_send_text(channel=wa_channel, contact=contact, text="x" * 11)
    assert refused.value.code == "too_long"
    assert str(refused.value) == "The message has 11 characters; at most 10 are allowed."
    assert Message.objects.count() == 1


def test_whatsapp_allows_4096_characters_and_refuses_4097(wa_channel, contact, window_open):
    assert message_send_text(channel=wa_channel, contact=contact, text="x" * 4096)
    with pytest.raises(MessageRefused, match="at most 4096 are allowed") as refused:
        message_send_text(channel=wa_channel, contact=contact, text="x" * 4097)
    assert refused.value.code == "too_long"


def test_without_a_fallback_an_empty_text_is_refused_as_empty_even_outside_the_window(
    wa_channel, contact, wrote_25_hours_ago
):
    with pytest.raises(MessageRefused) as refused:
        message_send(channel=wa_channel, contact=contact, content=TextContent(text="  "))
    assert refused.value.code == "empty"


def test_a_closed_window_sends_the_fallback_template_instead(
    wa_channel, contact, wrote_25_hours_ago, template
):
    calls = []

    def fallback():
        calls.append(1)
        return TemplateContent(template=template, body_params=("Giulia",))

    message = message_send(
        channel=wa_channel,
        contact=contact,
        content=TextContent(text="Your parcel left"),
        when_window_closed=fallback,
    )
    assert calls == [1]
    assert (message.type, message.template, message.text) == ("template", template, "Ciao Giulia")


def test_an_open_window_sends_the_text_and_never_builds_the_fallback(
    wa_channel, contact, window_open
):
    def fallback():
        raise AssertionError("the fallback is only for a closed window")

    message = message_send(
        channel=wa_channel,
        contact=contact,
        content=TextContent(text="Hi"),
        when_window_closed=fallback,
    )
    assert (message.type, message.text) == ("text", "Hi")


def test_the_fallback_template_is_checked_like_any_template(
    wa_channel, contact, wrote_25_hours_ago, template
):
    template.status = "PAUSED"
    template.save()
    with pytest.raises(MessageRefused) as refused:
        message_send(
            channel=wa_channel,
            contact=contact,
            content=TextContent(text="Hi"),
            when_window_closed=lambda: TemplateContent(template=template, body_params=("G",)),
        )
    assert refused.value.code == "template_not_approved"
    assert not Message.objects.exists()


def test_the_window_is_read_once_per_send(wa_channel, contact, window_open):
    with patch(
        "messaging.services.outbound.conversation_window", wraps=conversation_window
    ) as window:
        message_send_text(channel=wa_channel, contact=contact, text="Hi")
    assert window.call_count == 1


def deliver_131056(graph, wa_channel, contact, capture):
    graph.post(SEND_URL, status=400, json=fixture_json("error_131056.json"))
    before = timezone.now()
    with capture(execute=True):
        message = message_send_text(channel=wa_channel, contact=contact, text="Hi")
    message.refresh_from_db()
    return message, (message.next_attempt_at - before).total_seconds()


def test_the_pair_rate_limit_backoff_follows_the_capabilities(
    graph, wa_channel, contact, window_open, capabilities, django_capture_on_commit_callbacks
):
    capabilities(rate_limit_backoff_base=30)
    message, delay = deliver_131056(graph, wa_channel, contact, django_capture_on_commit_callbacks)
    assert message.status == "queued"
    assert 30 <= delay < 32


def test_a_per_recipient_limit_without_a_base_waits_the_usual_delay(
    graph, wa_channel, contact, window_open, capabilities, django_capture_on_commit_callbacks
):
    capabilities(rate_limit_backoff_base=None)
    message, delay = deliver_131056(graph, wa_channel, contact, django_capture_on_commit_callbacks)
    assert message.status == "queued"
    assert 5 <= delay < 7  # min(5 * 2 ** (attempts - 1), 300) with one attempt


def test_a_channel_without_templates_offers_none_to_fill(wa_channel, template, capabilities):
    assert list(template_list_fillable(channel=wa_channel)) == [template]
    capabilities(template_kind=TemplateKind.NONE)
    assert list(template_list_fillable(channel=wa_channel)) == []


def test_a_channel_without_read_receipts_marks_nothing_read(
    wa_channel, contact, window_open, capabilities
):
    inbound = Message.objects.create(
        channel=wa_channel,
        conversation=window_open,
        direction=Message.Direction.INBOUND,
        type="text",
        text="Hi",
        provider_message_id="wamid.IN1",
    )
    capabilities(read_receipts=False)
    with patch.object(type(wa_channel.get_provider()), "mark_read") as mark_read:
        message_mark_read(message=inbound)
    mark_read.assert_not_called()


def test_media_is_checked_against_the_channels_kinds_types_and_sizes(
    wa_channel, contact, window_open, capabilities
):
    def send(**fields):
        content = MediaContent(link="https://example.com/f", **fields)
        return message_send(channel=wa_channel, contact=contact, content=content)

    with pytest.raises(MessageRefused, match="cannot send image/gif as image") as refused:
        send(kind="image", mime_type="image/gif")
    assert refused.value.code == "invalid_media"
    with pytest.raises(MessageRefused) as refused:
        send(kind="image", mime_type="image/png", size=5 * 1024 * 1024 + 1)
    assert refused.value.code == "media_too_large"
    assert send(kind="image", mime_type="image/png", size=1000).type == "image"

    base = wa_channel.capabilities
    capabilities(media={k: v for k, v in base.media.items() if k != "video"})
    with pytest.raises(MessageRefused, match="cannot send video messages") as refused:
        send(kind="video")
    assert refused.value.code == "invalid_media"
    assert Message.objects.count() == 1
