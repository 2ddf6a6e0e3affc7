"""Telegram updates posted with the secret header through the bot channel's real URL, with the
shared provider security cases. Every update kind we read has a fixture here."""

import json
import re

import pytest
import responses
from django.urls import reverse

from crm.models import Contact, ContactAddress
from integrations.models import IntegrationAccount
from messaging.models import Channel, Conversation, Message, WebhookEvent

from .telegram_support import API, BOT_ID, BOT_TOKEN, FIXTURES, USER_ID, WEBHOOK_SECRET
from .webhook_cases import ProviderWebhookCases

HEADER = "X-Telegram-Bot-Api-Secret-Token"

pytestmark = pytest.mark.django_db


def only_message():
    message = Message.objects.get()
    assert message.direction == "in"
    contact = message.conversation.contact
    assert contact.phone is None
    assert contact.name == "Olivia Bennett"
    address = ContactAddress.objects.get(contact=contact)
    assert (address.transport, address.address, address.handle) == (
        "telegram",
        USER_ID,
        "@olivia_b",
    )
    return message


def text(expected, *, reply_to=""):
    def check():
        message = only_message()
        assert (message.type, message.text) == ("text", expected)
        assert message.reply_to_provider_id == reply_to

    return check


def media(kind, file_id, *, caption="", mime="", **payload):
    def check():
        message = only_message()
        assert message.type == kind
        assert message.payload["media_id"] == file_id
        assert message.text == caption
        # Fetched by the media task: getFile, then the file's URL.
        assert message.media_state == "stored"
        assert message.media_file.read() == b"file bytes"
        if mime:
            assert message.payload["mime_type"] == mime
        for key, value in payload.items():
            assert message.payload[key] == value

    return check


def start_command():
    message = only_message()
    assert message.payload == {"command": "start", "start_payload": "ref_crm_4821"}
    assert message.provider_message_id == f"{USER_ID}:1841"


def callback_query():
    message = only_message()
    assert (message.type, message.text) == ("interactive", "Close ticket")
    assert message.payload["id"] == "ticket_close:4821"
    assert message.payload["kind"] == "callback_query"
    assert message.reply_to_provider_id == f"{USER_ID}:1850"


def location():
    message = only_message()
    assert message.type == "location"
    assert (message.payload["latitude"], message.payload["longitude"]) == (45.464211, 9.191383)


def own_contact_card():
    message = Message.objects.get()
    assert message.type == "contacts"
    contact = message.conversation.contact
    assert contact.phone == "+393351032246"
    assert set(ContactAddress.objects.values_list("transport", "address")) == {
        ("telegram", USER_ID),
        ("whatsapp", "+393351032246"),
    }


def someone_elses_card():
    message = Message.objects.get()
    assert message.type == "contacts"
    assert message.text == "Marco +393339998877"
    # Another person's number is content, never the sender's phone.
    assert message.conversation.contact.phone is None
    assert Contact.objects.count() == 1


def ignored(reason_part):
    def check():
        assert not Message.objects.exists()
        assert not Contact.objects.exists()
        event = WebhookEvent.objects.get()
        assert reason_part in event.error
        assert event.error.startswith("Ignored: ")

    return check


def edit_of_unknown_message():
    # The edit came first (its message was never stored): nothing is made up.
    assert not Message.objects.exists()


