"""The Wazzup account's buttons in a real browser against the sandbox over HTTP: "Verify
credentials" (a good key, a wrong key, a Sidecar key), "Import channels" (the channels list with
their transport and state) and "Connect webhooks" (Wazzup's test call answered)."""

import pytest

from integrations.models import IntegrationAccount
from messaging.models import Channel
from messaging.sandbox import wazzup as emulator
from tests.admin_browser import admin_messages, admin_page, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def account_page(page, base, account):
    page.goto(f"{base}/admin/integrations/integrationaccount/{account.pk}/change/")


def click(page, label):
    page.click(f"button:text-is('{label}')")
    page.wait_for_selector("ul.messagelist")
    return admin_messages(page)


def test_verify_import_and_connect_on_the_account_page(sandbox, page_for):
    account = IntegrationAccount.objects.create(
        description="Our Wazzup", platform="wazzup", secrets={"api_key": "browser-key"}
    )
    _, page = admin_page(page_for)
    account_page(page, sandbox, account)
    assert click(page, "Verify credentials") == [
        "Our Wazzup (Wazzup): credentials verified. 2 channel(s), 2 active."
    ]

    assert click(page, "Import channels") == ["Channels imported: 2 new, 0 updated."]
    page.goto(f"{sandbox}/admin/messaging/channel/")
    rows = page.locator("#result_list tbody tr").all_inner_texts()
    assert len(rows) == 2
    assert any("whatsapp" in row.lower() and "active" in row for row in rows)
    assert Channel.objects.get(external_id=emulator.TELEGRAM_CHANNEL_ID).transport == "telegram"

    account_page(page, sandbox, account)
    [said] = click(page, "Connect webhooks")
    assert said == "Webhooks connected. Wazzup accepted the webhook address and its test call."
    account.refresh_from_db()
    token = account.secrets["webhook_token"]
    assert emulator.account("browser-key").webhooks_uri.endswith(f"/?key={token}")
    screenshot(page, "wazzup_account_connected")


def test_verify_names_a_wrong_key_and_a_sidecar_key(sandbox, page_for):
    wrong = IntegrationAccount.objects.create(
        description="Wrong key", platform="wazzup", secrets={"api_key": "bad-key"}
    )
    sidecar = IntegrationAccount.objects.create(
        description="Sidecar", platform="wazzup", secrets={"api_key": "sidecar-key"}
    )
    _, page = admin_page(page_for)
    account_page(page, sandbox, wrong)
    [said] = click(page, "Verify credentials")
    assert said.startswith("Wrong key (Wazzup): verification failed.")
    assert "401: the API key is wrong" in said
    account_page(page, sandbox, sidecar)
    [said] = click(page, "Verify credentials")
    assert "Sidecar key" in said
    assert "Sidecar key" in page.inner_text(".field-last_error")


def test_connect_webhooks_fails_clearly_when_the_test_call_is_refused(sandbox, page_for, settings):
    account = IntegrationAccount.objects.create(
        description="Our Wazzup", platform="wazzup", secrets={"api_key": "browser-key"}
    )
    # A public URL that does not lead back to Switchboard: Wazzup's test POST fails.
    settings.PUBLIC_BASE_URL = f"{sandbox}/nowhere"
    _, page = admin_page(page_for)
    account_page(page, sandbox, account)
    [said] = click(page, "Connect webhooks")
    assert said.startswith("Connecting webhooks failed: Wazzup 400 testPostNotPassed")
