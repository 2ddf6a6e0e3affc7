"""Sending through a Telegram bot: request bodies as the Bot API takes them (7.x and 6.9 names),
and what each error code does (429 waits retry_after, 403 makes the chat unreachable, a migrated
chat is resent once, 401 marks the bot unhealthy)."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from crm.models import Contact, ContactAddress
from messaging.models import Channel, Message
from messaging.providers.telegram import TelegramProvider
from messaging.services import (
    LocationContent,
    MessageRefused,
    message_send,
    message_send_media,
    message_send_text,
)

from .telegram_support import API, USER_ID, fixture_json

pytestmark = pytest.mark.django_db
SEND_OK = fixture_json("send_ok.json")


@pytest.fixture(autouse=True)
def delivered_at_once(monkeypatch):
    # The test's transaction never commits: run what waits for the commit (the delivery task,
    # inline under the test settings) at once.
    monkeypatch.setattr(
        "messaging.services.outbound.after_commit", lambda function, what="": function()
    )


@pytest.fixture
def olivia(tg_channel):
    contact = Contact.objects.create(name="Olivia Bennett", handle="@olivia_b")
    ContactAddress.objects.create(contact=contact, transport="telegram", address=USER_ID)
    return contact


def sent_body(bot_api, index=-1):
    return json.loads(bot_api.calls[index].request.body)


def inbound(channel, contact, message_id=1842):
    from messaging.models import Conversation

    conversation, _ = Conversation.objects.get_or_create(channel=channel, contact=contact)
    return Message.objects.create(
        channel=channel,
        conversation=conversation,
        direction="in",
        provider_message_id=f"{USER_ID}:{message_id}",
        text="Hello, I need help with my order #4821",
        status="received",
    )


def test_a_reply_goes_out_with_reply_parameters(tg_channel, olivia, bot_api):
    bot_api.post(f"{API}/sendMessage", json=SEND_OK)
    question = inbound(tg_channel, olivia)
    message = message_send_text(
        channel=tg_channel,
        contact=olivia,
        text="Thanks Olivia, we are checking with the courier now.",
        reply_to=question,
    )
    assert sent_body(bot_api) == fixture_json("send_message_request.json")
    message.refresh_from_db()
    assert (message.status, message.provider_message_id) == ("sent", f"{USER_ID}:1845")
    # No delivery receipts: sent is as far as a Telegram message goes.
    assert message.delivered_at is None and message.read_at is None


def test_a_channel_on_bot_api_6_9_sends_the_older_names(tg_channel, olivia, bot_api):
    tg_channel.config = {**tg_channel.config, "api_version": "6.9"}
    tg_channel.save()
    bot_api.post(f"{API}/sendMessage", json=SEND_OK)
    question = inbound(tg_channel, olivia)
    message_send_text(
        channel=tg_channel,
        contact=olivia,
        text="Thanks Olivia, we are checking with the courier now.",
        reply_to=question,
    )
    assert sent_body(bot_api) == fixture_json("send_message_request_legacy.json")


def test_a_photo_and_a_document_go_out_by_link(tg_channel, olivia, bot_api):
    bot_api.post(f"{API}/sendPhoto", json=SEND_OK)
    bot_api.post(
        f"{API}/sendDocument", json={**SEND_OK, "result": {**SEND_OK["result"], "message_id": 1846}}
    )
    message_send_media(
        channel=tg_channel,
        contact=olivia,
        kind="image",
        link="https://shop.example/label.png",
        caption="Your label",
    )
    assert sent_body(bot_api) == {
        "chat_id": int(USER_ID),
        "photo": "https://shop.example/label.png",
        "caption": "Your label",
    }
    message_send_media(
        channel=tg_channel, contact=olivia, kind="document", link="https://shop.example/i.pdf"
    )
    assert sent_body(bot_api) == {"chat_id": int(USER_ID), "document": "https://shop.example/i.pdf"}


def test_a_location_goes_out_with_send_location(tg_channel, olivia, bot_api):
    bot_api.post(f"{API}/sendLocation", json=SEND_OK)
    message = message_send(
        channel=tg_channel,
        contact=olivia,
        content=LocationContent(latitude=45.4642, longitude=9.19, name="Our shop"),
    )
    assert sent_body(bot_api) == {"chat_id": int(USER_ID), "latitude": 45.4642, "longitude": 9.19}
    message.refresh_from_db()
    assert (message.type, message.status) == ("location", "sent")


def test_agents_may_write_any_time_there_is_no_window(tg_channel, olivia, bot_api):
    bot_api.post(f"{API}/sendMessage", json=SEND_OK)
    # Olivia never wrote on this channel: a WhatsApp number would need a template.
    message = message_send_text(channel=tg_channel, contact=olivia, text="Your order shipped")
    message.refresh_from_db()
    assert message.status == "sent"
    caps = tg_channel.capabilities
    assert (caps.service_window_hours, caps.max_text_length, caps.template_kind) == (None, 4096, "")
    assert caps.read_receipts is False


def test_a_text_over_4096_characters_is_refused(tg_channel, olivia):
    with pytest.raises(MessageRefused) as refused:
        message_send_text(channel=tg_channel, contact=olivia, text="x" * 4097)
    assert refused.value.code == "too_long"


def test_429_waits_exactly_retry_after(tg_channel, olivia, bot_api):
    bot_api.post(f"{API}/sendMessage", json=fixture_json("error_429.json"), status=429)
    before = timezone.now()
    message = message_send_text(channel=tg_channel, contact=olivia, text="Hi")
    message.refresh_from_db()
    assert (message.status, message.error_code) == ("queued", 429)
    wait = message.next_attempt_at - before
    assert timedelta(seconds=17) <= wait < timedelta(seconds=18)


def test_403_blocked_makes_the_chat_unreachable_and_refuses_the_next_send(
    tg_channel, olivia, bot_api
):
    bot_api.post(f"{API}/sendMessage", json=fixture_json("error_403_blocked.json"), status=403)
    message = message_send_text(channel=tg_channel, contact=olivia, text="Hi")
    message.refresh_from_db()
    assert (message.status, message.error_code) == ("failed", 403)
    address = ContactAddress.objects.get(contact=olivia, transport="telegram")
    assert address.unreachable_at is not None
    assert "blocked" in address.unreachable_reason
    calls = len(bot_api.calls)
    with pytest.raises(MessageRefused) as refused:
        message_send_text(channel=tg_channel, contact=olivia, text="Are you there?")
    assert refused.value.code == "recipient_unreachable"
    assert "write to us again" in str(refused.value)
    assert len(bot_api.calls) == calls  # refused before any call
    assert Message.objects.count() == 1


def test_a_queued_message_to_a_chat_that_became_unreachable_fails_without_a_call(
    tg_channel, olivia, bot_api
):
    from messaging.services import message_deliver

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("messaging.services.outbound.message_deliver_enqueue", lambda **kw: None)
        message = message_send_text(channel=tg_channel, contact=olivia, text="Hi")
    ContactAddress.objects.filter(contact=olivia).update(
        unreachable_at=timezone.now(), unreachable_reason="blocked"
    )
    message = message_deliver(message_id=message.pk)
    assert message.status == "failed"
    assert "cannot be reached" in message.error_detail
    assert len(bot_api.calls) == 0


def test_a_migrated_chat_is_resent_once_to_its_new_id(tg_channel, olivia, bot_api):
    bot_api.post(f"{API}/sendMessage", json=fixture_json("error_400_migrated.json"), status=400)
    moved = {**SEND_OK, "result": {**SEND_OK["result"], "chat": {"id": -1001987654321}}}
    bot_api.post(f"{API}/sendMessage", json=moved)
    message = message_send_text(channel=tg_channel, contact=olivia, text="Hi")
    assert [sent_body(bot_api, i)["chat_id"] for i in range(2)] == [
        int(USER_ID),
        -1001987654321,
    ]
    message.refresh_from_db()
    assert (message.status, message.provider_message_id) == ("sent", "-1001987654321:1845")
    assert ContactAddress.objects.get(contact=olivia).address == "-1001987654321"


def test_a_chat_that_migrates_again_is_not_chased(tg_channel, olivia, bot_api):
    migrated = fixture_json("error_400_migrated.json")
    bot_api.post(f"{API}/sendMessage", json=migrated, status=400)
    bot_api.post(f"{API}/sendMessage", json=migrated, status=400)
    message = message_send_text(channel=tg_channel, contact=olivia, text="Hi")
    message.refresh_from_db()
    assert message.status == "failed"
    assert len(bot_api.calls) == 2


def test_400_chat_not_found_is_permanent(tg_channel, olivia, bot_api):
    bot_api.post(
        f"{API}/sendMessage", json=fixture_json("error_400_chat_not_found.json"), status=400
    )
    message = message_send_text(channel=tg_channel, contact=olivia, text="Hi")
    message.refresh_from_db()
    assert (message.status, message.error_code) == ("failed", 400)
    assert len(bot_api.calls) == 1
    # Not a block: the address stays usable.
    assert ContactAddress.objects.get(contact=olivia).unreachable_at is None


def test_401_marks_only_this_bot_unhealthy(tg_channel, tg_account, olivia, bot_api):
    other = Channel.objects.create(
        name="Sales bot",
        account=tg_account,
        provider="telegram",
        transport="telegram",
        external_id="7099999999",
        secrets={"bot_token": "7099999999:AAOtherOtherOtherOtherOther"},
    )
    bot_api.post(f"{API}/sendMessage", json=fixture_json("error_401.json"), status=401)
    message = message_send_text(channel=tg_channel, contact=olivia, text="Hi")
    message.refresh_from_db()
    assert message.status == "failed"
    tg_channel.refresh_from_db()
    other.refresh_from_db()
    tg_account.refresh_from_db()
    assert tg_channel.is_healthy is False
    assert "revoked" in tg_channel.last_error
    assert other.is_healthy and tg_account.is_healthy


def test_5xx_is_retried(tg_channel, olivia, bot_api):
    bot_api.post(
        f"{API}/sendMessage",
        json={"ok": False, "error_code": 502, "description": "Bad Gateway"},
        status=502,
    )
    message = message_send_text(channel=tg_channel, contact=olivia, text="Hi")
    message.refresh_from_db()
    assert message.status == "queued"
    assert message.next_attempt_at is not None


def test_errors_never_carry_the_token(tg_channel, olivia, bot_api):
    bot_api.post(f"{API}/sendMessage", json=fixture_json("error_401.json"), status=401)
    message = message_send_text(channel=tg_channel, contact=olivia, text="Hi")
    message.refresh_from_db()
    tg_channel.refresh_from_db()
    token_secret = tg_channel.secrets["bot_token"].split(":")[1]
    assert token_secret not in message.error_detail
    assert token_secret not in tg_channel.last_error


def test_a_contact_without_a_telegram_chat_fails_with_a_reason(tg_channel, bot_api):
    contact = Contact.objects.create(phone="+393351032246", name="Giulia")
    message = message_send_text(channel=tg_channel, contact=contact, text="Hi")
    message.refresh_from_db()
    assert message.status == "failed"
    assert "no Telegram chat" in message.error_detail


def test_media_is_fetched_with_get_file_then_downloaded(tg_channel, bot_api):
    bot_api.post(f"{API}/getFile", json=fixture_json("get_file_ok.json"))
    token = tg_channel.secrets["bot_token"]
    bot_api.get(
        f"https://api.telegram.org/file/bot{token}/photos/file_12.jpg",
        body=b"\xff\xd8jpeg",
        content_type="image/jpeg",
    )
    media = tg_channel.get_provider().media_fetch(
        media_id="AgACAgQAAxkBAAIHM2Z0ExampleLarge0000AAABBBCCCDDD"
    )
    assert (media.content, media.mime_type, media.filename) == (
        b"\xff\xd8jpeg",
        "image/jpeg",
        "file_12.jpg",
    )
    assert sent_body(bot_api, 0) == {"file_id": "AgACAgQAAxkBAAIHM2Z0ExampleLarge0000AAABBBCCCDDD"}


def test_the_channel_config_is_validated():
    errors = TelegramProvider.validate_channel_config(
        config={"api_version": "5"}, secrets={"bot_token": "not-a-token"}
    )
    assert set(errors) == {"bot_token", "api_version"}
    assert (
        TelegramProvider.validate_channel_config(
            config={}, secrets={"bot_token": "7012345678:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"}
        )
        == {}
    )


def test_a_revoked_token_while_fetching_media_marks_the_bot_unhealthy(tg_channel, bot_api):
    from messaging.models import Conversation
    from messaging.services import media_fetch

    contact = Contact.objects.create(name="Olivia")
    conversation = Conversation.objects.create(channel=tg_channel, contact=contact)
    message = Message.objects.create(
        channel=tg_channel,
        conversation=conversation,
        direction="in",
        provider_message_id=f"{USER_ID}:1843",
        type="image",
        payload={"media_id": "AgACAgQAAxkBAAIHM2Z0ExampleLarge0000AAABBBCCCDDD"},
        status="received",
        media_state="pending",
    )
    bot_api.post(f"{API}/getFile", json=fixture_json("error_401.json"), status=401)
    message = media_fetch(message_id=message.pk)
    assert message.media_state == "failed"
    assert message.next_attempt_at is None  # permanent: retrying cannot help
    tg_channel.refresh_from_db()
    assert tg_channel.is_healthy is False
