"""Connect and Disconnect on a Telegram bot's channel page, clicked in a real browser against the
live server, with the Telegram sandbox as the Bot API."""

import pytest
import requests

from integrations.models import IntegrationAccount
from messaging.models import Channel
from tests.admin_browser import admin_messages, admin_page, screenshot, settled

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
TOKEN = "7012345678:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"


@pytest.fixture
def bot_channel(sandbox):
    account = IntegrationAccount.objects.create(description="Bots", platform="telegram")
    return Channel.objects.create(
        account=account,
        provider="telegram",
        transport="telegram",
        name="Helpdesk bot",
        external_id="new",
        secrets={"bot_token": TOKEN},
    )


def webhook_at_sandbox(base) -> str:
    info = requests.get(f"{base}/sandbox/telegram/bot{TOKEN}/getWebhookInfo", timeout=10).json()
    return info["result"]["url"]


def test_connect_then_disconnect_from_the_channel_page(sandbox, page_for, bot_channel):
    bot_channel.secrets = {}
    bot_channel.save()
    _, page = admin_page(page_for)
    page.goto(f"{sandbox}/admin/messaging/channel/{bot_channel.pk}/change/")
    assert "Not connected" in page.locator("#webhook-status").inner_text()
    # The token is pasted once (each provider field is on the page once) and saved.
    assert page.locator("input[name=secret_bot_token]").count() == 1
    page.fill("input[name=secret_bot_token]", "not a token")
    page.click("input[name=_continue]")
    assert "Not a bot token" in page.locator(".errorlist").first.inner_text()
    page.fill("input[name=secret_bot_token]", TOKEN)
    page.click("input[name=_continue]")
    page.wait_for_selector("ul.messagelist")
    assert Channel.objects.get(pk=bot_channel.pk).secrets["bot_token"] == TOKEN
    assert page.locator("#channel-disconnect").count() == 0

    page.click("#channel-connect")
    page.wait_for_selector("ul.messagelist")
    shown = admin_messages(page)
    assert "Connected: the webhook is registered." in shown
    # The live server is http://: fine for the sandbox, and the page says Telegram would refuse.
    assert any("only calls webhooks over HTTPS" in m for m in shown)
    status = page.locator("#webhook-status").inner_text()
    assert "@helpdesk_bot (7012345678)" in status
    assert "Pending updates\n0" in status or "Pending updates 0" in status.replace("\n", " ")
    screenshot(page, "telegram-channel-connected")
    url = f"{sandbox}/webhooks/telegram/{bot_channel.key}/"
    assert webhook_at_sandbox(sandbox) == url
    channel = settled(lambda: Channel.objects.get(pk=bot_channel.pk))
    assert channel.external_id == "7012345678"
    assert channel.secrets["webhook_secret"]

    page.click("#channel-refresh")
    page.wait_for_selector("ul.messagelist")
    assert "Webhook status read again." in admin_messages(page)

    page.click("#channel-disconnect")
    page.wait_for_selector("ul.messagelist")
    assert "Disconnected: the webhook is removed." in admin_messages(page)
    assert "Not connected" in page.locator("#webhook-status").inner_text()
    assert webhook_at_sandbox(sandbox) == ""
    assert Channel.objects.get(pk=bot_channel.pk).secrets["webhook_secret"] == ""


def test_a_revoked_token_is_a_clear_error_and_marks_the_bot_unhealthy(
    sandbox, page_for, bot_channel
):
    bot_channel.secrets = {"bot_token": "7012345678:AArevokedrevokedrevokedrevoked"}
    bot_channel.save()
    _, page = admin_page(page_for)
    page.goto(f"{sandbox}/admin/messaging/channel/{bot_channel.pk}/change/")
    page.click("#channel-connect")
    page.wait_for_selector("ul.messagelist")
    shown = admin_messages(page)[0]
    assert shown.startswith("Checking the token failed")
    assert "revoked or wrong" in shown
    screenshot(page, "telegram-channel-revoked")
    assert Channel.objects.get(pk=bot_channel.pk).is_healthy is False
