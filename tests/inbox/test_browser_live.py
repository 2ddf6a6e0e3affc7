"""The live inbox in a real browser (Debian's chromium) against uvicorn, as `make run` serves it:
two agents see a customer message arrive with its badge and the tab's count, no poll runs while
the socket is up, ticks move sent → delivered → read over the socket, polling takes over when
the socket cannot open, and the list's filters, search and notification settings."""

import re

import pytest

from accounts.models import Role
from messaging.models import Conversation, Message
from tests.browser import ARTIFACTS
from tests.inbox.conftest import make_user
from tests.messaging.test_end_to_end import customer_types, wait_for
from tickets.models import InboxPreference

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

POLL_MS = 2500  # static/inbox/inbox.js

# Records what the person would notice without a human watching: every tick's status as it
# changes, and the desktop notifications the page asked the browser for.
RECORDER = """
window.__ticks = [];
window.__notifications = [];
function FakeNotification(title, options) {
  window.__notifications.push({ title: title, body: (options || {}).body });
}
FakeNotification.permission = "granted";
FakeNotification.requestPermission = function () { return Promise.resolve("granted"); };
window.Notification = FakeNotification;
new MutationObserver(function (changes) {
  changes.forEach(function (change) {
    var node = change.target;
    if (change.type === "attributes" && node.classList && node.classList.contains("ticks")) {
      window.__ticks.push(node.closest("li").dataset.id + ":" + node.dataset.status);
    }
  });
}).observe(document, { attributes: true, attributeFilter: ["data-status"], subtree: true });
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll(".ticks").forEach(function (node) {
    window.__ticks.push(node.closest("li").dataset.id + ":" + node.dataset.status);
  });
});
"""


@pytest.fixture
def team(channel):
    return {
        "rep": make_user("rep", Role.SALES_REP, channels=[channel]),
        "other": make_user("other", Role.SALES_REP, channels=[channel]),
        "manager": make_user("manager", Role.MANAGER),
    }


def requests_to(page, path_part):
    seen = []
    page.on("request", lambda request: path_part in request.url and seen.append(request.url))
    return seen


def test_two_agents_see_a_customer_message_arrive_with_badge_and_tab_count(
    asgi_server, channel, team, asgi_page_for
):
    rep = asgi_page_for(team["rep"])
    other = asgi_page_for(team["other"])
    polls = {"rep": requests_to(rep, "list.json"), "other": requests_to(other, "list.json")}
    assert rep.is_visible("#live")
    # Two poll intervals with the socket up and nothing happening: not one request.
    rep.wait_for_timeout(2 * POLL_MS)
    assert polls == {"rep": [], "other": []}

    customer_types(asgi_server, channel, "Ciao, is my order ready?")
    conversation = wait_for(lambda: Conversation.objects.filter(channel=channel).first())
    for page in (rep, other):
        row = page.locator(f'li.row[data-id="{conversation.pk}"]')
        row.wait_for()
        assert row.locator(".badge").inner_text() == "1"
        assert "Ciao, is my order ready?" in row.locator(".last-message").inner_text()
        assert row.locator(".channel").inner_text() == channel.name
        assert row.locator(".channel-type").inner_text() == "WhatsApp Business API"
        assert row.locator(".assignee").inner_text() == "unassigned"
        page.wait_for_function("document.title.startsWith('(1) ')")
    # The rows came because the socket said so: one read each, no timer.
    assert 1 <= len(polls["rep"]) <= 2
    ARTIFACTS.mkdir(exist_ok=True)
    rep.screenshot(path=str(ARTIFACTS / "inbox-live-list.png"), full_page=True)

    # A second message raises the badge and the count in both tabs.
    customer_types(asgi_server, channel, "Hello again")
    for page in (rep, other):
        page.wait_for_function("document.title.startsWith('(2) ')")
        assert page.inner_text(f'li.row[data-id="{conversation.pk}"] .badge') == "2"


def test_the_ticks_pass_sent_delivered_read_over_the_socket_without_polling(
    asgi_server, channel, team, asgi_page_for, settings
):
    settings.SANDBOX_STATUS_DELAY = 2.0  # statuses a person can watch arrive one by one
    customer_types(asgi_server, channel, "Can I change my order?")
    conversation = wait_for(lambda: Conversation.objects.filter(channel=channel).first())
    page = asgi_page_for(team["rep"])
    page.add_init_script(RECORDER)
    page.click(f'li.row[data-id="{conversation.pk}"] a')
    page.wait_for_selector("text=Can I change my order?")
    page.wait_for_selector("html[data-live=up]", state="attached")

    page.fill("#reply-form textarea", "Of course, tell me what.")
    page.click("#reply-form button[type=submit]")
    reply = wait_for(lambda: Message.objects.filter(direction="out").first())
    # The page after the send: its socket up and its one catch-up read done, it only listens.
    page.wait_for_selector(f"#m{reply.pk}")
    page.wait_for_selector("html[data-live=up]", state="attached")
    polls = requests_to(page, "poll.json")
    page.wait_for_selector(f'#m{reply.pk} .ticks[data-status="read"]')
    assert page.inner_text(f"#m{reply.pk} .ticks") == "Read"
    recorded = page.evaluate("window.__ticks")
    ticks = [t.split(":")[1] for t in recorded if t.startswith(f"{reply.pk}:")]
    # Each step shown in order (the page loaded showing queued or sent; the rest were pushed).
    assert ticks[-2:] == ["delivered", "read"]
    assert ticks[0] in ("queued", "sending", "sent")
    assert polls == []  # ticks travel whole on the socket: no read of the thread, no poll
    page.screenshot(path=str(ARTIFACTS / "inbox-live-ticks.png"), full_page=True)

    # A customer message while the page is open: one read of what came after the cursor.
    customer_types(asgi_server, channel, "Two pizzas instead of one")
    page.wait_for_selector("text=Two pizzas instead of one")
    assert all("after=" in url for url in polls)


