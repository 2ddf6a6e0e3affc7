"""The widget on a company's site (another origin than Switchboard), in Debian's chromium: it
renders in its own shadow root, its QR decodes to the WhatsApp chat link carrying the visitor's
reference, the links are right on a desktop and on a phone, a site not allowed gets nothing, and
the panel works with the keyboard alone."""

import re
from urllib.parse import quote, urlsplit

import pytest
import zxingcpp

from messaging.models import WidgetReference
from messaging.services.widgets import widget_embed_snippet
from tests.admin_browser import screenshot, settled

from .conftest import PREFILLED
from .site import Site

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
HOST = "[data-switchboard-widget]"
PHONE_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)


@pytest.fixture
def site():
    site = Site()
    yield site
    site.close()


@pytest.fixture
def shop(widget, site, sandbox):
    """The widget allowed on the test site, and a page of it that embeds the snippet."""
    widget.allowed_origins = site.origin
    widget.save()
    return site.page("/shoes/red", widget_embed_snippet(widget=widget))


@pytest.fixture
def visit(browser):
    contexts = []

    def open_page(url, *, phone=False):
        options = {"viewport": {"width": 1280, "height": 860}, "locale": "en-US"}
        if phone:
            options = {
                "viewport": {"width": 390, "height": 844},
                "is_mobile": True,
                "has_touch": True,
                "user_agent": PHONE_UA,
                "locale": "en-US",
            }
        context = browser.new_context(**options)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15000)
        page.requested = []
        page.on("request", lambda request: page.requested.append(request.url))
        page.goto(url)
        return page

    yield open_page
    for context in contexts:
        context.close()


def qr_text(page) -> str:
    """Draw the QR image the visitor sees on a canvas and decode its pixels."""
    img = page.locator(f"{HOST} img").first
    img.wait_for()
    page.wait_for_function(
        "() => { const h = document.querySelector('[data-switchboard-widget]');"
        " const i = h && h.shadowRoot.querySelector('img'); return i && i.complete"
        " && i.naturalWidth > 0; }"
    )
    size = 400
    gray = img.evaluate(
        """(img, size) => {
            const c = document.createElement('canvas'); c.width = size; c.height = size;
            const g = c.getContext('2d'); g.fillStyle = '#fff'; g.fillRect(0, 0, size, size);
            g.drawImage(img, 0, 0, size, size);
            const d = g.getImageData(0, 0, size, size).data, out = [];
            for (let i = 0; i < d.length; i += 4) out.push(d[i]);
            return out;
        }""",
        size,
    )
    found = zxingcpp.read_barcodes(memoryview(bytes(gray)).cast("B", (size, size)))
    assert len(found) == 1, "the QR code did not decode"
    return found[0].text


def test_it_renders_on_an_allowed_site_and_its_qr_opens_the_whatsapp_chat(
    visit, shop, widget, site, sandbox
):
    page = visit(shop)
    launcher = page.locator(f"{HOST} button.launcher")
    launcher.click()

    panel = page.get_by_role("dialog", name="Shop chat")
    panel.wait_for()
    assert "Hello! How can we help?" in panel.inner_text()
    reference = settled(lambda: WidgetReference.objects.first())
    assert reference.page_url == f"{site.origin}/shoes/red"
    text = quote(f"{PREFILLED} [W{reference.code}]")
    assert qr_text(page) == f"https://wa.me/15550199234?text={text}"
    web = page.get_by_role("link", name="Open WhatsApp Web")
    assert web.get_attribute("href") == (
        f"https://web.whatsapp.com/send?phone=15550199234&text={text}"
    )
    assert web.get_attribute("target") == "_blank"
    telegram = page.get_by_role("link", name="Open Telegram")
    assert telegram.get_attribute("href") == (
        f"https://t.me/helpdesk_hub_test_bot?start=widget-{reference.code}"
    )
    # The host page's styles (40px red buttons) do not reach into the shadow root.
    assert launcher.evaluate("b => getComputedStyle(b).width") == "56px"
    screenshot(page, "widget-desktop")
    # Nothing but the site and Switchboard was asked for, and no cookie was set.
    hosts = {urlsplit(url).netloc for url in page.requested}
    assert hosts == {urlsplit(site.origin).netloc, urlsplit(sandbox).netloc}
    assert page.context.cookies() == []

    # The links open WhatsApp Web and Telegram in a new tab (answered here by a stand-in).
    page.context.route(
        re.compile(r"https://(web\.whatsapp\.com|t\.me)/.*"),
        lambda route: route.fulfill(body="chat", content_type="text/plain"),
    )
    for link in (web, telegram):
        with page.expect_popup() as popup:
            link.click()
        assert popup.value.url == link.get_attribute("href")
        popup.value.close()
    page.get_by_role("button", name="Close").click()
    assert page.get_by_role("dialog").count() == 0
    assert launcher.get_attribute("aria-expanded") == "false"


