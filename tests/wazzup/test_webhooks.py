"""Wazzup webhooks through the real URL: the shared security cases, every webhook kind, echoes,
edits and deletions, a mixed body, duplicates."""

import json

import pytest

from crm.models import Contact, ContactAddress
from messaging.models import Channel, Conversation, Message, WebhookEvent
from tests.messaging.webhook_cases import ProviderWebhookCases
from tests.wazzup.conftest import FIXTURES, TOKEN, WHATSAPP_CHANNEL, make_agent
from tickets.models import TicketComment


def only_message(**expected):
    def check():
        message = Message.objects.get()
        for name, value in expected.items():
            assert getattr(message, name) == value, name

    return check


def nothing_stored():
    assert not Message.objects.exists()


class TestWazzupWebhook(ProviderWebhookCases):
    PROVIDER = "wazzup"
    FIXTURE_DIR = FIXTURES
    VALID_FIXTURE = "webhook_message_telegram.json"
    SIGNING_SECRETS = ("webhook_token",)
    FIXTURE_CASES = {
        "webhook_message_telegram.json": only_message(direction="in", type="text"),
        "test_webhook.json": nothing_stored,
        "webhook_channels_updates.json": nothing_stored,
    }

    def account_secrets(self):
        return {"api_key": "k", "webhook_token": TOKEN}

    def channel_kwargs(self):
        return {
            "name": "Wazzup Telegram",
            "external_id": "a1b2c3d4-e5f6-4789-8abc-def012345678",
            "transport": "telegram",
            "config": {"transport": "telegram", "state": "active"},
        }

    def sign(self, *, method, url, body, content_type, secrets):
        # The token rides as a Bearer key here (the crmKey form); the ?key= form is below.
        return {"Authorization": f"Bearer {secrets['webhook_token']}"}

    def test_it_rejects_a_signature_over_another_body(self, post, channel):
        """Wazzup signs nothing: its token authenticates the sender, not the body. What holds
        instead: a token is needed on every request, whatever the body."""
        other = self.valid_body().replace(b"}", b" }", 1)
        assert post(other, headers={}).status_code == 403
        assert post(other, headers={"Authorization": "Bearer wrong"}).status_code == 403
        assert not Message.objects.exists()


@pytest.fixture
def wa(wz_whatsapp):
    return wz_whatsapp


def test_the_token_in_the_query_is_accepted(wz_post, wa):
    assert wz_post("webhook_messages.json").status_code == 200
    assert Message.objects.filter(direction="in").count() == 2


@pytest.mark.parametrize("key", [TOKEN, "wrong-token"])
def test_the_query_token_is_never_stored_with_the_event(wz_post, wa, key):
    wz_post("webhook_messages.json", key=key)
    event = WebhookEvent.objects.get()
    assert event.query == ""
    assert key not in json.dumps(event.headers)


@pytest.mark.parametrize("key", [None, "", "wrong-token", TOKEN + "x"])
def test_a_missing_or_wrong_query_token_is_403_and_a_flagged_event(wz_post, wa, key):
    assert wz_post("webhook_messages.json", key=key).status_code == 403
    event = WebhookEvent.objects.get()
    assert (event.state, event.signature_valid) == (WebhookEvent.State.REJECTED, False)
    assert not Message.objects.exists()


def test_the_test_call_is_answered_200_and_stores_nothing_else(wz_post, wa):
    response = wz_post("test_webhook.json")
    assert response.status_code == 200
    assert WebhookEvent.objects.get().state == WebhookEvent.State.PROCESSED
    assert not Message.objects.exists()


def test_messages_open_a_contact_by_phone_and_keep_the_media_link(wz_post, wa):
    wz_post("webhook_messages.json")
    text, image = Message.objects.order_by("pk")
    assert (text.type, text.text) == ("text", "Hi, my order #4821 has not arrived yet")
    assert image.type == "image"
    assert image.payload["url"] == "https://files.wazzup.example/media/5a6b7c8d-image.jpg"
    assert image.payload["caption"] == "Damaged box"
    contact = Contact.objects.get()
    assert (contact.phone, contact.name) == ("+447700900123", "Olivia Bennett")
    assert Conversation.objects.get().channel == wa


