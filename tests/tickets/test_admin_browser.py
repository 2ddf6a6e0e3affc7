"""The ticket page of the admin in a real browser (Debian's chromium driven by Playwright)
against a live server with the sandbox: each button is clicked as staff click it, and the test
checks what they then see on the page and what reaches the sandbox customer."""

import pytest

from messaging.models import Conversation, Message
from messaging.sandbox import emulator
from tests.admin_browser import (
    admin_messages,
    admin_page,
    business_bubbles,
    business_texts,
    cell,
    choose_action,
    form_owner_id,
    screenshot,
    settled,
)
from tests.messaging.test_end_to_end import customer_types
from tickets.models import Ticket, TicketComment

from .conftest import staff_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def ticket(sandbox, wa_channel):
    # The emulator keeps its chats for the whole process: start from an empty one.
    emulator.reset()
    customer_types(sandbox, wa_channel, "My router blinks red since this morning")
    yield settled(lambda: Ticket.objects.select_related("contact").first())
    emulator.reset()


@pytest.fixture
def ticket_page(sandbox, page_for, ticket):
    user, page = admin_page(page_for)
    page.goto(f"{sandbox}/admin/tickets/ticket/{ticket.pk}/change/")
    page.user = user
    return page


def comment_rows(page) -> list[str]:
    return page.locator("fieldset:has(h2:text-is('Comments')) tbody tr").all_inner_texts()


def readonly_value(page, field: str) -> str:
    return page.inner_text(f".field-{field} .readonly").strip()


def test_every_form_of_the_ticket_page_exists_and_owns_its_inputs(ticket_page):
    # The admin's change form wraps the page: a form written inside it is dropped by the
    # browser and its buttons then submit nothing.
    for selector, form in (
        ("textarea[name=text]", "ticket-comment-form"),
        ("input[name=internal]", "ticket-comment-form"),
        ("input[type=submit][value='Add comment']", "ticket-comment-form"),
        ("select[name=status]", "ticket-status-form"),
        ("input[type=submit][value='Set status']", "ticket-status-form"),
        ("select[name=assignee]", "ticket-assign-form"),
        ("input[type=submit][value='Assign']", "ticket-assign-form"),
    ):
        assert form_owner_id(ticket_page, selector) == form, selector
    # ...and none of them is inside the admin's own form, whose fields and Save stay its own.
    assert ticket_page.locator("#ticket_form form").count() == 0
    assert form_owner_id(ticket_page, "input[name=title]") == "ticket_form"
    assert form_owner_id(ticket_page, "input[type=submit][name=_save]") == "ticket_form"


def test_the_admins_own_save_still_saves_the_ticket(ticket, ticket_page):
    ticket_page.fill("input[name=title]", "Router blinks red")
    ticket_page.click("input[type=submit][name=_save]")
    ticket_page.wait_for_selector("ul.messagelist")
    assert "was changed successfully" in admin_messages(ticket_page)[0]
    ticket.refresh_from_db()
    assert ticket.title == "Router blinks red"


def test_add_comment_shows_it_in_the_table_and_the_customer_receives_it(
    sandbox, wa_channel, ticket, ticket_page
):
    ticket_page.fill("textarea[name=text]", "A technician calls you at 3 pm.")
    ticket_page.click("input[type=submit][value='Add comment']")
    ticket_page.wait_for_selector("ul.messagelist")
    assert admin_messages(ticket_page) == [
        "Comment sent to the customer; its ticks appear as statuses arrive."
    ]
    assert any("A technician calls you at 3 pm." in row for row in comment_rows(ticket_page))
    # The customer's phone shows it, read (the sandbox reads at once); then so does the page.
    assert settled(
        lambda: (
            [(b["text"], b["status"]) for b in business_bubbles(sandbox, wa_channel)]
            == [("A technician calls you at 3 pm.", "read")]
        )
    )
    comment = TicketComment.objects.get(text="A technician calls you at 3 pm.")
    assert (comment.author, comment.is_internal) == (ticket_page.user, False)
    assert settled(lambda: Message.objects.get(pk=comment.message_id).status == "read")
    ticket_page.reload()
    assert any("✓✓ read" in row for row in comment_rows(ticket_page))
    screenshot(ticket_page, "admin-ticket-comment")


def test_an_internal_note_shows_as_a_note_and_nothing_is_sent(
    sandbox, wa_channel, ticket, ticket_page
):
    outbound_before = Message.objects.filter(direction="out").count()
    ticket_page.fill("textarea[name=text]", "Customer sounded upset; call back first.")
    ticket_page.check("input[name=internal]")
    ticket_page.click("input[type=submit][value='Add comment']")
    ticket_page.wait_for_selector("ul.messagelist")
    assert admin_messages(ticket_page) == ["Internal note added."]
    [row] = [r for r in comment_rows(ticket_page) if "call back first" in r]
    assert "[Internal note]" in row and "not sent" in row
    note = TicketComment.objects.get(text="Customer sounded upset; call back first.")
    assert note.is_internal and note.message_id is None
    assert Message.objects.filter(direction="out").count() == outbound_before
    assert business_texts(sandbox, wa_channel) == []


