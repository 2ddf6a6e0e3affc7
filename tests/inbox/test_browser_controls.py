"""The inbox's other controls in a real browser (Debian's chromium driven by Playwright): transfer,
close, availability, the list's filters and search, the side cards' links, attachments and
logging out. Each test clicks what a person clicks and checks what they then see, and the
database behind it."""

import base64
import re

import pytest
from django.core.files.base import ContentFile

from accounts.models import AgentProfile
from crm.models import Contact, Deal
from messaging.models import Conversation, Message
from tests.browser import ARTIFACTS
from tests.inbox.conftest import inbound
from tests.messaging.test_end_to_end import wait_for
from tickets.models import Ticket

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# A real 1x1 PNG, so the browser decodes it and the thread shows an image.
PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def shot(page, name):
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def rows(page) -> set[int]:
    return {
        int(pk)
        for pk in page.locator("#conversations li.row").evaluate_all(
            "nodes => nodes.map(n => n.dataset.id)"
        )
    }


def wait_for_rows(page, expected: set[int]):
    """The list holds exactly these conversations (after a reload or a poll)."""
    ids = ",".join(str(pk) for pk in sorted(expected))
    page.wait_for_function(
        """ids => Array.from(document.querySelectorAll('#conversations li.row'))
                 .map(n => Number(n.dataset.id)).sort((a, b) => a - b).join(',') === ids""",
        arg=ids,
    )


def test_a_manager_transfers_a_conversation_and_the_new_agent_finds_it_in_their_list(
    clients, people, page_for
):
    conversation = clients["own"]
    manager = page_for(people["manager"])
    manager.locator(f'li.row[data-id="{conversation.pk}"] a').click()
    manager.wait_for_selector("text=hi from own")
    assert manager.inner_text("#assignee") == "Rep"
    manager.select_option("#transfer-form select[name=to_user]", label="Other")
    manager.click("#transfer-form button[type=submit]")
    manager.wait_for_selector(".flash li.success")
    assert manager.inner_text(".flash li") == "Transferred to Other."
    assert manager.inner_text("#assignee") == "Other"
    assert "Responsible: Other" in manager.inner_text(".side")
    shot(manager, "transfer-manager")
    conversation.refresh_from_db()
    assert conversation.assignee == people["other"]
    assert Contact.objects.get(pk=conversation.contact_id).responsible == people["other"]

    # The new agent finds it in their own list, under "Mine", and may answer from it.
    other = page_for(people["other"])
    other.select_option("#filters select[name=box]", "mine")
    other.click("#filters button[type=submit]")
    wait_for_rows(other, {conversation.pk, clients["others"].pk})
    assert "Other" in other.inner_text(f'li.row[data-id="{conversation.pk}"] .meta')
    other.locator(f'li.row[data-id="{conversation.pk}"] a').click()
    other.wait_for_selector("#reply-form textarea")
    # ... and the agent who had it no longer does.
    rep = page_for(people["rep"])
    assert conversation.pk not in rows(rep)


def test_an_agent_closes_a_conversation_and_finds_it_only_among_the_closed(
    clients, people, page_for
):
    conversation = clients["own"]
    page = page_for(people["rep"])
    assert conversation.pk in rows(page)
    page.locator(f'li.row[data-id="{conversation.pk}"] a').click()
    page.click("text=Close conversation")
    page.wait_for_selector(".thread-head .meta >> text=closed")
    assert page.locator("text=Close conversation").count() == 0
    shot(page, "closed-conversation")
    conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.CLOSED
    assert conversation.closed_at is not None

    page.click(".back")
    page.wait_for_url(re.compile(r"/inbox/$"))
    assert conversation.pk not in rows(page)
    page.select_option("#filters select[name=status]", "closed")
    page.click("#filters button[type=submit]")
    wait_for_rows(page, {conversation.pk})
    assert "closed" in page.inner_text(f'li.row[data-id="{conversation.pk}"] .meta')

    # Writing again from the closed page opens a new conversation, and the agent lands on it
    # with their message in view rather than on the closed page where it would never appear.
    page.locator(f'li.row[data-id="{conversation.pk}"] a').click()
    page.fill("#reply-form textarea", "One more thing about your order")
    page.click("#reply-form button[type=submit]")
    reopened = wait_for(
        lambda: Conversation.objects.filter(contact=conversation.contact, status="open").first()
    )
    page.wait_for_url(re.compile(rf"/inbox/c/{reopened.pk}/$"))
    page.wait_for_selector("#thread >> text=One more thing about your order")
    assert "open" in page.inner_text(".thread-head .meta")
    assert reopened.messages.get().sent_by == people["rep"]


