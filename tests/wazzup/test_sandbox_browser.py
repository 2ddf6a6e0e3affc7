"""The Wazzup sandbox page in a real browser: the customer writes, the agent answers from their
phone, and an agent presses "create contact" in Wazzup; each reaches Switchboard over HTTP."""

import pytest

from crm.models import Contact
from integrations.models import IntegrationAccount
from messaging.models import Message
from messaging.sandbox import wazzup as emulator
from messaging.services.provider_items import account_channels_import, account_webhooks_connect
from tests.admin_browser import screenshot, settled
from tests.wazzup.conftest import make_agent

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_sandbox_page_plays_the_customer_the_phone_and_create_contact(sandbox, browser):
    account = IntegrationAccount.objects.create(
        description="Sandbox Wazzup", platform="wazzup", secrets={"api_key": "page-key"}
    )
    account_channels_import(account=account)
    account_webhooks_connect(account=account)
    luca = make_agent("luca")
    emulator.entities_post(
        emulator.account("page-key"), "users", [{"id": str(luca.pk), "name": "Luca"}]
    )
    page = browser.new_page()
    page.set_default_timeout(15000)
    page.goto(f"{sandbox}/sandbox/wazzup/")
    page.fill("input[name=chat]", "447700900321")
    page.fill("input[name=name]", "Giulia Conti")
    page.fill("#text", "Hello from Wazzup")
    page.click("button:text-is('Customer sends')")
    page.wait_for_selector("#thread p.bubble.in")
    assert "Giulia Conti: Hello from Wazzup" in page.inner_text("#thread")
    assert settled(lambda: Message.objects.filter(text="Hello from Wazzup").exists())

    page.fill("#text", "Answering from my phone")
    page.select_option("select[name=user]", str(luca.pk))
    page.click("button:text-is('Agent sends from phone')")
    page.wait_for_selector("#thread p.bubble.out")
    assert "Luca: Answering from my phone" in page.inner_text("#thread")
    echo = settled(lambda: Message.objects.filter(text="Answering from my phone").first())
    assert (echo.direction, echo.sent_by) == ("out", luca)

    page.click("button:text-is('Create contact in Wazzup')")
    contact = Contact.objects.get(phone="+447700900321")
    assert page.inner_text("#said") == f"Switchboard answered 200: contact {contact.pk}"
    screenshot(page, "wazzup_sandbox_page")
    page.close()
