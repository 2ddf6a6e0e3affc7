"""Conversations end 24 hours after they start; tickets outlive them until staff close them."""

from datetime import UTC, datetime, timedelta

import pytest

from messaging.models import Conversation
from messaging.services import conversations_close_expired
from tickets.models import Ticket
from tickets.services import ticket_close, ticket_reopen

from .conftest import staff_user

pytestmark = pytest.mark.django_db

START = datetime(2025, 7, 14, 10, 30, 5, tzinfo=UTC)


def at(moment: datetime) -> str:
    return str(int(moment.timestamp()))


@pytest.fixture(autouse=True)
def _settings(settings, graph):
    settings.CONVERSATION_LIFETIME_HOURS = 24


def test_a_message_after_the_conversation_closed_joins_the_same_open_ticket(say, time_machine):
    time_machine.move_to(START)
    say("hello", wamid="wamid.L1", timestamp=at(START))
    first = Conversation.objects.get()
    ticket = Ticket.objects.get()

    later = START + timedelta(hours=24, minutes=1)
    assert conversations_close_expired(now=later) == 1
    assert conversations_close_expired(now=later + timedelta(minutes=5)) == 0  # idempotent
    first.refresh_from_db()
    assert first.status == "closed"

    time_machine.move_to(later + timedelta(hours=1))
    say("still waiting", wamid="wamid.L2", timestamp=at(later + timedelta(hours=1)))

    second = Conversation.objects.exclude(pk=first.pk).get()
    assert second.status == "open"
    assert second.ticket == ticket
    assert Ticket.objects.count() == 1
    ticket.refresh_from_db()
    assert ticket.status == "customer_responded"
    assert ticket.comments.get().text == "still waiting"


def test_after_the_ticket_closed_the_next_message_opens_a_new_one(say, time_machine):
    manager = staff_user("manager")
    time_machine.move_to(START)
    say("hello", wamid="wamid.M1", timestamp=at(START))
    old = Ticket.objects.get()
    ticket_close(ticket=old, actor=manager)
    old.refresh_from_db()
    assert (old.status, old.closed_at is not None) == ("closed", True)

    say("one more question", wamid="wamid.M2", timestamp=at(START + timedelta(minutes=10)))

    new = Ticket.objects.exclude(pk=old.pk).get()
    assert new.number != old.number
    assert new.status == "open"
    assert new.description.endswith("\none more question")
    conversation = Conversation.objects.get()  # the conversation itself is still open
    assert conversation.ticket == new
    assert old.comments.count() == 0


def test_a_closed_ticket_cannot_be_reopened_while_a_newer_one_is_open(say, time_machine):
    from tickets.services import TicketRefused

    manager = staff_user("manager")
    say("hello", wamid="wamid.N1")
    old = Ticket.objects.get()
    ticket_close(ticket=old, actor=manager)
    say("again", wamid="wamid.N2")
    new = Ticket.objects.exclude(pk=old.pk).get()

    with pytest.raises(TicketRefused, match=f"already has the open ticket {new.number}"):
        ticket_reopen(ticket=old, actor=manager)
    old.refresh_from_db()
    assert old.status == "closed"

    ticket_close(ticket=new, actor=manager)
    assert ticket_reopen(ticket=old, actor=manager).status == "open"
    old.refresh_from_db()
    assert (old.status, old.closed_at) == ("open", None)
