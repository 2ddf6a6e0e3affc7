"""The admin pages of labels and canned responses in a real browser (Debian's chromium driven by
Playwright), and a canned response's attachment reaching the sandbox customer over real HTTP."""

import re

import pytest

from accounts.models import Role
from messaging.models import Conversation, Message
from messaging.sandbox import emulator
from tests.admin_browser import business_bubbles, business_texts, screenshot, settled
from tests.inbox.conftest import make_user
from tests.messaging.test_end_to_end import customer_types, wait_for
from tickets.models_inbox import CannedResponse, Label

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture
def team(channel):
    return {
        "manager": make_user("manager", Role.MANAGER),
        "rep": make_user("rep", Role.SALES_REP, channels=[channel]),
        "quality": make_user("quality", Role.QUALITY_CONTROL),
    }


def test_a_manager_defines_labels_in_the_admin(live_server, team, page_for):
    page = page_for(team["manager"])
    page.goto(f"{live_server.url}/admin/tickets/label/")
    page.click(".object-tools a.addlink")
    page.fill("#id_name", "Urgent call")
    page.fill("#id_colour", "red")
    page.click("input[name=_save]")
    # A colour must be #rrggbb: the form says so and nothing is saved.
    page.wait_for_selector(".errorlist")
    assert "six hex digits" in page.inner_text(".errorlist")
    page.fill("#id_colour", "#c62828")
    page.fill("#id_description", "Call back within the hour")
    page.click("input[name=_save]")
    page.wait_for_url(re.compile(r"/admin/tickets/label/$"))
    assert "Urgent call" in page.inner_text("#result_list")
    label = Label.objects.get()
    assert (label.name, label.colour) == ("Urgent call", "#c62828")
    screenshot(page, "admin-labels")

    page.click("#result_list a >> text=Urgent call")
    page.fill("#id_name", "Call back")
    page.click("input[name=_save]")
    page.wait_for_url(re.compile(r"/admin/tickets/label/$"))
    label.refresh_from_db()
    assert label.name == "Call back"


def test_a_sales_rep_reads_labels_and_keeps_only_personal_canned_responses(
    live_server, team, page_for
):
    Label.objects.create(name="VIP")
    shared = CannedResponse.objects.create(shortcode="hello", title="Hello", text="Hello!")
    page = page_for(team["rep"])
    page.goto(f"{live_server.url}/admin/tickets/label/")
    assert "VIP" in page.inner_text("#result_list")
    assert page.locator(".object-tools a.addlink").count() == 0

    page.goto(f"{live_server.url}/admin/tickets/cannedresponse/")
    page.click(".object-tools a.addlink")
    assert page.locator("#id_owner").count() == 0  # a rep's canned responses are their own
    page.fill("#id_title", "My signature")
    page.fill("#id_shortcode", "sig")
    page.fill("#id_text", "{{agent.name}}, Acme support")
    page.click("input[name=_save]")
    page.wait_for_url(re.compile(r"/admin/tickets/cannedresponse/$"))
    mine = CannedResponse.objects.get(shortcode="sig")
    assert mine.owner == team["rep"]
    # The shared one is shown but not theirs to change.
    page.click("#result_list a >> text=hello")
    assert page.locator("input[name=_save]").count() == 0
    assert page.locator("#id_text").count() == 0
    shared.refresh_from_db()
    assert shared.owner is None


def test_quality_control_reads_the_admin_pages_without_changing_anything(
    live_server, team, page_for
):
    Label.objects.create(name="VIP")
    CannedResponse.objects.create(shortcode="hello", title="Hello", text="Hello!")
    page = page_for(team["quality"])
    for url in ("/admin/tickets/label/", "/admin/tickets/cannedresponse/"):
        page.goto(live_server.url + url)
        assert page.locator("#result_list tbody tr").count() == 1
        assert page.locator(".object-tools a.addlink").count() == 0
    response = page.goto(f"{live_server.url}/admin/tickets/cannedresponse/add/")
    assert response.status == 403


def test_a_shared_canned_response_with_an_attachment_reaches_the_customer(
    sandbox, channel, team, page_for, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    manager = page_for(team["manager"])
    manager.goto(f"{sandbox}/admin/tickets/cannedresponse/add/")
    manager.fill("#id_title", "Price list")
    manager.fill("#id_shortcode", "prices")
    manager.fill("#id_text", "Hi {{contact.first_name}}, here is our price list.")
    manager.set_input_files(
        "#id_attachment",
        files=[{"name": "prices.pdf", "mimeType": "application/pdf", "buffer": PDF}],
    )
    manager.click("input[name=_save]")
    manager.wait_for_url(re.compile(r"/admin/tickets/cannedresponse/$"))
    canned = CannedResponse.objects.get()
    assert canned.owner is None and canned.attachment.name.endswith(".pdf")
    screenshot(manager, "admin-canned")

    customer_types(sandbox, channel, "Do you have prices?")
    conversation = wait_for(lambda: Conversation.objects.filter(channel=channel).first())
    page = page_for(team["rep"])
    page.goto(f"{sandbox}/inbox/c/{conversation.pk}/")
    page.click("#reply-text")
    page.keyboard.type("/price")
    page.wait_for_selector("#canned-menu li[data-id] >> text=/prices")
    page.keyboard.press("Enter")
    assert page.is_visible("#canned-attachment")
    assert "prices" in page.inner_text("#canned-attachment")
    page.click("#reply-form button[type=submit]")
    document = wait_for(lambda: Message.objects.filter(direction="out", type="document").first())
    text = Message.objects.get(direction="out", type="text")
    assert text.text == "Hi Sandbox, here is our price list."
    assert emulator.get_media(document.payload["media"]["id"]).data == PDF
    page.wait_for_selector(f'#m{document.pk} .ticks[data-status="read"]')
    assert settled(
        lambda: "Hi Sandbox, here is our price list." in business_texts(sandbox, channel)
    )
    documents = settled(
        lambda: [b for b in business_bubbles(sandbox, channel) if b["type"] == "document"]
    )
    assert documents and "prices" in documents[0]["text"]


def test_the_admin_conversation_list_filters_by_label(live_server, people, clients, page_for):
    vip = Label.objects.create(name="VIP")
    vip.conversations.add(clients["own"])
    page = page_for(people["manager"])
    page.goto(f"{live_server.url}/admin/messaging/conversation/")
    assert page.locator("#result_list tbody tr").count() == 3
    page.click("#changelist-filter a >> text=VIP")
    page.wait_for_url(re.compile(r"labels__id__exact="))
    assert page.locator("#result_list tbody tr").count() == 1
    assert "Own" in page.inner_text("#result_list tbody")
