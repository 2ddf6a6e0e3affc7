"""Round robin under real concurrency on PostgreSQL: new clients routed at once never push an
agent past their capacity, and drains running at once assign each waiting conversation once."""

import threading
from collections import Counter

import pytest
from django.db import connection

from accounts.models import Role
from crm.models import Contact
from messaging.models import Conversation
from tests.inbox.conftest import inbound, make_user
from tickets.routing import route_on_inbound, routing_queue_drain

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def in_threads(target, args_list):
    barrier = threading.Barrier(len(args_list))
    errors = []

    def run(*args):
        try:
            barrier.wait(timeout=10)
            target(*args)
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=args) for args in args_list]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []


def waiting_client(channel, n):
    contact = Contact.objects.create(phone=f"+39333400{n:04d}")
    conversation = Conversation.objects.create(channel=channel, contact=contact)
    return inbound(conversation)


def test_simultaneous_new_clients_respect_capacity(rr_channel):
    reps = [
        make_user(f"rr{i}", Role.SALES_REP, channels=[rr_channel], capacity=2) for i in range(2)
    ]
    messages = [waiting_client(rr_channel, n) for n in range(8)]

    def route(message):
        from django.db import transaction

        with transaction.atomic():
            route_on_inbound(message=message, conversation_created=True)

    in_threads(route, [(m,) for m in messages])

    load = Counter(
        Conversation.objects.filter(assignee__isnull=False).values_list(
            "assignee__username", flat=True
        )
    )
    assert load == {reps[0].username: 2, reps[1].username: 2}
    assert Conversation.objects.filter(assignee__isnull=True, queued_at__isnull=False).count() == 4


def test_simultaneous_drains_assign_each_waiting_conversation_once(rr_channel):
    messages = [waiting_client(rr_channel, n) for n in range(6)]
    for message in messages:
        route_on_inbound(message=message, conversation_created=True)  # nobody works it: queued
    assert Conversation.objects.filter(queued_at__isnull=False).count() == 6
    reps = [
        make_user(f"rr{i}", Role.SALES_REP, channels=[rr_channel], capacity=2) for i in range(2)
    ]

    in_threads(lambda: routing_queue_drain(channel=rr_channel), [() for _ in range(4)])

    assigned = Conversation.objects.filter(assignee__isnull=False)
    assert Counter(assigned.values_list("assignee__username", flat=True)) == {
        reps[0].username: 2,
        reps[1].username: 2,
    }
    assert not assigned.filter(queued_at__isnull=False).exists()
    # The oldest waiting conversations went first.
    first_four = [m.conversation_id for m in messages[:4]]
    assert set(assigned.values_list("pk", flat=True)) == set(first_four)
