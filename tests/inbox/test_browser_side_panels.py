"""Labels, the linked ticket and the contact in a real browser (Debian's chromium driven by
Playwright): each control clicked as a person would, and what they then see checked."""

import re

import pytest
from django.utils import timezone

from crm.models import Company, ContactAddress
from messaging.models import Conversation
from tests.admin_browser import screenshot, settled
from tickets.models import Ticket, TicketComment
from tickets.models_inbox import ConversationNote, Label

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def labels(db):
    return {
        "vip": Label.objects.create(name="VIP", colour="#b71c1c"),
        "billing": Label.objects.create(name="Billing", colour="#1565c0"),
    }


def row(page, conversation):
    return page.locator(f'li.row[data-id="{conversation.pk}"]')


def open_conversation(page, conversation):
    row(page, conversation).locator("a").click()
    page.wait_for_url(re.compile(rf"/inbox/c/{conversation.pk}/$"))


def test_labels_are_added_shown_in_the_list_filtered_and_removed(
    live_server, people, clients, labels, page_for
):
    own = clients["own"]
    page = page_for(people["rep"])
    open_conversation(page, own)
    page.select_option("#label-add-form select", label="VIP")
    page.click("#label-add-form button[type=submit]")
    page.wait_for_selector("#labels-on .chip >> text=VIP")
    page.select_option("#label-add-form select", label="Billing")
    page.click("#label-add-form button[type=submit]")
    page.wait_for_selector("#labels-on .chip >> text=Billing")
    # A label already on the conversation is no longer offered.
    assert page.locator("#label-add-form option").all_inner_texts() == ["—"]
    assert set(own.labels.values_list("name", flat=True)) == {"VIP", "Billing"}
    screenshot(page, "side-labels")

    page.click("a.back")
    page.wait_for_url(re.compile(r"/inbox/$"))
    assert row(page, own).locator(".chip").all_inner_texts() == ["Billing", "VIP"]
    assert page.locator("li.row").count() == 2  # their own client and the unclaimed one
    page.select_option("#filters select[name=label]", label="VIP")
    page.click("#filters button[type=submit]")
    page.wait_for_url(re.compile(r"label="))
    assert [r.get_attribute("data-id") for r in page.locator("li.row").all()] == [str(own.pk)]
    screenshot(page, "list-label-filter")

    open_conversation(page, own)
    page.click(f'#labels-on .chip[data-label="{labels["vip"].pk}"] button.chip-remove')
    page.wait_for_selector(f'#labels-on .chip[data-label="{labels["vip"].pk}"]', state="detached")
    assert list(own.labels.values_list("name", flat=True)) == ["Billing"]
    page.goto(f"{live_server.url}/inbox/?label={labels['vip'].pk}")
    assert page.locator("li.row").count() == 0
    assert page.inner_text("#conversations") == "No conversations."


@pytest.fixture
def ticket(clients, people):
    conversation = clients["own"]
    ticket = Ticket.objects.create(number="TT9", title="Broken hinge", contact=conversation.contact)
    Conversation.objects.filter(pk=conversation.pk).update(ticket=ticket)
    TicketComment.objects.create(
        ticket=ticket, author_kind="customer", text="It broke again", created_at=timezone.now()
    )
    TicketComment.objects.create(
        ticket=ticket,
        author=people["manager"],
        author_kind="staff",
        text="Check the warranty",
        is_internal=True,
    )
    return ticket


def test_a_manager_edits_the_ticket_status_priority_and_assignee(
    live_server, people, clients, ticket, page_for
):
    page = page_for(people["manager"])
    open_conversation(page, clients["own"])
    comments = page.locator("#ticket-comments li")
    assert comments.count() == 2
    assert "It broke again" in comments.nth(0).inner_text()
    assert "internal" in comments.nth(1).inner_text()
    page.select_option("#ticket-form select[name=status]", label="Waiting for response")
    page.select_option("#ticket-form select[name=priority]", label="Urgent")
    page.select_option("#ticket-form select[name=assignee]", label="Other")
    page.click("#ticket-form button[type=submit]")
    page.wait_for_selector(".flash li.success")
    assert page.inner_text(".flash li.success") == "Ticket TT9 saved."
    assert page.inner_text("#ticket-status") == "Waiting for response"
    assert page.inner_text("#ticket-priority") == "Urgent"
    assert page.inner_text("#ticket-assignee") == "Other"
    ticket.refresh_from_db()
    assert (ticket.status, ticket.priority, ticket.assignee) == (
        "waiting_for_response",
        "urgent",
        people["other"],
    )
    screenshot(page, "side-ticket")