def test_every_message_type_and_the_quoted_message(wz_post, wa):
    wz_post("webhook_message_types.json")
    types = list(Message.objects.order_by("pk").values_list("type", flat=True))
    assert types == [
        "text",
        "image",
        "audio",
        "video",
        "document",
        "contacts",
        "location",
        "template",
        "unsupported",
        "system",
    ]
    quoting = Message.objects.order_by("pk").first()
    assert quoting.reply_to_provider_id == "3d2c1b0a-9f8e-4d7c-8b6a-5f4e3d2c1b0a"
    assert Message.objects.get(type="system").payload["wazzup_type"] == "missing_call"


def test_a_telegram_message_is_a_telegram_address_with_its_username(wz_post, wz_telegram):
    wz_post("webhook_message_telegram.json")
    address = ContactAddress.objects.get()
    assert (address.transport, address.address, address.handle) == (
        "telegram",
        "5123456789",
        "sam_c",
    )


def test_a_duplicate_delivery_is_a_no_op(wz_post, wa):
    wz_post("webhook_messages.json")
    wz_post("webhook_messages.json")
    # Another body with the same messageId: deduplicated on messageId.
    wz_post("webhook_messages.json", replace={"Damaged box": "Damaged box!"})
    assert Message.objects.count() == 2
    assert WebhookEvent.objects.count() == 2


def test_an_echo_is_an_outbound_message_by_its_author_and_claims_the_client(wz_post, wa):
    anna = make_agent("anna", channels=[wa])
    wz_post("webhook_messages.json")
    wz_post("webhook_message_echo.json", replace={"AUTHOR_ID": str(anna.pk)})
    echo = Message.objects.get(provider_message_id="9b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d")
    assert (echo.direction, echo.status, echo.sent_by) == ("out", "sent", anna)
    assert echo.conversation == Message.objects.get(type="image").conversation
    conversation = Conversation.objects.get()
    # The echo is the agent's reply: the first responder claims the new client.
    assert conversation.assignee == anna
    assert Contact.objects.get().responsible == anna
    # ...and their public comment on the client's ticket, which now waits for the customer.
    comment = TicketComment.objects.get(message=echo)
    assert (comment.author, comment.author_kind, comment.text) == (
        anna,
        "staff",
        "Hi Olivia, I am looking into it from my phone.",
    )
    assert comment.ticket == conversation.ticket
    assert comment.ticket.status == "waiting_for_response"


def test_an_echo_by_an_unknown_author_is_stored_without_one(wz_post, wa):
    wz_post("webhook_message_echo.json", replace={"AUTHOR_ID": "someone-else"})
    echo = Message.objects.get()
    assert (echo.direction, echo.sent_by) == ("out", None)
    assert echo.payload["echo"] == {"author": "Anna Petrova"}
    assert Conversation.objects.get().last_inbound_at is None


def test_an_edit_updates_the_stored_message_and_keeps_the_old_text(wz_post, wa):
    wz_post("webhook_messages.json")
    wz_post("webhook_message_edited.json")
    wz_post("webhook_message_edited.json", replace={'"isEdited"': ' "isEdited"'})
    message = Message.objects.get(provider_message_id="3d2c1b0a-9f8e-4d7c-8b6a-5f4e3d2c1b0a")
    assert message.text == "Hi, my order #4822 has not arrived yet"
    assert [e["text"] for e in message.payload["edits"]] == [
        "Hi, my order #4821 has not arrived yet"
    ]
    assert Message.objects.count() == 2


def test_a_deletion_marks_the_stored_message(wz_post, wa):
    wz_post("webhook_messages.json")
    wz_post("webhook_message_deleted.json")
    message = Message.objects.get(provider_message_id="3d2c1b0a-9f8e-4d7c-8b6a-5f4e3d2c1b0a")
    assert message.payload["deleted"] is True
    assert message.text == "Hi, my order #4821 has not arrived yet"
    assert Message.objects.count() == 2


def test_an_edit_of_a_message_never_stored_stores_it(wz_post, wa):
    wz_post("webhook_message_edited.json")
    assert Message.objects.get().text == "Hi, my order #4822 has not arrived yet"


def _sent_message(channel):
    contact = Contact.objects.create(phone="+447700900123", name="Olivia")
    conversation = Conversation.objects.create(channel=channel, contact=contact)
    return Message.objects.create(
        channel=channel,
        conversation=conversation,
        direction="out",
        status="sent",
        text="On its way",
        provider_message_id="e7f8a9b0-c1d2-4e3f-8a4b-5c6d7e8f9a0b",
    )


