"""Browser fixtures: Debian's chromium driven by Playwright against a live server, with the
sandbox mounted so sends go out over real HTTP. Loaded for every test by tests/conftest.py."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


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
    settings.TWILIO_API_BASE_URL = f"{live_server.url}/sandbox/twilio/api"
    settings.TWILIO_CONTENT_API_BASE_URL = f"{live_server.url}/sandbox/twilio/content"
    settings.TELEGRAM_API_BASE_URL = f"{live_server.url}/sandbox/telegram"
    settings.WAZZUP_API_BASE_URL = f"{live_server.url}/sandbox/wazzup"
    settings.SANDBOX_STATUS_DELAY = 0.05
    return live_server.url


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