def test_a_sales_rep_takes_the_ticket_but_cannot_give_it_away(
    live_server, people, clients, ticket, page_for
):
    page = page_for(people["rep"])
    open_conversation(page, clients["own"])
    # The rep is offered only themselves (and nobody).
    assert page.locator("#ticket-form select[name=assignee] option").all_inner_texts() == [
        "unassigned",
        "Rep",
    ]
    page.select_option("#ticket-form select[name=assignee]", label="Rep")
    page.select_option("#ticket-form select[name=status]", label="Closed")
    page.click("#ticket-form button[type=submit]")
    page.wait_for_selector(".flash li.success")
    ticket.refresh_from_db()
    assert (ticket.status, ticket.assignee) == ("closed", people["rep"])
    assert ticket.closed_at is not None


def test_the_contact_panel_edits_the_contact_and_lists_addresses_and_earlier_conversations(
    live_server, people, clients, channel, rr_channel, page_for
):
    own = clients["own"]
    contact = own.contact
    ContactAddress.objects.create(contact=contact, transport="whatsapp", address=contact.phone)
    ContactAddress.objects.create(
        contact=contact, transport="telegram", address="777001", handle="@own_user"
    )
    earlier = Conversation.objects.create(
        channel=rr_channel, contact=contact, status="closed", closed_at=timezone.now()
    )
    Company.objects.create(name="Acme Srl", responsible=people["rep"])

    page = page_for(people["rep"])
    open_conversation(page, own)
    addresses = page.inner_text("#contact-addresses")
    assert contact.phone in addresses and "777001 (@own_user)" in addresses
    assert page.locator("#earlier-conversations a").count() == 1
    assert "Round line" in page.inner_text("#earlier-conversations")

    page.click("#contact-edit summary")
    page.fill("#contact-form input[name=name]", "Giulia Own")
    page.fill("#contact-form input[name=email]", "not-an-email")
    page.click("#contact-form button[type=submit]")
    # The browser itself refuses a malformed e-mail: nothing is posted.
    assert page.evaluate(
        "document.querySelector('#contact-form input[name=email]').validity.typeMismatch"
    )
    page.fill("#contact-form input[name=email]", "giulia@example.com")
    page.fill("#contact-form input[name=company]", "acme srl")
    page.click("#contact-form button[type=submit]")
    page.wait_for_selector(".flash li.success")
    contact.refresh_from_db()
    assert (contact.name, contact.email, contact.company.name) == (
        "Giulia Own",
        "giulia@example.com",
        "Acme Srl",
    )
    assert page.inner_text(".thread-head h1") == "Giulia Own"
    page.click("#contact-edit summary")
    page.fill("#contact-form input[name=company]", "Brand New Spa")
    page.click("#contact-form button[type=submit]")
    page.wait_for_selector(".flash li.success")
    contact.refresh_from_db()
    assert contact.company.name == "Brand New Spa"
    assert contact.company.responsible == people["rep"]  # a rep's new company is theirs
    screenshot(page, "side-contact")

    page.click("#earlier-conversations a")
    page.wait_for_url(re.compile(rf"/inbox/c/{earlier.pk}/$"))
    assert "Round line" in page.inner_text(".thread-head")


def test_quality_control_sees_the_panels_but_no_control_that_writes(
    live_server, people, clients, labels, ticket, page_for
):
    labels["vip"].conversations.add(clients["own"])
    page = page_for(people["quality"])
    open_conversation(page, clients["own"])
    assert page.inner_text("#labels-on") == "VIP"
    assert page.locator("#labels-on button").count() == 0
    assert page.locator("#label-add-form").count() == 0
    assert page.locator("#ticket-form").count() == 0
    assert page.locator("#ticket-comments li").count() == 2
    assert page.locator("#contact-form").count() == 0
    assert page.locator("#note-form").count() == 0
    assert page.locator("#reply-form").count() == 0
    assert page.inner_text("#ticket-status") == "Open"


def test_a_note_written_elsewhere_appears_live_for_a_reader(live_server, people, clients, page_for):
    reader = page_for(people["quality"])
    open_conversation(reader, clients["own"])
    writer = page_for(people["rep"])
    open_conversation(writer, clients["own"])
    writer.click("#note-box summary")
    writer.fill("#note-form textarea", "Promised a refund")
    writer.click("#note-form button[type=submit]")
    note = settled(lambda: ConversationNote.objects.first())
    # Quality control reads it without reloading; no control to write one is offered there.
    reader.wait_for_selector(f"#n{note.pk}")
    assert "Promised a refund" in reader.inner_text(f"#n{note.pk}")
    assert reader.locator("#note-form").count() == 0
    assert reader.locator(f"#n{note.pk}").count() == 1  # later polls do not add it again
