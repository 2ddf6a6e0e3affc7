"""The inbox controls tests/inbox/test_browser_controls.py leaves out, in a real browser (Debian's
chromium driven by Playwright): a transfer seen live, read marks, the top bar, opening a photo and
a map, the Italian pages. Each clicks what a person clicks and checks what they then see."""

import re

import pytest

from accounts.models import ConversationReadMark
from tests.browser import ARTIFACTS
from tests.inbox.conftest import inbound

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def shot(page, name):
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def row(page, conversation):
    return page.locator(f'li.row[data-id="{conversation.pk}"]')


def open_conversation(page, conversation):
    row(page, conversation).locator("a").click()
    page.wait_for_url(re.compile(rf"/inbox/c/{conversation.pk}/$"))


def test_transfer_waits_for_a_chosen_agent(live_server, people, clients, page_for):
    conversation = clients["own"]
    manager = page_for(people["manager"])
    open_conversation(manager, conversation)
    # Transfer before choosing: the browser asks for a choice and nothing moves.
    manager.click("#transfer-form button[type=submit]")
    assert manager.evaluate("document.querySelector('#transfer-form select').validity.valueMissing")
    assert manager.url.endswith(f"/inbox/c/{conversation.pk}/")
    assert manager.locator(".flash").count() == 0
    conversation.refresh_from_db()
    assert conversation.assignee == people["rep"]

    manager.select_option("#transfer-form select", label="Other")
    manager.click("#transfer-form button[type=submit]")
    manager.wait_for_selector(".flash li.success")
    assert manager.inner_text("#assignee") == "Other"
    conversation.refresh_from_db()
    assert conversation.assignee == people["other"]


def test_the_transfer_shows_live_on_a_page_already_open(live_server, people, clients, page_for):
    conversation = clients["unclaimed"]
    watcher = page_for(people["quality"])
    open_conversation(watcher, conversation)
    assert watcher.inner_text("#assignee") == "unassigned"
    manager = page_for(people["manager"])
    open_conversation(manager, conversation)
    manager.select_option("#transfer-form select", label="Rep")
    manager.click("#transfer-form button[type=submit]")
    manager.wait_for_selector(".flash li.success")
    watcher.wait_for_function("document.getElementById('assignee').textContent === 'Rep'")
    assert watcher.is_hidden("#offline")


def visible_names(page):
    return page.locator("li.row .name").all_inner_texts()


def test_opening_a_conversation_marks_it_read_and_a_new_message_marks_it_unread(
    live_server, people, clients, page_for
):
    conversation = clients["own"]
    page = page_for(people["rep"])
    assert row(page, conversation).locator(".badge").inner_text() == "1"
    assert "unread" in row(page, conversation).get_attribute("class")

    open_conversation(page, conversation)
    assert ConversationReadMark.objects.filter(
        user=people["rep"], conversation=conversation
    ).exists()
    page.click("a.back")
    page.wait_for_url(re.compile(r"/inbox/$"))
    assert row(page, conversation).locator(".badge").count() == 0
    assert "unread" not in row(page, conversation).get_attribute("class")
    # Only this user's reading counts: the manager still sees it unread.
    manager = page_for(people["manager"])
    assert row(manager, conversation).locator(".badge").inner_text() == "1"

    inbound(conversation, "are you there?")
    row(page, conversation).locator(".badge").wait_for()
    assert row(page, conversation).locator(".badge").inner_text() == "1"


def test_the_top_bar_links_lead_to_the_admin_and_back_to_the_inbox(
    live_server, people, clients, page_for
):
    page = page_for(people["manager"])
    open_conversation(page, clients["own"])
    page.click(".topbar >> text=Admin")
    page.wait_for_url(re.compile(r"/admin/$"))
    assert "Operator console" in page.inner_text("body")
    page.go_back()
    page.click(".topbar a.brand")
    page.wait_for_url(re.compile(r"/inbox/$"))
    assert page.locator("li.row").count() == 3


def png(width=8, height=8):
    """A real (tiny, red) PNG, so the browser can decode and size it."""
    import struct
    import zlib

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def test_a_photo_opens_full_size_and_a_location_opens_the_map_in_a_new_tab(
    live_server, people, clients, settings, tmp_path, page_for
):
    from django.core.files.base import ContentFile

    from messaging.models import Message

    settings.MEDIA_ROOT = tmp_path
    conversation = clients["own"]

    def received(type, **fields):
        return Message.objects.create(
            channel=conversation.channel,
            conversation=conversation,
            direction="in",
            type=type,
            status="received",
            **fields,
        )

    photo = received("image", text="the broken hinge")
    photo.media_file.save("hinge.png", ContentFile(png()), save=True)
    received("location", text="Shop", payload={"latitude": 45.4642, "longitude": 9.19})

    page = page_for(people["rep"])
    open_conversation(page, conversation)
    image = page.locator(f"#m{photo.pk} img.media")
    image.wait_for()
    assert image.evaluate("img => img.complete && img.naturalWidth") == 8
    assert image.get_attribute("alt") == "the broken hinge"
    shot(page, "conversation-media")

    image.click()
    page.wait_for_url(re.compile(rf"/inbox/m/{photo.pk}/media$"))
    assert page.evaluate("document.images[0].naturalWidth") == 8
    page.go_back()

    # The map opens in a new tab; the test answers for openstreetmap.org so it stays offline.
    page.context.route(
        "https://www.openstreetmap.org/**",
        lambda route: route.fulfill(body="<title>Map</title>", content_type="text/html"),
    )
    with page.expect_popup() as popup_info:
        page.click("a.location")
    popup = popup_info.value
    popup.wait_for_load_state()
    assert "mlat=45.4642" in popup.url and "mlon=9.19" in popup.url
    assert popup.title() == "Map"


def test_an_italian_browser_gets_the_inbox_in_italian(browser, sandbox, people, clients, page_for):
    context = browser.new_context(locale="it-IT", viewport={"width": 1280, "height": 860})
    try:
        page = context.new_page()
        page.set_default_timeout(15000)
        page.goto(f"{sandbox}/inbox/")
        page.fill("#id_username", "manager")
        page.fill("#id_password", "pw")
        page.click("input[type=submit]")
        page.wait_for_url(f"{sandbox}/inbox/")
        assert page.inner_text("#filters button") == "Filtra"
        assert page.inner_text("#logout-form button") == "Esci"
        assert "Tutte quelle che posso vedere" in page.inner_text("#filters select[name=box]")
        open_conversation(page, clients["unclaimed"])
        assert page.inner_text("#assignee") == "non assegnata"
        assert page.inner_text("#window-left").startswith("Finestra aperta: restano ")
        page.select_option("#transfer-form select", label="Rep")
        page.click("#transfer-form button[type=submit]")
        page.wait_for_selector(".flash li.success")
        assert page.inner_text(".flash li.success") == "Trasferita a Rep."
        shot(page, "conversation-italian")
    finally:
        context.close()
