"""The inbox list: the latest message's preview kept on the conversation by the services that
store messages, the filters (waiting for you, agent, status, channel) and the search (name, any
address, message text), the figures the page's script uses, all in a number of queries that does
not grow with the table; the notification settings; the relay a task process pushes through."""

import json

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts.services import conversation_read_mark
from crm.models import ContactAddress
from messaging import live
from messaging.live import RELAY_HEADER, relay_signature
from messaging.models import Conversation, Message
from messaging.services.outbound import message_send_text
from tests.inbox.live import customer_writes
from tickets.models import InboxPreference

pytestmark = pytest.mark.django_db


def client_of(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def rows(client, **query) -> list[dict]:
    response = client.get("/inbox/list.json", query)
    assert response.status_code == 200
    return response.json()["rows"]


def ids(client, **query) -> list[int]:
    return [row["id"] for row in rows(client, **query)]


def test_a_customer_message_becomes_the_rows_preview(clients):
    own = clients["own"]
    customer_writes(own, "Is   my order\nready?")
    own.refresh_from_db()
    assert own.last_message_preview == "Is my order ready?"  # one line
    assert own.last_message_type == "text"
    assert own.last_message_direction == "in"


def test_a_reply_becomes_the_rows_preview(clients, people):
    own = clients["own"]
    message_send_text(
        channel=own.channel, contact=own.contact, text="On its way", actor=people["rep"]
    )
    own.refresh_from_db()
    assert (own.last_message_preview, own.last_message_direction) == ("On its way", "out")


def test_the_row_shows_preview_icon_time_badge_channel_type_and_assignee(clients, people):
    own = clients["own"]
    Conversation.objects.filter(pk=own.pk).update(
        last_message_type="image", last_message_direction="in", last_message_preview="photo.jpg"
    )
    [row] = [r for r in rows(client_of(people["rep"])) if r["id"] == own.pk]
    html = row["html"]
    assert "📷" in html and "photo.jpg" in html
    assert 'class="badge"' in html and row["unread"] == 1
    assert "WhatsApp Business API" in html and "First line" in html
    assert "Rep" in html  # the assignee
    assert '<time class="activity"' in html
    assert 'class="labels"' in html  # the slot label chips go in
    assert (row["name"], row["preview"]) == ("Own", "photo.jpg")


def test_unread_counts_and_the_total_follow_the_read_mark(clients, people):
    client = client_of(people["rep"])
    body = client.get("/inbox/list.json").json()
    assert body["unread_total"] == 2  # own and the unclaimed offer, one message each
    conversation_read_mark(user=people["rep"], conversation=clients["own"])
    body = client.get("/inbox/list.json").json()
    assert body["unread_total"] == 1
    assert {r["id"]: r["unread"] for r in body["rows"]}[clients["own"].pk] == 0
    # The manager's marks are their own: the rep reading changes nothing for them.
    assert client_of(people["manager"]).get("/inbox/list.json").json()["unread_total"] == 3


def test_the_index_puts_the_unread_total_in_the_tab_title(clients, people):
    response = client_of(people["rep"]).get("/inbox/")
    assert "<title>(2) Inbox · Switchboard</title>" in response.content.decode()


def test_waiting_for_you_is_the_customer_having_the_last_word_on_mine_or_nobodys(clients, people):
    for conversation in clients.values():
        customer_writes(conversation, "waiting")
    client = client_of(people["rep"])
    assert set(ids(client, box="waiting")) == {clients["own"].pk, clients["unclaimed"].pk}
    message_send_text(
        channel=clients["own"].channel, contact=clients["own"].contact, text="Answered"
    )
    assert ids(client, box="waiting") == [clients["unclaimed"].pk]
    # A manager waits on their own and the unassigned ones, not on the reps' clients.
    assert ids(client_of(people["manager"]), box="waiting") == [clients["unclaimed"].pk]


def test_the_agent_status_and_channel_filters(clients, people, rr_channel):
    manager = client_of(people["manager"])
    assert ids(manager, assignee=people["other"].pk) == [clients["others"].pk]
    Conversation.objects.filter(pk=clients["others"].pk).update(status="closed")
    assert clients["others"].pk not in ids(manager)
    assert clients["others"].pk in ids(manager, status="closed")
    assert len(ids(manager, status="any")) == 3
    assert ids(manager, channel=rr_channel.pk) == []
    assert len(ids(manager, channel=clients["own"].channel_id)) == 2


def test_search_finds_a_name_any_address_and_message_text(clients, people):
    manager = client_of(people["manager"])
    ContactAddress.objects.create(
        contact=clients["others"].contact, transport="telegram", address="tg-7788", handle="marta_t"
    )
    customer_writes(clients["unclaimed"], "My parcel 4471 never came")
    assert ids(manager, q="Own") == [clients["own"].pk]
    assert ids(manager, q="marta_t") == [clients["others"].pk]
    assert ids(manager, q="+39 333 000 0002") == [clients["others"].pk]
    assert ids(manager, q="parcel 4471") == [clients["unclaimed"].pk]
    # A rep's search stays within what they may see.
    assert ids(client_of(people["rep"]), q="marta_t") == []


@pytest.mark.parametrize("who", ["manager", "rep"])
@pytest.mark.parametrize(
    "query",
    [{}, {"box": "waiting"}, {"status": "any"}, {"q": "order"}, {"q": "Client"}, {"assignee": 0}],
)
def test_the_list_asks_the_same_queries_at_any_size(people, channel, who, query):
    from crm.models import Contact

    client = client_of(people[who])
    if "assignee" in query:
        query = {"assignee": people["rep"].pk}

    def add(count, start):
        for n in range(start, start + count):
            contact = Contact.objects.create(
                name=f"Client {n}", phone=f"+39335{n:07d}", responsible=people["rep"]
            )
            conversation = Conversation.objects.create(
                channel=channel, contact=contact, assignee=people["rep"]
            )
            for k in range(3):
                customer_writes(conversation, f"About order {n}-{k}")

    def count():
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/inbox/list.json", query).status_code == 200
        return len(captured.captured_queries)

    add(2, 1)
    count()  # what is read once per process is read already
    few = count()
    add(6, 10)
    assert count() == few


def test_the_notification_settings_are_saved_per_user(people):
    client = client_of(people["rep"])
    response = client.post("/inbox/preferences", {"sound": "1"}, follow=True)
    assert response.redirect_chain[-1][0] == "/inbox/"
    assert "Notification settings saved." in response.content.decode()
    preference = InboxPreference.objects.get(user=people["rep"])
    assert preference.sound and not preference.desktop_notifications
    page = client.get("/inbox/").content.decode()
    assert 'id="pref-sound" checked' in page and 'data-sound="1"' in page
    assert 'data-notify="0"' in page
    assert not InboxPreference.objects.filter(user=people["other"]).exists()


def test_the_relay_refuses_an_unsigned_or_foreign_post(client, settings):
    body = json.dumps({"sends": [["inbox.all", {"type": "conversation", "id": 1}]]}).encode()
    bad = client.post(
        "/live/relay", body, content_type="application/json", headers={RELAY_HEADER: "0" * 64}
    )
    assert bad.status_code == 403
    odd = json.dumps({"sends": [["some.other.group", {}]]}).encode()
    refused = client.post(
        "/live/relay",
        odd,
        content_type="application/json",
        headers={RELAY_HEADER: relay_signature(odd)},
    )
    assert refused.status_code == 400


def test_the_relay_hands_signed_events_to_the_channel_layer(client, monkeypatch):
    sent = []
    monkeypatch.setattr("messaging.live_relay.live_group_send", sent.extend)
    body = json.dumps({"sends": [["inbox.user.7", {"type": "conversation", "id": 3}]]}).encode()
    response = client.post(
        "/live/relay",
        body,
        content_type="application/json",
        headers={RELAY_HEADER: relay_signature(body)},
    )
    assert response.status_code == 204
    assert sent == [("inbox.user.7", {"type": "conversation", "id": 3})]


def test_a_process_without_sockets_relays_its_events_to_the_web_process(
    clients, settings, monkeypatch, django_capture_on_commit_callbacks
):
    if "redis" in settings.CHANNEL_LAYERS["default"]["BACKEND"].lower():
        pytest.skip("through Redis every process reaches every socket: nothing to relay")
    settings.LIVE_RELAY_URL = "http://127.0.0.1:8000/live/relay"
    posted = []

    class Answer:
        def raise_for_status(self):
            return None

    def request(method, url, **kwargs):
        posted.append((method, url, kwargs))
        return Answer()

    monkeypatch.setattr("messaging.http.request", request)
    monkeypatch.setattr(live, "_server_loop", None)
    with django_capture_on_commit_callbacks(execute=True):
        customer_writes(clients["own"], "relayed")
    [(method, url, kwargs)] = posted
    assert (method, url) == ("POST", settings.LIVE_RELAY_URL)
    assert kwargs["headers"][RELAY_HEADER] == relay_signature(kwargs["data"])
    sends = json.loads(kwargs["data"])["sends"]
    event = {"type": "conversation", "id": clients["own"].pk}
    assert sorted(group for group, e in sends if e == event) == [
        "inbox.all",
        f"inbox.user.{clients['own'].assignee_id}",
    ]
    assert Message.objects.filter(text="relayed").exists()


def test_retention_expires_the_rows_preview_with_the_message_text(clients):
    from datetime import timedelta

    from django.utils import timezone

    from integrations.services.gdpr import EXPIRED, retention_purge

    own, others = clients["own"], clients["others"]
    customer_writes(own, "My card ends in 4242")
    customer_writes(others, "Recent enough")
    Conversation.objects.filter(pk=own.pk).update(
        last_message_at=timezone.now() - timedelta(days=40)
    )
    Message.objects.filter(conversation=own).update(created_at=timezone.now() - timedelta(days=40))
    retention_purge(days=30)
    own.refresh_from_db()
    others.refresh_from_db()
    assert own.last_message_preview == EXPIRED
    assert others.last_message_preview == "Recent enough"
