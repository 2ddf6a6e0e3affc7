"""The inbox in a real browser (Debian's chromium driven by Playwright) against a live server,
with sends going through the sandbox over real HTTP: statuses come back as signed webhooks and
the page's polling moves the ticks."""

import os
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from accounts.models import Role
from messaging.models import Conversation, Message, MessageTemplate
from tests.inbox.conftest import make_user
from tests.messaging.test_end_to_end import CUSTOMER, customer_types, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"


def _chromium_or_skip() -> str:
    """Debian's chromium, installed with apt-get if missing (we never download a browser
    build); skip only when that is impossible on this machine."""
    if not CHROMIUM.exists() and shutil.which("apt-get") and os.geteuid() == 0:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=False, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=False, env=env)
    if not CHROMIUM.exists():
        pytest.skip("chromium is missing and could not be installed (apt-get install chromium)")
    return str(CHROMIUM)


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[dev]'")
    executable = _chromium_or_skip()
    # Playwright's sync API keeps an event loop in this thread; the test's own ORM calls are
    # still plain synchronous code.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        yield browser
        browser.close()
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def sandbox(settings, live_server):
    settings.SANDBOX_ENABLED = True
    settings.PUBLIC_BASE_URL = live_server.url
    settings.GRAPH_API_BASE_URL = f"{live_server.url}/sandbox/graph"
    settings.SANDBOX_STATUS_DELAY = 0.05
    return live_server.url


@pytest.fixture
def team(channel):
    return {
        "rep": make_user("rep", Role.SALES_REP, channels=[channel]),
        "quality": make_user("quality", Role.QUALITY_CONTROL),
    }


@pytest.fixture
def page_for(browser, sandbox):
    contexts = []

    def login(user, *, mobile=False):
        viewport = {"width": 390, "height": 844} if mobile else {"width": 1280, "height": 860}
        context = browser.new_context(viewport=viewport, locale="en-US")
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15000)
        page.goto(f"{sandbox}/inbox/")
        page.fill("#id_username", user.username)
        page.fill("#id_password", "pw")
        page.click("input[type=submit]")
        page.wait_for_url(f"{sandbox}/inbox/")
        return page

    yield login
    for context in contexts:
        context.close()


def customer_conversation(sandbox, channel, text="Ciao, is my order ready?"):
    customer_types(sandbox, channel, text)
    return wait_for(lambda: Conversation.objects.filter(channel=channel).first())


def test_a_sales_rep_replies_and_watches_the_ticks_reach_read(sandbox, channel, team, page_for):
    page = page_for(team["rep"])
    conversation = customer_conversation(sandbox, channel)
    # The new conversation appears in the list without a reload.
    row = page.locator(f'li.row[data-id="{conversation.pk}"] a')
    row.wait_for()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "inbox.png"), full_page=True)
    row.click()
    page.wait_for_selector("text=Ciao, is my order ready?")
    assert "Window open" in page.inner_text("#window-left")

    page.fill("#reply-form textarea", "Yes, it leaves today!")
    page.click("#reply-form button[type=submit]")
    reply = wait_for(lambda: Message.objects.filter(direction="out").first())
    ticks = page.locator(f"#m{reply.pk} .ticks")
    ticks.wait_for()
    page.wait_for_selector(f'#m{reply.pk} .ticks[data-status="read"]')
    assert ticks.inner_text() == "Read"
    conversation.refresh_from_db()
    assert conversation.assignee == team["rep"]  # the first reply claimed the client

    # A new customer message shows up live, after the reply.
    customer_types(sandbox, channel, "Thank you!")
    page.wait_for_selector("text=Thank you!")
    page.screenshot(path=str(ARTIFACTS / "conversation.png"), full_page=True)


def test_the_template_picker_fills_parameters_with_a_live_preview(sandbox, channel, team, page_for):
    MessageTemplate.objects.create(
        account=channel.account,
        name="ticket_update",
        language="en_US",
        category="UTILITY",
        status="APPROVED",
        components=[
            {"type": "BODY", "text": "Hello {{1}}, there is news on your request {{2}}: {{3}}"}
        ],
        body_param_count=3,
    )
    conversation = customer_conversation(sandbox, channel)
    Conversation.objects.filter(pk=conversation.pk).update(
        last_inbound_at=timezone.now() - timedelta(hours=30)
    )
    page = page_for(team["rep"])
    page.goto(f"{sandbox}/inbox/c/{conversation.pk}/")
    assert page.is_hidden("#reply-form")
    page.select_option("#template-select", label="ticket_update [en_US]")
    fields = page.locator("#template-params input[name=body_params]")
    assert fields.count() == 3
    for n, value in enumerate(("Giulia", "TT7", "the courier comes at 10")):
        fields.nth(n).fill(value)
    preview = "Hello Giulia, there is news on your request TT7: the courier comes at 10"
    assert page.inner_text("#template-preview") == preview
    page.click("#template-form button[type=submit]")
    sent = wait_for(lambda: Message.objects.filter(direction="out", type="template").first())
    assert sent.text == preview
    page.wait_for_selector(f'#m{sent.pk} .ticks[data-status="read"]')
    state = wait_for(
        lambda: [
            m["text"]
            for m in __import__("requests")
            .get(f"{sandbox}/sandbox/chat/{channel.external_id}/{CUSTOMER}/state", timeout=10)
            .json()["messages"]
            if m["from"] == "business"
        ]
    )
    assert any("TT7" in text for text in state)


def test_quality_control_reads_without_a_reply_box_on_a_phone(sandbox, channel, team, page_for):
    conversation = customer_conversation(sandbox, channel)
    page = page_for(team["quality"], mobile=True)
    page.locator(f'li.row[data-id="{conversation.pk}"] a').click()
    page.wait_for_selector("text=Ciao, is my order ready?")
    assert page.locator("#reply-form").count() == 0
    assert page.locator("#template-form").count() == 0
    assert page.is_visible("#readonly-note")
    # Nothing overflows sideways on a phone-sized screen.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "inbox-phone.png"), full_page=True)
