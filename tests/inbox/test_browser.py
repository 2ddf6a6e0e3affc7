"""The inbox in a real browser (Debian's chromium driven by Playwright) against a live server,
with sends going through the sandbox over real HTTP: statuses come back as signed webhooks and
the page's polling moves the ticks."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Role
from messaging.models import Conversation, Message, MessageTemplate
from tests.browser import ARTIFACTS
from tests.inbox.conftest import make_user
from tests.messaging.test_end_to_end import CUSTOMER, customer_types, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def team(channel):
    return {
        "rep": make_user("rep", Role.SALES_REP, channels=[channel]),
        "quality": make_user("quality", Role.QUALITY_CONTROL),
    }


def customer_conversation(sandbox, channel, text="Ciao, is my order ready?"):
    customer_types(sandbox, channel, text)
    return wait_for(lambda: Conversation.objects.filter(channel=channel).first())


def test_a_sales_rep_replies_and_watches_the_ticks_reach_read(sandbox, channel, team, page_for):
    page = page_for(team["rep"])
    conversation = customer_conversation(sandbox, channel)
    # The new conversation appears in the list without a reload.
    row = page.locator(f'li.row[data-id="{conversation.pk}"] a')
    row.wait_for()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "inbox.png"), full_page=True)
    row.click()
    page.wait_for_selector("text=Ciao, is my order ready?")
    assert "Window open" in page.inner_text("#window-left")

    page.fill("#reply-form textarea", "Yes, it leaves today!")
    page.click("#reply-form button[type=submit]")
    reply = wait_for(lambda: Message.objects.filter(direction="out").first())
    ticks = page.locator(f"#m{reply.pk} .ticks")
    ticks.wait_for()
    page.wait_for_selector(f'#m{reply.pk} .ticks[data-status="read"]')
    assert ticks.inner_text() == "Read"
    assert page.inner_text(f"#m{reply.pk} .text") == "Yes, it leaves today!"
    conversation.refresh_from_db()
    assert conversation.assignee == team["rep"]  # the first reply claimed the client

    # A new customer message shows up live, after the reply.
    customer_types(sandbox, channel, "Thank you!")
    page.wait_for_selector("text=Thank you!")
    page.screenshot(path=str(ARTIFACTS / "conversation.png"), full_page=True)


def test_the_template_picker_fills_parameters_with_a_live_preview(sandbox, channel, team, page_for):
    MessageTemplate.objects.create(
        account=channel.account,
        name="ticket_update",
        language="en_US",
        category="UTILITY",
        status="APPROVED",
        components=[
            {"type": "BODY", "text": "Hello {{1}}, there is news on your request {{2}}: {{3}}"}
        ],
        body_param_count=3,
    )
    conversation = customer_conversation(sandbox, channel)
    Conversation.objects.filter(pk=conversation.pk).update(
        last_inbound_at=timezone.now() - timedelta(hours=30)
    )
    page = page_for(team["rep"])
    page.goto(f"{sandbox}/inbox/c/{conversation.pk}/")
    assert page.is_hidden("#reply-form")
    page.select_option("#template-select", label="ticket_update [en_US]")
    fields = page.locator("#template-params input[name=body_params]")
    assert fields.count() == 3
    for n, value in enumerate(("Giulia", "TT7", "the courier comes at 10")):
        fields.nth(n).fill(value)
    preview = "Hello Giulia, there is news on your request TT7: the courier comes at 10"
    assert page.inner_text("#template-preview") == preview
    page.click("#template-form button[type=submit]")
    sent = wait_for(lambda: Message.objects.filter(direction="out", type="template").first())
    assert sent.text == preview
    page.wait_for_selector(f'#m{sent.pk} .ticks[data-status="read"]')
    assert page.inner_text(f"#m{sent.pk} .text") == preview  # the agent sees what went out
    state = wait_for(
        lambda: [
            m["text"]
            for m in __import__("requests")
            .get(f"{sandbox}/sandbox/chat/{channel.external_id}/{CUSTOMER}/state", timeout=10)
            .json()["messages"]
            if m["from"] == "business"
        ]
    )
    assert any("TT7" in text for text in state)


def test_quality_control_reads_without_a_reply_box_on_a_phone(sandbox, channel, team, page_for):
    conversation = customer_conversation(sandbox, channel)
    page = page_for(team["quality"], mobile=True)
    page.locator(f'li.row[data-id="{conversation.pk}"] a').click()
    page.wait_for_selector("text=Ciao, is my order ready?")
    assert page.locator("#reply-form").count() == 0
    assert page.locator("#template-form").count() == 0
    assert page.is_visible("#readonly-note")
    # Nothing overflows sideways on a phone-sized screen.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "inbox-phone.png"), full_page=True)