def test_statuses_find_their_message_without_a_channel_id(wz_post, wa, wz_telegram):
    message = _sent_message(wa)
    assert wz_post("webhook_statuses.json").status_code == 200
    message.refresh_from_db()
    assert message.status == "read"
    assert message.delivered_at is not None


def test_an_error_status_fails_the_message_with_its_code(wz_post, wa):
    message = _sent_message(wa)
    wz_post("webhook_status_error.json")
    message.refresh_from_db()
    assert message.status == "failed"
    assert message.error_title == "24_HOURS_EXCEEDED"


def test_a_repeated_status_is_a_no_op(wz_post, wa):
    message = _sent_message(wa)
    wz_post("webhook_statuses.json")
    message.refresh_from_db()
    read_at = message.read_at
    wz_post("webhook_statuses.json", replace={"10:37:15.004Z": "10:39:15.004Z"})
    message.refresh_from_db()
    assert (message.status, message.read_at) == ("read", read_at)


def test_a_mixed_body_stores_the_message_and_applies_the_status(wz_post, wa):
    message = _sent_message(wa)
    wz_post("webhook_messages_and_statuses.json")
    message.refresh_from_db()
    assert message.status == "read"
    assert Message.objects.filter(direction="in", text="Thank you!").exists()


def test_a_status_before_its_message_waits_and_applies_later(wz_post, wa):
    from messaging.models import PendingStatus

    wz_post("webhook_statuses.json")
    assert PendingStatus.objects.filter(channel=wa).count() == 2


def test_channels_updates_show_the_state_and_mark_the_channel(wz_post, wz_account):
    channel = Channel.objects.create(
        name="Instagram",
        account=wz_account,
        provider="wazzup",
        transport="instagram",
        external_id="c9d8e7f6-a5b4-4c3d-8e2f-1a0b9c8d7e6f",
        config={"transport": "instagram", "state": "active"},
    )
    wz_post("webhook_channels_updates.json")
    channel.refresh_from_db()
    assert channel.config["state"] == "unauthorized"
    assert not channel.is_healthy
    assert "unauthorized" in channel.last_error
    wz_post("webhook_channels_updates.json", replace={"unauthorized": "active"})
    channel.refresh_from_db()
    assert (channel.is_healthy, channel.last_error) == (True, "")


def test_a_body_that_is_not_json_is_stored_and_failed(wz_post, wa):
    assert wz_post(b"not json").status_code == 200
    event = WebhookEvent.objects.get()
    assert event.state == WebhookEvent.State.FAILED
    assert "Malformed" in event.error


def test_an_unknown_channel_fails_the_event_visibly(wz_post, wz_account):
    wz_post("webhook_messages.json")
    assert "No channel" in WebhookEvent.objects.get().error
    assert WHATSAPP_CHANNEL in WebhookEvent.objects.get().error


@pytest.mark.parametrize(
    ("order", "status"),
    [
        (("customer", "agent"), "waiting_for_response"),
        (("agent", "customer"), "customer_responded"),
    ],
)
def test_in_one_body_the_ticket_follows_customer_and_agent_in_their_order(
    wz_post, wa, order, status
):
    """A drain files a batch's messages step by step; an agent's echo keeps its place among them,
    so the ticket ends as whoever wrote last left it."""
    anna = make_agent("anna", channels=[wa])
    wz_post("webhook_messages.json")  # the client, their conversation and ticket
    echo = json.loads((FIXTURES / "webhook_message_echo.json").read_text())["messages"][0]
    said = {
        "agent": {**echo, "authorId": str(anna.pk), "text": "Checking it now."},
        "customer": {
            **echo,
            "messageId": "1f2e3d4c-5b6a-4978-8a1b-2c3d4e5f6a7b",
            "isEcho": False,
            "status": "inbound",
            "text": "Any news?",
        },
    }
    for minute, who in enumerate(order):
        said[who]["dateTime"] = f"2025-07-14T10:4{minute}:00.000Z"
    wz_post(json.dumps({"messages": [said[who] for who in order]}).encode())

    ticket = Conversation.objects.get().ticket
    ticket.refresh_from_db()
    assert ticket.status == status
    texts = list(ticket.comments.order_by("created_at", "pk").values_list("text", flat=True))
    assert texts[-2:] == [said[who]["text"] for who in order]
