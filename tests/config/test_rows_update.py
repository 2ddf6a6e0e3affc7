"""`rows_update` writes each row's own values in one statement: what `bulk_update` writes, without
a CASE per row and field on PostgreSQL (config/rows_update.py)."""

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from config.rows_update import rows_update
from crm.models import Contact
from messaging.models import Conversation

pytestmark = pytest.mark.django_db

FIELDS = ["last_message_at", "last_message_status", "last_message_preview", "last_inbound_at"]


@pytest.fixture
def conversations(channel):
    return [
        Conversation.objects.create(
            channel=channel,
            contact=Contact.objects.create(name=f"Client {n}"),
            last_inbound_at=datetime(2026, 1, 1, tzinfo=UTC),
        )
        for n in range(3)
    ]


def test_each_row_gets_its_own_values_and_the_others_are_untouched(conversations):
    first, second, untouched = conversations
    first.last_message_at = datetime(2026, 5, 1, 9, 30, tzinfo=UTC)
    first.last_message_status, first.last_message_preview = "received", "Is my order ready?"
    first.last_inbound_at = None
    second.last_message_at = datetime(2026, 5, 2, 10, 0, tzinfo=UTC)
    second.last_message_status, second.last_message_preview = "read", "Thanks, it's ready"
    untouched.last_message_preview = "not written"

    with CaptureQueriesContext(connection) as captured:
        assert rows_update([second, first], FIELDS) == 2
    assert len(captured.captured_queries) == 1

    rows = {c.pk: c for c in Conversation.objects.all()}
    assert rows[first.pk].last_message_at == datetime(2026, 5, 1, 9, 30, tzinfo=UTC)
    assert rows[first.pk].last_message_status == "received"
    assert rows[first.pk].last_message_preview == "Is my order ready?"
    assert rows[first.pk].last_inbound_at is None
    assert rows[second.pk].last_message_status == "read"
    assert rows[second.pk].last_message_preview == "Thanks, it's ready"
    assert rows[second.pk].last_inbound_at == datetime(2026, 1, 1, tzinfo=UTC)
    assert rows[untouched.pk].last_message_preview == ""


def test_nothing_to_write_asks_nothing(conversations):
    with CaptureQueriesContext(connection) as captured:
        assert rows_update([], FIELDS) == 0
    assert captured.captured_queries == []


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the array form is PostgreSQL's")
def test_on_postgresql_the_values_go_as_arrays_not_a_case_per_row(conversations):
    for n, conversation in enumerate(conversations):
        conversation.last_message_preview = f"message {n}"
    with CaptureQueriesContext(connection) as captured:
        rows_update(conversations, ["last_message_preview"])
    sql = captured.captured_queries[0]["sql"]
    assert "unnest(" in sql
    assert "CASE" not in sql
