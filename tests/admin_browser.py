"""Helpers for the admin pages in a real browser (the fixtures are in tests/browser.py): a
superuser's page, the admin's messages, and the sandbox customer's chat."""

import time

import requests
from django.db import OperationalError

from accounts.models import User
from tests.browser import ARTIFACTS

CUSTOMER = "393331234567"  # the sandbox customer of tests/messaging/test_end_to_end.py


def admin_page(page_for, username="boss"):
    """A superuser logged in through the inbox login; the session is the admin's too."""
    user = User.objects.create_superuser(username, password="pw", first_name=username.title())
    return user, page_for(user)


def admin_messages(page) -> list[str]:
    """The messages the admin shows at the top of the page after an action (it capitalises
    their first letter)."""
    return [text.strip() for text in page.locator("ul.messagelist li").all_inner_texts()]


def business_bubbles(base, channel) -> list[dict]:
    """What the sandbox customer's phone shows as sent by the business, with its ticks."""
    state = requests.get(
        f"{base}/sandbox/chat/{channel.external_id}/{CUSTOMER}/state", timeout=10
    ).json()
    return [m for m in state["messages"] if m["from"] == "business"]


def business_texts(base, channel) -> list[str]:
    return [m["text"] for m in business_bubbles(base, channel)]


def settled(predicate, seconds=15.0):
    """Poll `predicate()` until it is truthy. On SQLite the live server's threads and the test
    share one in-memory database whose tables lock instead of waiting: a read that meets a
    write is simply tried again."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            value = predicate()
        except OperationalError:
            value = None
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def form_owner_id(page, selector: str) -> str | None:
    """The id of the form an input belongs to, as the browser parsed the page (None when the
    element or its form is missing): a form nested in the admin's form is dropped by the
    parser, and its inputs then have no form."""
    return page.evaluate(
        "(selector) => { const el = document.querySelector(selector);"
        " return el && el.form ? el.form.id : null; }",
        selector,
    )


def row_of(page, name: str):
    """The row of an admin list that mentions `name`."""
    return page.locator("#result_list tbody tr").filter(has_text=name)


def cell(page, name: str, field: str) -> str:
    return row_of(page, name).locator(f".field-{field}").inner_text().strip()


def choose_action(page, rows: list[str], action_label: str):
    """Tick the rows, pick the action in the drop-down and press Go, as in the admin."""
    for name in rows:
        row_of(page, name).locator("input.action-select").check()
    page.select_option("select[name=action]", label=action_label)
    page.click("button[name=index]")
    page.wait_for_load_state()
