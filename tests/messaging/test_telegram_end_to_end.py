"""End to end over real HTTP through the Telegram sandbox: Connect registers the bot's webhook,
the sandbox user's messages reach Switchboard with the secret header, and an inbox reply and a
ticket comment reach the user with no window and no template."""

import time

import pytest
import requests

from accounts.models import Role
from crm.models import Contact, ContactAddress
from integrations.models import IntegrationAccount
from messaging.models import Channel, Conversation, Message, WebhookEvent
from messaging.services import MessageRefused, channel_connect, message_send_text
from tests.inbox.conftest import make_user
from tickets.models import Ticket
from tickets.services import ticket_comment_add

pytestmark = pytest.mark.django_db(transaction=True)
USER = 5123456789
TOKEN = "7012345678:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"


@pytest.fixture
def bot(sandbox):
    account = IntegrationAccount.objects.create(description="Bots", platform="telegram")
    channel = Channel.objects.create(
        account=account,
        provider="telegram",
        transport="telegram",
        name="Helpdesk bot",
        external_id="pending",
        secrets={"bot_token": TOKEN},
    )
    return channel_connect(channel=channel)


def wait_for(predicate, seconds=10.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    return predicate()


class SandboxUser:
    def __init__(self, base, bot_id):
        self.session = requests.Session()
        self.chat = f"{base}/sandbox/telegram/chat/{bot_id}/{USER}/"
        page = self.session.get(
            self.chat, params={"name": "Olivia Bennett", "username": "olivia_b"}
        )
        assert page.status_code == 200

    def does(self, **action):
        response = self.session.post(
            self.chat + "send",
            json=action,
            headers={"X-CSRFToken": self.session.cookies.get("csrftoken", "")},
            timeout=20,
        )
        assert response.status_code == 200, response.text
        return response.json()

    def state(self):
        return self.session.get(self.chat + "state", timeout=10).json()

    def received(self):
        return [m["text"] for m in self.state()["messages"] if m["from"] == "bot"]


def test_connect_stores_the_bot_and_registers_the_webhook(sandbox, bot):
    assert (bot.external_id, bot.display_number) == ("7012345678", "@helpdesk_bot")
    assert bot.config["bot_username"] == "helpdesk_bot"
    assert bot.secrets["webhook_secret"]
    info = bot.config["webhook_info"]
    assert info["url"] == f"{sandbox}/webhooks/telegram/{bot.key}/"
    assert info["pending_update_count"] == 0
    # http://127.0.0.1 works against the sandbox, and the channel says why Telegram would refuse.
    assert "HTTPS" in bot.config["webhook_warning"]
    assert bot.throughput_per_second == 30


def test_a_message_opens_lead_conversation_and_ticket_and_replies_reach_the_user(
    sandbox, bot, client
):
    user = SandboxUser(sandbox, bot.external_id)
    answer = user.does(kind="text", text="Hello, I need help with my order #4821")
    assert answer["webhook_status"] == 200

    message = wait_for(lambda: Message.objects.filter(direction="in").first())
    contact = message.conversation.contact
    assert (contact.kind, contact.name, contact.phone) == ("lead", "Olivia Bennett", None)
    assert ContactAddress.objects.get(contact=contact).address == str(USER)
    ticket = wait_for(lambda: Ticket.objects.filter(contact=contact).first())
    assert ticket.status == "open"

    agent = make_user("maria", Role.MANAGER, channels=[bot])
    client.force_login(agent)
    conversation = message.conversation
    response = client.post(f"/inbox/c/{conversation.pk}/reply", {"text": "Hi Olivia, on it."})
    assert response.status_code == 302
    reply = Message.objects.get(direction="out", text="Hi Olivia, on it.")
    assert wait_for(lambda: Message.objects.get(pk=reply.pk).status == "sent")

    ticket_comment_add(ticket=ticket, author=agent, text="The courier has it: tomorrow.")
    assert wait_for(lambda: "The courier has it: tomorrow." in user.received())
    assert user.received() == ["Hi Olivia, on it.", "The courier has it: tomorrow."]
    comment_message = Message.objects.get(text="The courier has it: tomorrow.")
    assert comment_message.type == "text" and comment_message.template is None
    # No receipts from Telegram: nothing claims delivered or read.
    time.sleep(0.3)
    assert set(Message.objects.filter(direction="out").values_list("status", flat=True)) == {"sent"}


def test_edits_photos_and_a_block_through_the_sandbox(sandbox, bot):
    user = SandboxUser(sandbox, bot.external_id)
    user.does(kind="text", text="My order is #4821")
    user.does(kind="edit", text="My order is #4822")
    message = wait_for(
        lambda: Message.objects.filter(direction="in", text="My order is #4822").first()
    )
    assert message.payload["edits"][0]["text"] == "My order is #4821"

    user.does(kind="photo", caption="Damaged box")
    photo = wait_for(
        lambda: Message.objects.filter(type="image", media_state="stored").first(), seconds=15
    )
    assert photo.text == "Damaged box"
    assert photo.media_file.read().startswith(b"\x89PNG")

    contact = Contact.objects.get()
    user.does(kind="block", blocked=True)
    failed = message_send_text(channel=bot, contact=contact, text="Are you there?")
    assert wait_for(lambda: Message.objects.get(pk=failed.pk).status == "failed")
    assert Message.objects.get(pk=failed.pk).error_code == 403
    with pytest.raises(MessageRefused):
        message_send_text(channel=bot, contact=contact, text="Hello?")

    # Unblocking restarts the bot: the user wrote, so they can be reached again.
    user.does(kind="block", blocked=False)
    wait_for(lambda: Message.objects.filter(direction="in", text="/start").exists())
    sent = message_send_text(channel=bot, contact=contact, text="Welcome back")
    assert wait_for(lambda: Message.objects.get(pk=sent.pk).status == "sent")


def test_a_button_tap_reaches_switchboard_and_its_spinner_stops(sandbox, bot):
    user = SandboxUser(sandbox, bot.external_id)
    user.does(kind="text", text="Hi")
    wait_for(lambda: Message.objects.filter(direction="in").exists())
    # A message with buttons, as a bot sends them through the Bot API.
    sent = requests.post(
        f"{sandbox}/sandbox/telegram/bot{TOKEN}/sendMessage",
        json={
            "chat_id": USER,
            "text": "Did this solve your problem?",
            "reply_markup": {"inline_keyboard": [[{"text": "Yes", "callback_data": "solved"}]]},
        },
        timeout=10,
    ).json()["result"]
    answer = user.does(kind="tap", message_id=sent["message_id"], data="solved")
    assert answer["webhook_status"] == 200
    tap = wait_for(lambda: Message.objects.filter(type="interactive").first())
    assert (tap.text, tap.payload["id"]) == ("Yes", "solved")

    def spinner_stopped():
        messages = user.state()["messages"]
        return any(m["id"] == sent["message_id"] and m.get("spinner") is False for m in messages)

    assert wait_for(spinner_stopped)


def test_a_group_of_updates_with_a_wrong_secret_is_refused(sandbox, bot):
    body = b'{"update_id": 1, "message": {}}'
    response = requests.post(
        f"{sandbox}/webhooks/telegram/{bot.key}/",
        data=body,
        headers={"X-Telegram-Bot-Api-Secret-Token": "not-the-secret"},
        timeout=10,
    )
    assert response.status_code == 403
    assert WebhookEvent.objects.get().state == "rejected"


def test_the_sandbox_bot_api_answers_like_telegram(sandbox, bot):
    api = f"{sandbox}/sandbox/telegram"
    assert requests.get(f"{api}/bot{TOKEN}/getMe", timeout=10).json()["result"]["id"] == 7012345678
    wrong = requests.get(f"{api}/bot7012345678:AAwrongwrongwrongwrongwrong/getMe", timeout=10)
    assert (wrong.status_code, wrong.json()) == (
        401,
        {"ok": False, "error_code": 401, "description": "Unauthorized"},
    )
    assert requests.get(f"{api}/botnot-a-token/getMe", timeout=10).status_code == 404
    unknown = requests.post(f"{api}/bot{TOKEN}/sendMessage", json={"chat_id": 1, "text": "x"})
    assert unknown.json()["description"] == "Bad Request: chat not found"
    conversation_count = Conversation.objects.count()
    assert conversation_count == 0
