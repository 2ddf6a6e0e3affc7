"""What an agent sees of a Telegram conversation in the inbox: an edited message shows its new
text and keeps the old one visible; a reply stops at "Sent" (Telegram has no receipts)."""

import pytest

from accounts.models import Role
from messaging.models import Message
from tests.inbox.conftest import make_user

from .telegram_support import API, fixture_json

pytestmark = pytest.mark.django_db


def test_an_edited_message_shows_its_new_text_and_the_old_one(client, post_update, tg_channel):
    post_update("update_text.json")
    post_update("update_edited_message.json")
    conversation = Message.objects.get().conversation
    client.force_login(make_user("maria", Role.MANAGER, channels=[tg_channel]))
    page = client.get(f"/inbox/c/{conversation.pk}/").content.decode()
    assert "Hello, I need help with my order #4822" in page
    assert '<details class="edits"><summary>edited</summary>' in page
    assert "<li>Hello, I need help with my order #4821</li>" in page


def test_a_reply_shows_sent_and_never_delivered_or_read(
    client, post_update, tg_channel, bot_api, django_capture_on_commit_callbacks
):
    post_update("update_text.json")
    conversation = Message.objects.get().conversation
    client.force_login(make_user("maria", Role.MANAGER, channels=[tg_channel]))
    bot_api.post(f"{API}/sendMessage", json=fixture_json("send_ok.json"))
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/inbox/c/{conversation.pk}/reply", {"text": "On it"})
    page = client.get(f"/inbox/c/{conversation.pk}/").content.decode()
    assert 'data-status="sent"' in page
    assert 'data-status="delivered"' not in page and 'data-status="read"' not in page
    # No template picker and no window notice: a bot may write any time.
    assert 'data-window-hours=""' in page
    assert 'name="template"' not in page
    assert 'maxlength="4096"' in page


def test_an_edit_updates_the_ticket_description_and_keeps_the_old_text(post_update, tg_channel):
    from tickets.models import Ticket, TicketComment

    post_update("update_text.json")
    post_update("update_reply.json")
    post_update("update_edited_message.json")
    ticket = Ticket.objects.get()
    assert "Hello, I need help with my order #4822" in ticket.description
    assert "(edited; before: Hello, I need help with my order #4821)" in ticket.description
    edited_reply = fixture_json("update_edited_message.json")
    edited_reply["update_id"] += 1
    edited_reply["edited_message"]["message_id"] = 1858
    edited_reply["edited_message"]["text"] = "Yes, that one (the blue box)"
    post_update(edited_reply)
    comment = TicketComment.objects.get(message__provider_message_id__endswith=":1858")
    assert comment.text == "Yes, that one (the blue box)\n(edited; before: Yes, that one)"
