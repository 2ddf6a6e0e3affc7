"""`field__any=ids` finds what `field__in=ids` finds, and on PostgreSQL sends the ids as one
array parameter instead of a placeholder each (config/id_arrays.py)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crm.models import Contact
from messaging.models import Conversation

pytestmark = pytest.mark.django_db


@pytest.fixture
def conversations(channel):
    return [
        Conversation.objects.create(
            channel=channel, contact=Contact.objects.create(name=f"Client {n}")
        )
        for n in range(5)
    ]


def test_it_finds_the_same_rows_as_in(conversations):
    wanted = [conversations[0].contact_id, conversations[3].contact_id, 999999]
    by_any = Conversation.objects.filter(contact_id__any=wanted)
    by_in = Conversation.objects.filter(contact_id__in=wanted)
    assert sorted(c.pk for c in by_any) == sorted(c.pk for c in by_in)
    assert by_any.count() == 2
    assert set(Contact.objects.filter(pk__any=wanted).values_list("pk", flat=True)) == set(
        wanted[:2]
    )


def test_no_ids_find_nothing_and_leave_a_union_arm_out(conversations):
    assert not Conversation.objects.filter(pk__any=[]).exists()
    empty = Conversation.objects.filter(pk__any=[]).order_by().values("pk")
    one = Conversation.objects.filter(pk=conversations[1].pk).order_by().values("pk")
    assert [row["pk"] for row in empty.union(one)] == [conversations[1].pk]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the array form is PostgreSQL's")
def test_on_postgresql_a_thousand_ids_are_one_parameter(conversations):
    ids = [c.pk for c in conversations] + list(range(10**6, 10**6 + 995))
    with CaptureQueriesContext(connection) as captured:
        assert len(list(Conversation.objects.filter(pk__any=ids))) == 5
    sql = captured.captured_queries[0]["sql"]
    assert "= ANY(" in sql
    assert sql.count("%s") == 0  # the log shows the statement with its one parameter in place
    assert len(sql) < 12000  # a thousand placeholders as IN (...) would be far longer
