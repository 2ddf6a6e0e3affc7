"""Labels over the API: listed, shown on conversations, filtered by, and set by writers only
(quality control reads, a sales rep writes to their own clients, a manager to all, an account's
key within its channels)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.api.conftest import key_client, open_window, token_client
from tickets.models_inbox import Label

pytestmark = pytest.mark.django_db


@pytest.fixture
def labels(db):
    return {
        "vip": Label.objects.create(name="VIP", colour="#b71c1c"),
        "billing": Label.objects.create(name="Billing"),
    }


def test_it_lists_the_labels(quality, labels):
    answer = token_client(quality).get("/api/v1/labels/")
    assert answer.status_code == 200
    assert [(row["name"], row["colour"]) for row in answer.json()["results"]] == [
        ("Billing", "#4a6fa5"),
        ("VIP", "#b71c1c"),
    ]


def test_conversations_show_their_labels_and_filter_by_one(
    manager, wa_channel, giulia, marco, labels
):
    tagged = open_window(wa_channel, giulia)
    plain = open_window(wa_channel, marco)
    labels["vip"].conversations.add(tagged)
    labels["billing"].conversations.add(tagged)
    client = token_client(manager)
    rows = {
        row["id"]: row["labels"] for row in client.get("/api/v1/conversations/").json()["results"]
    }
    assert sorted(rows[tagged.pk]) == ["Billing", "VIP"] and rows[plain.pk] == []
    filtered = client.get("/api/v1/conversations/?label=VIP").json()["results"]
    assert [row["id"] for row in filtered] == [tagged.pk]
    assert client.get(f"/api/v1/conversations/{tagged.pk}/labels/").json()[1]["name"] == "VIP"


def test_the_conversation_list_reads_labels_in_one_query_for_the_page(
    manager, wa_channel, giulia, labels
):
    from crm.models import Contact

    client = token_client(manager)

    def count():
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/api/v1/conversations/").status_code == 200
        return len(queries)

    labels["vip"].conversations.add(open_window(wa_channel, giulia))
    few = count()
    for n in range(10):
        contact = Contact.objects.create(phone=f"+39335100{n:04d}", name=f"C{n}")
        labels["vip"].conversations.add(open_window(wa_channel, contact))
    assert count() == few


PUT_MATRIX = [
    # (who, whose conversation, expected status)
    ("manager", "giulia", 200),
    ("manager", "marco", 200),
    ("rep1", "giulia", 200),
    ("rep1", "marco", 404),  # not theirs: not even visible
    ("quality", "giulia", 403),
]


@pytest.mark.parametrize(("who", "whose", "expected"), PUT_MATRIX)
def test_labels_are_set_by_writers_only(request, wa_channel, labels, who, whose, expected):
    user = request.getfixturevalue(who)
    conversation = open_window(wa_channel, request.getfixturevalue(whose))
    labels["billing"].conversations.add(conversation)
    answer = token_client(user).put(
        f"/api/v1/conversations/{conversation.pk}/labels/", {"labels": ["VIP"]}, format="json"
    )
    assert answer.status_code == expected, answer.content
    names = sorted(conversation.labels.values_list("name", flat=True))
    if expected == 200:
        assert [row["name"] for row in answer.json()] == ["VIP"]
        assert names == ["VIP"]
    else:
        assert names == ["Billing"]


def test_an_unknown_label_is_refused_and_nothing_changes(manager, wa_channel, giulia, labels):
    conversation = open_window(wa_channel, giulia)
    labels["vip"].conversations.add(conversation)
    answer = token_client(manager).put(
        f"/api/v1/conversations/{conversation.pk}/labels/",
        {"labels": ["Billing", "Nope"]},
        format="json",
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "unknown_label"
    assert list(conversation.labels.values_list("name", flat=True)) == ["VIP"]


def test_an_account_key_sets_labels_on_its_own_channels(wa_key, wa_channel, giulia, labels):
    conversation = open_window(wa_channel, giulia)
    answer = key_client(wa_key).put(
        f"/api/v1/conversations/{conversation.pk}/labels/", {"labels": []}, format="json"
    )
    assert answer.status_code == 200 and answer.json() == []
    answer = key_client(wa_key).put(
        f"/api/v1/conversations/{conversation.pk}/labels/",
        {"labels": ["VIP", "Billing"]},
        format="json",
    )
    assert answer.status_code == 200
    assert sorted(conversation.labels.values_list("name", flat=True)) == ["Billing", "VIP"]