def test_the_page_polls_while_the_socket_cannot_open(asgi_server, channel, team, asgi_page_for):
    page = asgi_page_for(team["rep"], live=False)
    # From here on the browser cannot open the socket (as behind a proxy that refuses it).
    page.context.route_web_socket(re.compile(r".*/inbox/live$"), lambda socket: socket.close())
    page.reload()
    polls = requests_to(page, "list.json")
    customer_types(asgi_server, channel, "Is anybody reading?")
    conversation = wait_for(lambda: Conversation.objects.filter(channel=channel).first())
    page.wait_for_selector(f'li.row[data-id="{conversation.pk}"] .badge')
    assert polls, "the list was read by polling"
    assert page.is_hidden("#live")
    assert page.evaluate("document.documentElement.dataset.live") == "down"


def test_waiting_for_you_assignee_status_channel_and_text_search_filters(
    asgi_server, channel, team, asgi_page_for
):
    customer_types(asgi_server, channel, "Where is parcel 4471?")
    conversation = wait_for(lambda: Conversation.objects.filter(channel=channel).first())
    page = asgi_page_for(team["manager"])
    row = f'li.row[data-id="{conversation.pk}"]'
    page.wait_for_selector(row)

    page.select_option("#id_box", "waiting")
    page.click("#filters button[type=submit]")
    page.wait_for_selector(row)
    assert page.input_value("#id_box") == "waiting"

    page.select_option("#id_box", "all")
    page.select_option("#id_assignee", label="Rep")
    page.click("#filters button[type=submit]")
    page.wait_for_selector("li.empty")
    assert page.locator("li.row").count() == 0

    page.select_option("#id_assignee", "")
    page.select_option("#id_status", "any")
    page.select_option("#id_channel", str(channel.pk))
    page.fill("input[name=q]", "parcel 4471")
    page.click("#filters button[type=submit]")
    page.wait_for_selector(row)
    assert page.locator("li.row").count() == 1

    page.fill("input[name=q]", "no such words anywhere")
    page.click("#filters button[type=submit]")
    page.wait_for_selector("li.empty")

    page.select_option("#id_status", "closed")
    page.fill("input[name=q]", "")
    page.click("#filters button[type=submit]")
    page.wait_for_selector("li.empty")
    page.screenshot(path=str(ARTIFACTS / "inbox-live-filters.png"), full_page=True)


def test_sound_and_desktop_notifications_are_opt_in_and_announce_a_new_message(
    asgi_server, channel, team, asgi_page_for
):
    page = asgi_page_for(team["rep"], permissions=["notifications"])
    page.add_init_script(RECORDER)
    page.reload()
    page.wait_for_selector("html[data-live=up]", state="attached")
    assert not page.is_checked("#pref-sound")
    page.check("#pref-sound")
    page.check("#pref-desktop")
    page.click("#preferences-form button[type=submit]")
    page.wait_for_selector("text=Notification settings saved.")
    preference = InboxPreference.objects.get(user=team["rep"])
    assert preference.sound and preference.desktop_notifications
    assert page.is_checked("#pref-sound") and page.is_checked("#pref-desktop")
    page.wait_for_selector("html[data-live=up]", state="attached")

    customer_types(asgi_server, channel, "Ping from a customer")
    page.wait_for_function("window.__notifications.length > 0")
    notification = page.evaluate("window.__notifications[0]")
    assert notification == {
        "title": "New message from Sandbox Customer",
        "body": "Ping from a customer",
    }
    assert page.get_attribute("#conversations", "data-sounds") == "1"

    # Turned off again: the next message is silent.
    page.uncheck("#pref-sound")
    page.uncheck("#pref-desktop")
    page.click("#preferences-form button[type=submit]")
    page.wait_for_selector("text=Notification settings saved.")
    page.wait_for_selector("html[data-live=up]", state="attached")
    customer_types(asgi_server, channel, "Second ping")
    page.wait_for_function("document.title.startsWith('(2) ')")
    assert page.evaluate("window.__notifications.length") == 0
    assert page.get_attribute("#conversations", "data-sounds") is None