def test_set_status_shows_the_new_status(ticket, ticket_page):
    assert readonly_value(ticket_page, "status") == "Open"
    ticket_page.select_option("select[name=status]", label="Waiting for response")
    ticket_page.click("input[type=submit][value='Set status']")
    ticket_page.wait_for_selector("ul.messagelist")
    assert admin_messages(ticket_page) == [f"{ticket.number} is now Waiting for response."]
    assert readonly_value(ticket_page, "status") == "Waiting for response"
    ticket.refresh_from_db()
    assert ticket.status == "waiting_for_response"


def test_assign_shows_the_new_assignee_and_nobody_unassigns(ticket, ticket_page):
    colleague = staff_user("colleague")
    ticket_page.reload()  # the colleague joins the list of staff
    ticket_page.select_option("select[name=assignee]", label="colleague")
    ticket_page.click("input[type=submit][value='Assign']")
    ticket_page.wait_for_selector("ul.messagelist")
    assert admin_messages(ticket_page) == [f"{ticket.number} is now assigned to colleague."]
    assert readonly_value(ticket_page, "assignee") == "colleague"
    ticket.refresh_from_db()
    assert ticket.assignee == colleague

    ticket_page.select_option("select[name=assignee]", label="(nobody)")
    ticket_page.click("input[type=submit][value='Assign']")
    unassigned = f"{ticket.number} is now unassigned."
    ticket_page.wait_for_selector(f"ul.messagelist li:text-is('{unassigned}')")
    assert readonly_value(ticket_page, "assignee") == "-"
    ticket.refresh_from_db()
    assert ticket.assignee is None


def test_open_ticket_on_a_conversation_page_opens_it_and_shows_the_ticket(
    sandbox, wa_channel, page_for
):
    wa_channel.auto_create_tickets = False
    wa_channel.save(update_fields=["auto_create_tickets"])
    emulator.reset()
    customer_types(sandbox, wa_channel, "Can I change my delivery address?")
    conversation = settled(lambda: Conversation.objects.first())
    _, page = admin_page(page_for)
    page.goto(f"{sandbox}/admin/messaging/conversation/{conversation.pk}/change/")
    assert page.is_visible("text=No ticket is linked.")
    assert form_owner_id(page, "input[type=submit][value='Open ticket']") == "open-ticket-form"
    page.click("input[type=submit][value='Open ticket']")
    page.wait_for_selector("ul.messagelist")
    ticket = Ticket.objects.get()
    assert page.url == f"{sandbox}/admin/tickets/ticket/{ticket.pk}/change/"
    assert admin_messages(page) == [
        f"Conversation #{conversation.pk}: ticket {ticket.number} opened."
    ]
    assert "Can I change my delivery address?" in page.inner_text(".field-description_text")
    emulator.reset()


def test_the_ticket_list_actions_close_reopen_and_assign_the_ticked_rows(sandbox, ticket, page_for):
    staff_user("colleague")
    _, page = admin_page(page_for)
    page.goto(f"{sandbox}/admin/tickets/ticket/")
    number = ticket.number

    choose_action(page, [number], "Close selected tickets")
    page.wait_for_selector("ul.messagelist")
    assert admin_messages(page) == ["1 ticket(s) closed."]
    assert cell(page, number, "status") == "Closed"

    choose_action(page, [number], "Reopen selected tickets")
    page.wait_for_selector("ul.messagelist")
    assert admin_messages(page) == ["1 ticket(s) reopened."]
    assert cell(page, number, "status") == "Open"

    # "Assign to" next to the action drop-down picks the person.
    page.select_option("select[name=assignee]", label="colleague")
    choose_action(page, [number], "Assign selected tickets to the person chosen above")
    page.wait_for_selector("ul.messagelist")
    assert admin_messages(page) == ["1 ticket(s) assigned to colleague."]
    assert cell(page, number, "assignee") == "colleague"

    choose_action(page, [number], "Assign selected tickets to me")
    page.wait_for_selector("ul.messagelist")
    assert admin_messages(page) == ["1 ticket(s) assigned to you."]
    assert cell(page, number, "assignee") == "boss"
    ticket.refresh_from_db()
    assert (ticket.status, ticket.assignee.username) == ("open", "boss")


def test_the_conversation_list_closes_the_ticked_conversation(sandbox, ticket, page_for):
    conversation = Conversation.objects.get(ticket=ticket)
    _, page = admin_page(page_for)
    page.goto(f"{sandbox}/admin/messaging/conversation/")
    row = str(conversation.contact)
    assert cell(page, row, "status") == "Open"
    choose_action(page, [row], "Close the selected conversations")
    page.wait_for_selector("ul.messagelist")
    assert admin_messages(page) == ["1 conversation(s) closed."]
    assert cell(page, row, "status") == "Closed"
    conversation.refresh_from_db()
    assert conversation.status == "closed" and conversation.closed_at is not None
