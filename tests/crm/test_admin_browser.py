"""The contact list's own actions in a real browser (Debian's chromium driven by Playwright)
against a live server: each is clicked as a manager clicks it, and the test checks the message
and the rows the list then shows."""

import pytest

from accounts.models import User
from crm.models import Contact, ContactKind
from crm.services import contact_create
from tests.admin_browser import admin_messages, admin_page, cell, choose_action

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CONTACTS = "/admin/crm/contact/"


@pytest.fixture
def contacts(db):
    return {
        "giulia": contact_create(phone="+393351032246", name="Giulia Conti"),
        "lucia": contact_create(phone="+34612345678", name="Lucía", kind=ContactKind.CUSTOMER),
    }


@pytest.fixture
def contacts_page(sandbox, page_for, contacts):
    _, page = admin_page(page_for)
    page.goto(f"{sandbox}{CONTACTS}")
    return page


def test_convert_to_customers_turns_the_ticked_lead_into_a_customer(contacts, contacts_page):
    assert cell(contacts_page, "Giulia Conti", "kind") == "Lead"
    choose_action(contacts_page, ["Giulia Conti", "Lucía"], "Convert selected leads to customers")
    contacts_page.wait_for_selector("ul.messagelist")
    assert admin_messages(contacts_page) == ["1 converted to customers (1 already customers)."]
    assert cell(contacts_page, "Giulia Conti", "kind") == "Customer"
    contacts["giulia"].refresh_from_db()
    assert contacts["giulia"].kind == ContactKind.CUSTOMER


def test_assign_a_responsible_asks_who_then_the_rows_show_them(contacts, contacts_page):
    User.objects.create_user(username="rep1", password="x", is_staff=True)
    choose_action(contacts_page, ["Giulia Conti", "Lucía"], "Assign a responsible user")
    contacts_page.wait_for_selector("text=Choose who becomes responsible for these 2 contacts")
    contacts_page.select_option("select[name=responsible]", label="rep1")
    contacts_page.click("input[type=submit][value=Assign]")
    contacts_page.wait_for_selector("ul.messagelist")
    assert admin_messages(contacts_page) == ["2 contacts assigned to rep1."]
    assert cell(contacts_page, "Giulia Conti", "responsible") == "rep1"
    assert cell(contacts_page, "Lucía", "responsible") == "rep1"
    assert set(Contact.objects.filter(responsible__username="rep1")) == set(contacts.values())

    # Cancel on the question page goes back to the list and changes nothing.
    choose_action(contacts_page, ["Giulia Conti"], "Assign a responsible user")
    contacts_page.click("a.cancel-link")
    contacts_page.wait_for_url(f"**{CONTACTS}")
    assert cell(contacts_page, "Giulia Conti", "responsible") == "rep1"
