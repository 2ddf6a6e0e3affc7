"""The demo's website widget: `make run` shows it on /widget/demo/, pointing at the sandbox
lines of "Customer care"; loading the demo twice changes nothing."""

import pytest
from django.core.management import call_command

from messaging.models import Channel, Message, Widget
from tests.admin_browser import screenshot, settled
from tests.messaging.test_end_to_end import customer_types

DEMO_ENTRIES = ["Sandbox support line", "Sandbox Twilio line", "Sandbox helpdesk bot"]


@pytest.mark.django_db
def test_the_demo_has_a_widget_on_the_sandbox_lines_of_customer_care(client, settings):
    settings.PUBLIC_BASE_URL = "http://127.0.0.1:8000"
    settings.SANDBOX_ENABLED = True
    call_command("demo_data")
    call_command("demo_data")

    widget = Widget.objects.get()
    assert widget.service.name == "Customer care"
    assert [e.channel.name for e in widget.entries.order_by("position")] == DEMO_ENTRIES
    assert "http://127.0.0.1:8000" in widget.allowed_origins.splitlines()
    page = client.get("/widget/demo/")
    assert f"/widget/{widget.key}.js" in page.content.decode()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_demo_page_shows_the_widget_and_leads_to_the_sandbox(browser, sandbox):
    call_command("demo_data")
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        page.set_default_timeout(15000)
        page.goto(f"{sandbox}/widget/demo/")
        page.locator("[data-switchboard-widget] button.launcher").click()
        dialog = page.get_by_role("dialog", name="Website chat")
        dialog.get_by_role("link", name="Open Telegram").wait_for()
        assert dialog.locator("section h3").all_inner_texts() == [
            "WhatsApp",
            "WhatsApp (second line)",
            "Telegram",
        ]
        assert "+15550100001"[1:] in dialog.get_by_role("link").first.get_attribute("href")
        screenshot(page, "widget-demo-page")
        page.keyboard.press("Escape")
        support = page.locator("#prefilled li").first
        assert support.inner_text().startswith("Sandbox support line: ")
        text = support.locator("code").inner_text()
        page.get_by_role("link", name="sandbox customer page").click()
        page.wait_for_url(f"{sandbox}/sandbox/")
    finally:
        context.close()
    # The person playing the visitor sends the text from the sandbox customer's phone.
    line = Channel.objects.get(name="Sandbox support line")
    customer_types(sandbox, line, text)
    message = settled(lambda: Message.objects.filter(direction="in").first())
    assert message.text == "Hello, I have a question about my order."
    conversation = message.conversation
    assert (conversation.widget.name, conversation.service.name) == (
        "Website chat",
        "Customer care",
    )
    assert conversation.widget_page == f"{sandbox}/widget/demo/"
