"""The widget admin in a browser: a manager creates a widget and adds its entries, copies the
embed snippet, watches the live preview follow the form, downloads the QR posters and reads how
many conversations the widget started, by day and by page."""

from pathlib import Path

import pytest
from django.utils import timezone

from messaging.models import Widget, WidgetEntry
from messaging.services.widget_reference import reference_text, widget_reference_issue
from messaging.services.widgets import widget_embed_snippet
from tests.admin_browser import admin_messages, admin_page, screenshot

from .conftest import SITE, receive

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_manager_creates_a_widget_and_adds_its_whatsapp_line(page_for, care, line):
    _, page = admin_page(page_for)
    base = page.url.split("/inbox/")[0]
    page.goto(f"{base}/admin/messaging/widget/add/")
    page.fill("#id_name", "Shop chat")
    page.select_option("#id_service", label="Customer care")
    page.fill("#id_allowed_origins", "https://shop.example.com/")
    page.click("input[name=_continue]")

    widget = Widget.objects.get()
    assert widget.allowed_origins == "https://shop.example.com"
    assert page.input_value("#widget-snippet") == widget_embed_snippet(widget=widget)

    page.click("text=Add another Widget entry")
    page.select_option("#id_entries-0-channel", label=str(line))
    page.fill("#id_entries-0-prefilled_text", "Hi, about my order")
    page.click("input[name=_continue]")
    page.locator("ul.messagelist li", has_text="was changed").wait_for()
    screenshot(page, "widget-admin-entry-added")
    assert admin_messages(page)[0].startswith("The widget “Shop chat” was changed")
    entry = WidgetEntry.objects.get()
    assert (entry.channel, entry.prefilled_text) == (line, "Hi, about my order")


def test_a_bad_origin_is_explained_and_the_form_keeps_what_was_typed(page_for, widget):
    _, page = admin_page(page_for)
    base = page.url.split("/inbox/")[0]
    page.goto(f"{base}/admin/messaging/widget/{widget.pk}/change/")
    page.fill("#id_allowed_origins", "shop.example.com")
    page.fill("#id_greeting", "Ciao!")
    page.click("input[name=_save]")
    page.locator(".errorlist").first.wait_for()
    assert "Write each site as its origin only" in page.locator(".errorlist").first.inner_text()
    assert page.input_value("#id_greeting") == "Ciao!"
    widget.refresh_from_db()
    assert widget.greeting != "Ciao!"


def test_the_widget_page_copies_previews_downloads_and_counts(page_for, widget, line, tmp_path):
    for n, page_url in enumerate([f"{SITE}/shoes", f"{SITE}/shoes", f"{SITE}/bags"]):
        reference = widget_reference_issue(widget=widget, page_url=page_url)
        receive(line, f"Hi {reference_text(code=reference.code)}", n=n, sender=f"39333000000{n}")
    _, page = admin_page(page_for)
    base = page.url.split("/inbox/")[0]
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto(f"{base}/admin/messaging/widget/{widget.pk}/change/")

    # The embed snippet, copied.
    page.click("#widget-snippet-copy")
    page.get_by_text("Copied.").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == widget_embed_snippet(widget=widget)

    # The live preview follows the form before anything is saved.
    preview = page.locator("#widget-preview [data-switchboard-widget]")
    dialog = preview.get_by_role("dialog")
    dialog.wait_for()
    assert "Hello! How can we help?" in dialog.inner_text()
    page.fill("#id_greeting", "Buongiorno! Come possiamo aiutarti?")
    assert "Buongiorno! Come possiamo aiutarti?" in dialog.inner_text()
    page.fill("#id_color", "#aa2200")
    launcher = page.locator("#widget-preview [data-switchboard-widget] button.launcher")
    assert launcher.evaluate("b => getComputedStyle(b).backgroundColor") == "rgb(170, 34, 0)"
    page.select_option("#id_language", "it")
    assert preview.get_by_role("button", name="Chiudi").count() == 1
    assert "Apri WhatsApp Web" in dialog.inner_text()
    assert "Buongiorno! Come possiamo aiutarti?" in dialog.inner_text()
    page.select_option("#id_position", "bottom-left")
    wrap = page.locator("#widget-preview [data-switchboard-widget] .wrap")
    assert "left" in wrap.get_attribute("class")

    # The counts of conversations started, by day and by page.
    by_day = page.locator("#widget-started-by-day tbody tr")
    today = timezone.localdate().isoformat()
    assert by_day.all_inner_texts() == [f"{today}\t3"]
    by_page = page.locator("#widget-started-by-page tbody tr").all_inner_texts()
    assert by_page == [f"{SITE}/shoes\t2", f"{SITE}/bags\t1"]
    screenshot(page, "widget-admin")

    # The QR posters, for print.
    row = page.locator("tr.dynamic-entries, tr.has_original").filter(has_text="WhatsApp").first
    for kind, magic in (("png", b"\x89PNG"), ("svg", b"<?xml")):
        with page.expect_download() as download:
            row.get_by_role("link", name=kind, exact=True).click()
        saved = tmp_path / download.value.suggested_filename
        download.value.save_as(saved)
        assert Path(saved).read_bytes().startswith(magic), kind
        assert saved.suffix == f".{kind}"
