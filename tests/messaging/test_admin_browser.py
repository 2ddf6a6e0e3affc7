"""The conversation page of the admin in a real browser (Debian's chromium driven by Playwright)
against a live server with the sandbox: "Send reply" is clicked as staff click it, and the test
checks the page and the sandbox customer's phone."""

import pytest

from messaging.models import Conversation, Message
from messaging.sandbox import emulator
from tests.admin_browser import (
    admin_messages,
    admin_page,
    business_bubbles,
    business_texts,
    form_owner_id,
    screenshot,
    settled,
)

from .test_end_to_end import customer_types

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def conversation(sandbox, wa_channel):
    # The emulator keeps its chats for the whole process: start from an empty one.
    emulator.reset()
    customer_types(sandbox, wa_channel, "Is the shop open on Sunday?")
    yield settled(lambda: Conversation.objects.first())
    emulator.reset()


@pytest.fixture
def conversation_page(sandbox, page_for, conversation):
    _, page = admin_page(page_for)
    page.goto(f"{sandbox}/admin/messaging/conversation/{conversation.pk}/change/")
    return page


def staff_cells(page) -> list[str]:
    return [t.strip() for t in page.locator("td.field-staff_text").all_inner_texts()]


def test_the_reply_form_exists_outside_the_admins_form(conversation_page):
    # A form inside the admin's change form is dropped by the browser: "Send reply" would
    # then submit nothing.
    assert form_owner_id(conversation_page, "textarea[name=text]") == "reply-form"
    assert form_owner_id(conversation_page, "input[value='Send reply']") == "reply-form"
    assert conversation_page.locator("#conversation_form form").count() == 0
    assert form_owner_id(conversation_page, "input[name=_save]") == "conversation_form"


def test_send_reply_reaches_the_customer_and_shows_in_the_messages(
    sandbox, wa_channel, conversation, conversation_page
):
    conversation_page.fill("textarea[name=text]", "Yes, from 10 to 13.")
    conversation_page.click("input[type=submit][value='Send reply']")
    conversation_page.wait_for_selector("ul.messagelist")
    assert admin_messages(conversation_page) == [
        "Reply queued; its ticks appear as statuses arrive."
    ]
    assert "Yes, from 10 to 13." in staff_cells(conversation_page)
    # The customer's phone shows it, read (the sandbox reads at once); then so does the page.
    assert settled(
        lambda: (
            [(b["text"], b["status"]) for b in business_bubbles(sandbox, wa_channel)]
            == [("Yes, from 10 to 13.", "read")]
        )
    )
    reply = settled(lambda: Message.objects.get(direction="out", status="read"))
    assert (reply.conversation_id, reply.text) == (conversation.pk, "Yes, from 10 to 13.")
    conversation_page.reload()
    row = conversation_page.locator("tr.has_original").filter(has_text="Yes, from 10 to 13.")
    assert "read" in row.locator("td.field-status").inner_text().lower()
    screenshot(conversation_page, "admin-conversation-reply")


def test_a_refused_reply_shows_why_and_sends_nothing(
    sandbox, wa_channel, conversation, conversation_page
):
    conversation_page.click("input[type=submit][value='Send reply']")  # nothing typed
    conversation_page.wait_for_selector("ul.messagelist li.error")
    assert admin_messages(conversation_page)
    assert not Message.objects.filter(direction="out").exists()
    assert business_texts(sandbox, wa_channel) == []


def test_a_sales_rep_replies_from_their_own_clients_page(
    sandbox, wa_channel, conversation, page_for
):
    from accounts.models import Role
    from crm.models import Contact
    from tests.inbox.conftest import make_user

    rep = make_user("rita", Role.SALES_REP, channels=[wa_channel])
    Contact.objects.filter(pk=conversation.contact_id).update(responsible=rep)
    page = page_for(rep)
    page.goto(f"{sandbox}/admin/messaging/conversation/{conversation.pk}/change/")
    # Their client: the page may be changed and answered (asked once for the whole page).
    assert page.locator("input[name=_save]").count() == 1
    # What the services keep is shown, not offered for editing.
    assert page.locator("input[name=last_message_preview]").count() == 0
    assert page.locator(".field-last_message_preview").count() == 1
    page.fill("textarea[name=text]", "Rita here: yes, from 10 to 13.")
    page.click("input[type=submit][value='Send reply']")
    page.wait_for_selector("ul.messagelist")
    assert "Rita here: yes, from 10 to 13." in staff_cells(page)
    assert settled(
        lambda: (
            [b["text"] for b in business_bubbles(sandbox, wa_channel)]
            == ["Rita here: yes, from 10 to 13."]
        )
    )
    screenshot(page, "admin-conversation-rep-reply")
