"""The Twilio account's admin page in a real browser against the live server and the sandbox's
Twilio: the URLs to paste into Twilio, and "Verify credentials" with Twilio's answer, a wrong
token (20003) and Twilio out of reach."""

import pytest

from integrations.models import IntegrationAccount
from messaging.models import Channel, MessageTemplate
from messaging.sandbox import twilio as twilio_sandbox
from tests.admin_browser import admin_messages, admin_page, choose_action, screenshot

from .conftest import ACCOUNT_SID, AUTH_TOKEN

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def account(sandbox):
    account = IntegrationAccount.objects.create(
        description="Helpdesk Hub",
        platform="twilio",
        settings={"account_sid": ACCOUNT_SID, "messaging_service_sid": ""},
        secrets={"auth_token": AUTH_TOKEN},
    )
    Channel.objects.create(
        name="Twilio line", account=account, provider="twilio", external_id="whatsapp:+14155550100"
    )
    return account


@pytest.fixture
def account_page(sandbox, page_for, account):
    _, page = admin_page(page_for)
    page.goto(f"{sandbox}/admin/integrations/integrationaccount/{account.pk}/change/")
    return page


def verify(page) -> list[str]:
    with page.expect_navigation():
        page.click("button:text-is('Verify credentials')")
    page.wait_for_selector("ul.messagelist")
    return admin_messages(page)


def test_the_account_page_shows_the_urls_to_paste_into_twilio(sandbox, account, account_page):
    url = f"{sandbox}/webhooks/twilio/{account.key}/"
    shown = account_page.inner_text(".field-webhook_url")
    assert 'A message comes in" (HTTP POST)' in shown
    assert "Status callback URL" in shown
    assert account_page.locator("code.setup-url").all_inner_texts() == [url, url]


def test_verify_credentials_shows_twilios_answer_and_both_failures(
    sandbox, account, account_page, settings
):
    assert verify(account_page) == [
        "Helpdesk Hub (Twilio WhatsApp): credentials verified. "
        "Twilio account 'Helpdesk Hub' (active, Full)."
    ]
    screenshot(account_page, "twilio_verify_ok")

    # The token was revoked (or mistyped): Twilio answers 20003, the page says what it means.
    IntegrationAccount.objects.filter(pk=account.pk).update(secrets={"auth_token": "revoked"})
    [message] = verify(account_page)
    assert message.startswith(
        "Helpdesk Hub (Twilio WhatsApp): verification failed. 20003 Authenticate"
    )
    assert "SID or token is wrong" in message
    assert account_page.get_attribute(".field-is_healthy img", "alt") == "False"
    account.refresh_from_db()
    assert account.is_healthy is False
    assert account.channels.get().is_healthy is True  # the check marks the account; sends mark both
    screenshot(account_page, "twilio_verify_wrong_token")

    # Twilio out of reach: said as such, not as a credentials problem.
    IntegrationAccount.objects.filter(pk=account.pk).update(secrets={"auth_token": AUTH_TOKEN})
    settings.TWILIO_API_BASE_URL = "http://127.0.0.1:9"
    [message] = verify(account_page)
    assert message.startswith(
        "Helpdesk Hub (Twilio WhatsApp): verification failed. Twilio could not be reached"
    )
    assert "SID or token" not in message


def test_sync_templates_now_on_a_twilio_channel_reads_the_content_api(sandbox, account, page_for):
    _, page = admin_page(page_for)
    page.goto(f"{sandbox}/admin/messaging/channel/")
    choose_action(page, ["Twilio line"], "Sync templates now (for the channel's account)")
    page.wait_for_selector("ul.messagelist")
    count = len(twilio_sandbox.DEMO_CONTENT)
    assert admin_messages(page) == [
        f"{account}: {count} templates read, {count} new, 0 no longer on the platform."
    ]
    rejected = MessageTemplate.objects.get(account=account, name="promo_spring")
    assert rejected.status == "REJECTED" and rejected.rejected_reason.startswith("INVALID_FORMAT")
    page.goto(f"{sandbox}/admin/messaging/messagetemplate/?q=ticket_update")
    assert page.locator("#result_list tbody tr").count() == 2
