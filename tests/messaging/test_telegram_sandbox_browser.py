"""The Telegram sandbox's user pages in a real browser: pick a bot, open the chat, write, edit,
send a photo and block the bot, as a person plays the Telegram user."""

import pytest

from integrations.models import IntegrationAccount
from messaging.models import Channel, Message
from messaging.services import channel_connect, message_send_text
from tests.admin_browser import screenshot, settled

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
TOKEN = "7012345678:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"


@pytest.fixture
def bot(sandbox):
    account = IntegrationAccount.objects.create(description="Bots", platform="telegram")
    channel = Channel.objects.create(
        account=account,
        provider="telegram",
        transport="telegram",
        name="Helpdesk bot",
        external_id="new",
        secrets={"bot_token": TOKEN},
    )
    return channel_connect(channel=channel)


@pytest.fixture
def page(browser, sandbox):
    context = browser.new_context(viewport={"width": 420, "height": 860}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    context.close()


def bubbles(page) -> list[str]:
    return [t.strip() for t in page.locator("#messages li .text").all_inner_texts()]


def test_a_sandbox_user_writes_edits_sends_a_photo_and_blocks_the_bot(sandbox, bot, page):
    page.goto(f"{sandbox}/sandbox/")
    page.click("text=Telegram sandbox")
    page.select_option("select[name=bot]", label="Helpdesk bot (@helpdesk_bot)")
    page.fill("input[name=name]", "Olivia Bennett")
    page.fill("input[name=username]", "olivia_b")
    page.click("button[type=submit]")
    page.wait_for_selector("#composer")
    assert "Updates go to" in page.locator("#note").inner_text()

    page.fill("#text", "Hello, my order #4821")
    page.click("#composer button[type=submit]")
    page.wait_for_function("document.querySelector('#note').textContent.includes('HTTP 200')")
    message = settled(lambda: Message.objects.filter(direction="in").first())
    assert message.text == "Hello, my order #4821"
    assert message.conversation.contact.handle == "@olivia_b"

    page.fill("#text", "Hello, my order #4822")
    page.click("button[data-send=edit]")
    assert settled(lambda: Message.objects.filter(text="Hello, my order #4822").exists())
    page.wait_for_selector("#messages li .meta:text('edited')")

    page.click("button[data-send=photo]")
    assert settled(lambda: Message.objects.filter(type="image", media_state="stored").exists())

    reply = message_send_text(
        channel=bot, contact=message.conversation.contact, text="We are on it, Olivia."
    )
    page.wait_for_selector("#messages li.theirs:has-text('We are on it, Olivia.')")
    assert settled(lambda: Message.objects.get(pk=reply.pk).status == "sent")
    screenshot(page, "telegram-sandbox-chat")

    page.check("#blocked")
    page.wait_for_function("document.querySelector('#note').textContent.includes('blocked')")
    failed = message_send_text(channel=bot, contact=message.conversation.contact, text="Hello?")
    assert settled(lambda: Message.objects.get(pk=failed.pk).status == "failed")
    assert "We are on it, Olivia." in bubbles(page)
    assert "Hello?" not in bubbles(page)