def test_the_filters_and_search_narrow_the_list_and_polling_keeps_them(
    clients, people, rr_channel, page_for
):
    elsewhere = Conversation.objects.create(
        channel=rr_channel, contact=Contact.objects.create(phone="+393330000009", name="Bruno")
    )
    inbound(elsewhere, "hi from the round line")
    everyone = {c.pk for c in clients.values()} | {elsewhere.pk}
    page = page_for(people["manager"])
    wait_for_rows(page, everyone)

    page.fill("#filters input[name=q]", "0000002")  # part of a phone number
    page.press("#filters input[name=q]", "Enter")
    wait_for_rows(page, {clients["others"].pk})
    assert page.input_value("#filters input[name=q]") == "0000002"

    page.fill("#filters input[name=q]", "bruno")  # a name, in any case
    page.click("#filters button[type=submit]")
    wait_for_rows(page, {elsewhere.pk})

    page.fill("#filters input[name=q]", "")
    page.select_option("#filters select[name=box]", "unassigned")
    page.click("#filters button[type=submit]")
    wait_for_rows(page, {clients["unclaimed"].pk, elsewhere.pk})

    page.select_option("#filters select[name=channel]", label="Round line (5002)")
    page.click("#filters button[type=submit]")
    wait_for_rows(page, {elsewhere.pk})
    # The list's poll asks for the same filters: a new message elsewhere does not slip in.
    inbound(clients["unclaimed"], "still there?")
    page.wait_for_timeout(3500)
    assert rows(page) == {elsewhere.pk}
    shot(page, "filtered-list")

    page.fill("#filters input[name=q]", "nobody by this name")
    page.click("#filters button[type=submit]")
    page.wait_for_selector("#conversations li.empty >> text=No conversations.")


def test_a_sales_rep_goes_unavailable_and_back(people, page_for):
    page = page_for(people["rep"])
    assert page.inner_text(".availability .ok") == "Available"
    page.click("text=Go unavailable")
    page.wait_for_selector(".availability .warn >> text=Unavailable")
    shot(page, "unavailable")
    assert AgentProfile.objects.get(user=people["rep"]).is_available is False
    page.click("text=Go available")
    page.wait_for_selector(".availability .ok >> text=Available")
    assert AgentProfile.objects.get(user=people["rep"]).is_available is True


def test_the_side_cards_open_the_ticket_deals_and_contact_and_attachments_open(
    clients, people, pipeline, page_for, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    conversation = clients["own"]
    contact = conversation.contact
    ticket = Ticket.objects.create(number="TT42", title="Pump leaks", contact=contact)
    Conversation.objects.filter(pk=conversation.pk).update(ticket=ticket)
    deal = Deal.objects.create(
        name="Pump upgrade",
        pipeline=pipeline,
        stage=pipeline.stages.first(),
        responsible=people["rep"],
    )
    deal.contacts.add(contact)
    photo = Message.objects.create(
        channel=conversation.channel,
        conversation=conversation,
        direction="in",
        type="image",
        status="received",
        text="the leak",
    )
    photo.media_file.save("leak.png", ContentFile(PIXEL), save=True)
    invoice = Message.objects.create(
        channel=conversation.channel,
        conversation=conversation,
        direction="in",
        type="document",
        status="received",
        payload={"filename": "invoice.pdf"},
    )
    invoice.media_file.save("invoice.pdf", ContentFile(b"%PDF-1.4 fake"), save=True)

    page = page_for(people["rep"])
    page.goto(f"{page.url}c/{conversation.pk}/")
    image = page.locator(f"#m{photo.pk} img.media")
    image.wait_for()
    page.wait_for_function(
        "img => img.complete && img.naturalWidth === 1", arg=image.element_handle()
    )
    shot(page, "conversation-side-cards")
    with page.expect_download() as download:
        page.click(f"#m{invoice.pk} a.file")
    assert download.value.suggested_filename == "invoice.pdf"
    conversation_url = page.url

    page.click("text=TT42")
    page.wait_for_selector("input[name=title]")
    assert page.input_value("input[name=title]") == "Pump leaks"
    shot(page, "ticket-admin")

    page.goto(conversation_url)
    page.click(".deals >> text=Pump upgrade")
    page.wait_for_selector("input[name=name]")
    assert page.input_value("input[name=name]") == "Pump upgrade"

    page.goto(conversation_url)
    page.click("text=New deal")
    page.wait_for_url(re.compile(r"/admin/crm/deal/add/"))
    selected = page.locator("select[name=contacts] option:checked").all_inner_texts()
    assert any("Own" in label for label in selected)
    shot(page, "deal-add")

    page.goto(conversation_url)
    page.click("text=Open in admin")
    page.wait_for_selector("input[name=phone]")
    assert page.input_value("input[name=phone]") == contact.phone


def test_an_agent_logs_out_and_the_inbox_asks_for_a_login_again(people, page_for, sandbox):
    page = page_for(people["rep"])
    page.click("text=Log out")
    # Straight back to a login form that returns to the inbox, not the admin's goodbye page.
    page.wait_for_selector("#id_username")
    shot(page, "logged-out")
    assert "/login/" in page.url
    page.goto(f"{sandbox}/inbox/")
    page.wait_for_selector("#id_username")  # the session really ended
    page.fill("#id_username", people["rep"].username)
    page.fill("#id_password", "pw")
    page.click("input[type=submit]")
    page.wait_for_url(f"{sandbox}/inbox/")
    assert page.is_visible("#conversations")