class TestTelegramWebhook(ProviderWebhookCases):
    PROVIDER = "telegram"
    FIXTURE_DIR = FIXTURES
    VALID_FIXTURE = "update_text.json"
    SIGNING_SECRETS = ("webhook_secret",)
    FIXTURE_CASES = {
        "update_text.json": text("Hello, I need help with my order #4821"),
        "update_reply.json": text("Yes, that one", reply_to=f"{USER_ID}:1845"),
        "update_command_start.json": start_command,
        "update_photo.json": media(
            "image",
            "AgACAgQAAxkBAAIHM2Z0ExampleLarge0000AAABBBCCCDDD",
            caption="Damaged box",
            mime="image/jpeg",
        ),
        "update_document.json": media(
            "document",
            "BQACAgQAAxkBAAIHNGZ0ExampleDocument0000AAABBBCCC",
            mime="application/pdf",
            filename="invoice-4821.pdf",
        ),
        "update_document_legacy_thumb.json": media(
            "document",
            "BQACAgQAAxkBAAIHDocLegacyExample0000AAABBB",
            thumbnail_id="AAMCAgADGQEAAThumbExample",
        ),
        "update_voice.json": media(
            "audio", "AwACAgQAAxkBAAIHVoiceExample0000AAABBB", mime="audio/ogg", voice=True
        ),
        "update_audio.json": media(
            "audio",
            "CQACAgQAAxkBAAIHAudioExample0000AAABBB",
            caption="The call I mentioned",
            voice=False,
        ),
        "update_video.json": media(
            "video", "BAACAgQAAxkBAAIHVideoExample0000AAABBB", caption="Box opening"
        ),
        "update_sticker.json": media(
            "sticker", "CAACAgIAAxkBAAIHStickerExample000AAABBB", caption="👍", mime="image/webp"
        ),
        "update_location.json": location,
        "update_contact_own.json": own_contact_card,
        "update_contact_other.json": someone_elses_card,
        "update_callback_query.json": callback_query,
        "update_edited_message.json": edit_of_unknown_message,
        "update_group_message.json": ignored("supergroup chat (Olivia's team)"),
        "update_channel_post.json": ignored("'channel_post' are not handled"),
        "update_my_chat_member.json": ignored("'my_chat_member' are not handled"),
    }

    @pytest.fixture(autouse=True)
    def bot_files(self):
        """Telegram's file API, so the media task downloads every media fixture."""
        with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
            mocked.post(
                f"{API}/getFile",
                json={"ok": True, "result": {"file_id": "x", "file_path": "files/f.bin"}},
            )
            mocked.post(f"{API}/answerCallbackQuery", json={"ok": True, "result": True})
            mocked.get(
                re.compile(r"https://api\.telegram\.org/file/bot.+/files/f\.bin"),
                body=b"file bytes",
                content_type="application/octet-stream",
            )
            yield mocked

    # The secrets are the channel's (one bot, one token): the account holds none.
    def account_secrets(self):
        return {"bot_token": BOT_TOKEN, "webhook_secret": WEBHOOK_SECRET}

    def channel_kwargs(self):
        return {"name": "Helpdesk bot", "external_id": BOT_ID, "transport": "telegram"}

    def sign(self, *, method, url, body, content_type, secrets):
        return {"X-Telegram-Bot-Api-Secret-Token": secrets["webhook_secret"]}

    @pytest.fixture
    def account(self, db):
        return IntegrationAccount.objects.create(description="Telegram bots", platform="telegram")

    @pytest.fixture
    def channel(self, account):
        return Channel.objects.create(
            account=account,
            provider="telegram",
            secrets=self.account_secrets(),
            config={"bot_id": BOT_ID},
            **self.channel_kwargs(),
        )

    @pytest.fixture
    def post(self, client, channel, django_capture_on_commit_callbacks):
        # Telegram posts to the bot channel's own URL.
        def post(name_or_body, *, headers=None, secrets=None, url=None, name=None):
            body = (
                name_or_body
                if isinstance(name_or_body, bytes)
                else (FIXTURES / name_or_body).read_bytes()
            )
            if headers is None:
                headers = self.sign(
                    method="POST",
                    url="",
                    body=body,
                    content_type="application/json",
                    secrets=self.account_secrets() if secrets is None else secrets,
                )
            path = url or reverse("webhook", args=["telegram", channel.key])
            with django_capture_on_commit_callbacks(execute=True):
                return client.generic(
                    "POST", path, data=body, content_type="application/json", headers=headers
                )

        return post

    def test_it_rejects_a_signature_over_another_body(self, post, channel):
        # Telegram signs no body: the secret header is the whole proof (reference section 3), so
        # what is tested is that a header not of this bot fails whatever the body.
        body = self.valid_body().replace(b"}", b" }", 1)
        assert post(body, headers={HEADER: "tg_other"}).status_code == 403
        assert not Message.objects.exists()

    def test_it_rejects_everything_when_the_secret_is_missing(self, post, channel):
        channel.secrets = {"bot_token": BOT_TOKEN, "webhook_secret": ""}
        channel.save()
        # Sent with the empty secret: a check that skipped a missing secret would accept it.
        assert post(self.VALID_FIXTURE, headers={HEADER: ""}).status_code == 403
        event = WebhookEvent.objects.get()
        assert event.state == WebhookEvent.State.REJECTED
        assert "no webhook secret" in event.error
        assert not Message.objects.exists()

    def test_it_refuses_updates_posted_to_the_account_url(self, post, account, channel):
        # The account has no secret of its own: only a bot's URL can be verified.
        url = reverse("webhook", args=["telegram", account.key])
        assert post(self.VALID_FIXTURE, url=url).status_code == 403
        assert WebhookEvent.objects.get().state == WebhookEvent.State.REJECTED

    def test_it_stores_a_rejected_update_with_the_channel_and_no_secret(self, post, channel):
        assert post(self.VALID_FIXTURE, headers={HEADER: "x"}).status_code == 403
        event = WebhookEvent.objects.get()
        assert event.channel == channel
        assert event.signature_valid is False
        # The secret header is the credential: it is never kept with the event.
        assert "x-telegram-bot-api-secret-token" not in event.headers

    def test_it_answers_an_empty_200(self, post, channel):
        response = post(self.VALID_FIXTURE)
        assert response.status_code == 200
        assert response.content == b""

    def test_a_redelivered_update_id_with_another_body_is_one_event(self, post, channel):
        # Telegram retries the same update_id; deduplication is on (bot, update_id), not bytes.
        assert post(self.VALID_FIXTURE).status_code == 200
        again = self.valid_body().replace(b'"date": 1752489300', b'"date": 1752489301')
        assert again != self.valid_body()
        assert post(again).status_code == 200
        assert WebhookEvent.objects.count() == 1
        assert Message.objects.count() == 1

    def test_the_same_update_id_for_another_bot_is_another_event(self, post, account, channel):
        other = Channel.objects.create(
            account=account,
            provider="telegram",
            name="Sales bot",
            external_id="7099999999",
            transport="telegram",
            secrets={"bot_token": "7099999999:AAOtherOtherOtherOtherOther", "webhook_secret": "s2"},
            config={"bot_id": "7099999999"},
        )
        assert post(self.VALID_FIXTURE).status_code == 200
        url = reverse("webhook", args=["telegram", other.key])
        headers = {"X-Telegram-Bot-Api-Secret-Token": "s2"}
        assert post(self.VALID_FIXTURE, url=url, headers=headers).status_code == 200
        assert WebhookEvent.objects.count() == 2
        assert set(Message.objects.values_list("channel_id", flat=True)) == {channel.pk, other.pk}

    def test_an_edited_message_updates_the_thread_and_keeps_the_old_text(self, post, channel):
        post("update_text.json")
        post("update_edited_message.json")
        message = Message.objects.get()
        assert message.text == "Hello, I need help with my order #4822"
        assert message.payload["edits"] == [
            {
                "text": "Hello, I need help with my order #4821",
                "replaced_at": "2025-07-14T10:37:00+00:00",
            }
        ]
        assert Conversation.objects.count() == 1

    def test_a_button_tap_is_answered_once_stored(self, post, channel, bot_files):
        post("update_callback_query.json")
        assert Message.objects.get().type == "interactive"
        [call] = [c for c in bot_files.calls if c.request.url.endswith("/answerCallbackQuery")]
        assert json.loads(call.request.body) == {"callback_query_id": "2201450927383916542"}

    def test_a_body_that_is_not_an_update_is_stored_and_visible(self, post, channel):
        assert post(b'{"hello": "world"}').status_code == 200
        event = WebhookEvent.objects.get()
        assert event.state == WebhookEvent.State.FAILED
        assert "update_id" in event.error
