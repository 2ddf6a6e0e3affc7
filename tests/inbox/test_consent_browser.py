"""Consent and GDPR in a real browser (Debian's chromium) against a live server and the sandbox:
a customer's STOP shows in the inbox contact panel and the admin; the export downloads a zip; the
erasure asks for confirmation, then forgets the person."""

import io
import json
import zipfile
from pathlib import Path

import pytest

from accounts.models import Role
from crm.models import ConsentRecord, Contact, ContactErasure
from messaging.models import Conversation, Message
from tests.admin_browser import (
    admin_messages,
    admin_page,
    business_texts,
    choose_action,
    screenshot,
    settled,
)
from tests.inbox.conftest import make_user
from tests.messaging.test_end_to_end import customer_types

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _conversation(sandbox, channel, text):
    customer_types(sandbox, channel, text)
    return settled(lambda: Conversation.objects.filter(channel=channel).first())


def test_a_customers_stop_shows_in_the_inbox_panel_and_start_reverses_it(
    sandbox, channel, page_for
):
    manager = make_user("boss", Role.MANAGER, channels=[channel])
    conversation = _conversation(sandbox, channel, "Hello, my order?")
    page = page_for(manager)
    page.goto(f"{sandbox}/inbox/c/{conversation.pk}/")
    assert page.get_attribute("#marketing-consent", "data-state") == "unknown"
    assert "not given" in page.inner_text("#marketing-consent")

    customer_types(sandbox, channel, "STOP")
    assert settled(lambda: ConsentRecord.objects.filter(state="opted_out").exists())
    assert settled(lambda: any("no more marketing" in t for t in business_texts(sandbox, channel)))
    page.reload()
    assert page.get_attribute("#marketing-consent", "data-state") == "opted_out"
    assert "opted out" in page.inner_text("#marketing-consent")
    assert "Keyword or button" in page.inner_text("#consent-card")
    screenshot(page, "inbox-consent-opted-out")

    customer_types(sandbox, channel, "start")
    assert settled(lambda: ConsentRecord.objects.filter(state="opted_in").exists())
    page.reload()
    assert page.get_attribute("#marketing-consent", "data-state") == "opted_in"


def test_the_admin_shows_consent_and_downloads_the_export(sandbox, channel, page_for):
    conversation = _conversation(sandbox, channel, "Ciao from the balcony")
    contact = conversation.contact
    customer_types(sandbox, channel, "STOP")
    settled(lambda: ConsentRecord.objects.filter(contact=contact).exists())
    _, page = admin_page(page_for)
    page.goto(f"{sandbox}/admin/crm/contact/{contact.pk}/change/")
    consent = page.locator(".field-consent_section")
    assert "Opted out" in consent.inner_text()
    assert "Keyword or button" in consent.inner_text()
    screenshot(page, "admin-contact-consent")

    with page.expect_download() as download_info:
        page.click("#gdpr-export-link")
    download = download_info.value
    assert download.suggested_filename == f"contact-{contact.pk}.zip"
    archive = zipfile.ZipFile(io.BytesIO(Path(download.path()).read_bytes()))
    messages = json.loads(archive.read("messages.json"))
    assert "Ciao from the balcony" in [m["fields"]["text"] for m in messages]
    assert [c["pk"] for c in json.loads(archive.read("contact.json"))] == [contact.pk]


def test_erasing_asks_for_confirmation_then_forgets_the_person(sandbox, channel, page_for):
    conversation = _conversation(sandbox, channel, "Secret: my door code is 4411")
    contact = conversation.contact
    _, page = admin_page(page_for)
    page.goto(f"{sandbox}/admin/crm/contact/{contact.pk}/change/")
    page.click("#gdpr-erase-link")
    page.wait_for_selector("#erase-warning")
    assert str(contact) in page.inner_text("#erase-list")
    screenshot(page, "admin-erase-confirm")

    # "No" changes nothing.
    page.click("a.cancel-link")
    page.wait_for_url("**/admin/crm/contact/")
    contact.refresh_from_db()
    assert contact.erased_at is None and contact.phone == "+393331234567"

    # From the list action this time; "Yes" erases.
    choose_action(page, [contact.name], "Erase selected contacts (GDPR)…")
    page.wait_for_selector("#erase-confirm")
    page.click("#erase-confirm")
    page.wait_for_selector("ul.messagelist")
    assert admin_messages(page) == ["1 contact(s) erased."]
    contact.refresh_from_db()
    assert (contact.name, contact.phone, contact.erased_at is not None) == ("", None, True)
    assert Message.objects.get(direction="in").text == "[erased]"
    assert ContactErasure.objects.get().erased_by.username == "boss"
    assert Contact.objects.count() == 1  # the anonymous row stays for the counts

    # The erasure log says who erased which contact row, with no personal data.
    page.click("text=Contact erasures")
    page.wait_for_selector("#result_list")
    row = page.inner_text("#result_list tbody tr")
    assert str(contact.pk) in row and "boss" in row
    assert "Sandbox" not in row and "393331234567" not in row
    screenshot(page, "admin-erasure-log")


def test_a_sales_rep_sees_no_erase_link_and_cannot_open_the_erase_page(sandbox, channel, page_for):
    rep = make_user("rep", Role.SALES_REP, channels=[channel])
    conversation = _conversation(sandbox, channel, "Hi")
    contact = conversation.contact
    Contact.objects.filter(pk=contact.pk).update(responsible=rep)
    page = page_for(rep)
    page.goto(f"{sandbox}/admin/crm/contact/{contact.pk}/change/")
    page.wait_for_selector("#gdpr-export-link")
    assert page.locator("#gdpr-erase-link").count() == 0
    response = page.goto(f"{sandbox}/admin/crm/contacterasure/erase/?ids={contact.pk}")
    assert response.status == 403
    contact.refresh_from_db()
    assert contact.erased_at is None