def test_on_a_phone_a_tap_opens_the_whatsapp_app(visit, shop, widget):
    page = visit(shop, phone=True)
    page.locator(f"{HOST} button.launcher").tap()

    app = page.get_by_role("link", name="Open WhatsApp", exact=True)
    app.wait_for()
    reference = settled(lambda: WidgetReference.objects.first())
    text = quote(f"{PREFILLED} [W{reference.code}]")
    assert app.get_attribute("href") == f"https://wa.me/15550199234?text={text}"
    assert page.locator(f"{HOST} img").count() == 0  # no QR to scan with the phone itself
    assert page.get_by_role("link", name="Open WhatsApp Web").count() == 0
    screenshot(page, "widget-phone")
    page.context.route(
        re.compile(r"https://wa\.me/.*"),
        lambda route: route.fulfill(body="chat", content_type="text/plain"),
    )
    with page.expect_popup() as popup:
        app.tap()
    assert popup.value.url == app.get_attribute("href")


def test_a_site_not_allowed_gets_nothing(visit, widget, site, sandbox):
    widget.allowed_origins = "https://shop.example.com"
    widget.save()
    url = site.page("/other", widget_embed_snippet(widget=widget))
    page = visit(url)

    page.wait_for_function("() => window.SwitchboardWidget && window.SwitchboardWidget.preview")
    page.wait_for_timeout(500)
    # The widget asked for its configuration and was refused (a 403 without CORS headers,
    # which the browser does not even hand to the page).
    assert [url for url in page.requested if "/config" in url]
    assert page.locator(HOST).count() == 0
    assert not WidgetReference.objects.exists()


def test_the_panel_is_usable_with_the_keyboard(visit, shop, widget):
    page = visit(shop)
    launcher = page.locator(f"{HOST} button.launcher")
    launcher.wait_for()
    assert launcher.get_attribute("aria-label") == "Chat with us"
    assert launcher.get_attribute("aria-expanded") == "false"

    page.keyboard.press("Tab")  # the page's own link
    page.keyboard.press("Tab")  # the launcher
    assert (
        page.evaluate("() => document.activeElement.shadowRoot.activeElement.className")
        == "launcher"
    )
    page.keyboard.press("Enter")
    page.get_by_role("link", name="Open Telegram").wait_for()
    assert launcher.get_attribute("aria-expanded") == "true"

    def focused() -> str:
        return page.evaluate(
            "() => { const a = document.activeElement.shadowRoot.activeElement;"
            " return a ? (a.getAttribute('aria-label') || a.textContent) : ''; }"
        )

    assert focused() == "Close"
    seen = []
    for _ in range(4):
        page.keyboard.press("Tab")
        seen.append(focused())
    # Close, WhatsApp Web, Telegram, and round again: focus never leaves the open panel.
    assert seen == ["Open WhatsApp Web", "Open Telegram", "Close", "Open WhatsApp Web"]
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    assert focused() == "Open Telegram"

    page.keyboard.press("Escape")
    assert page.get_by_role("dialog").count() == 0
    assert launcher.get_attribute("aria-expanded") == "false"
    assert focused() == "Chat with us"
