"""A drain's messages are filed under tickets together: those of conversations with an open ticket
become comments in a fixed number of statements, in arrival order; the rest go one by one as
`ticket_message_receive` files them (tickets.services.tickets_messages_receive)."""

import itertools

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crm.models import Contact
from messaging.models import Channel, Conversation, Message
from messaging.services import webhook_events_drain
from tests.messaging.test_drain import stored_event
from tickets.models import Ticket, TicketStatus
from tickets.services import tickets_messages_receive

from .conftest import wa_account, wa_channel  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db

wamids = (f"wamid.filing{n}" for n in itertools.count())
phones = (f"39333777{n:04d}" for n in itertools.count())


def clients_with_tickets(account, count: int) -> list[Conversation]:
    """`count` customers who wrote once: each has a conversation and an open ticket."""
    senders = [next(phones) for _ in range(count)]
    for phone in senders:
        stored_event(account, wamid=next(wamids), wa_id=phone, text="first words")
    webhook_events_drain()
    return [loaded(Conversation.objects.get(contact__phone=f"+{phone}")) for phone in senders]


def loaded(conversation: Conversation) -> Conversation:
    """As the drain hands it over: with its contact, channel and ticket."""
    return Conversation.objects.select_related("contact", "channel", "ticket").get(
        pk=conversation.pk
    )


def received(conversation: Conversation, text: str) -> Message:
    message = Message.objects.create(
        channel=conversation.channel,
        conversation=conversation,
        direction=Message.Direction.INBOUND,
        provider_message_id=next(wamids),
        type="text",
        text=text,
    )
    message.conversation = conversation  # the drain's object, shared by its messages
    return message


def comments_of(conversation: Conversation) -> list[str]:
    return list(
        conversation.ticket.comments.order_by("created_at", "pk").values_list("text", flat=True)
    )


def test_messages_on_open_tickets_become_comments_in_order_with_the_same_statements(
    wa_account,  # noqa: F811
    wa_channel,  # noqa: F811
):
    few, many = clients_with_tickets(wa_account, 1), clients_with_tickets(wa_account, 6)
    counts = []
    for conversations in (few, many):
        messages = [received(c, f"{c.pk}: {n}") for c in conversations for n in (1, 2)]
        with CaptureQueriesContext(connection) as captured:
            tickets_messages_receive(messages=messages)
        counts.append(len(captured.captured_queries))
    assert counts[0] == counts[1] == 3  # lock the tickets, mark them, insert the comments

    for conversation in few + many:
        assert comments_of(conversation) == [f"{conversation.pk}: 1", f"{conversation.pk}: 2"]
        ticket = Ticket.objects.get(pk=conversation.ticket_id)
        assert ticket.status == TicketStatus.CUSTOMER_RESPONDED
        assert conversation.ticket.status == TicketStatus.CUSTOMER_RESPONDED  # in memory too


def test_a_ticket_closed_meanwhile_makes_way_for_a_new_one(wa_account, wa_channel):  # noqa: F811
    (conversation,) = clients_with_tickets(wa_account, 1)
    old = conversation.ticket
    Ticket.objects.filter(pk=old.pk).update(status=TicketStatus.CLOSED)  # by someone else

    tickets_messages_receive(messages=[received(conversation, "are you there?")])

    assert list(old.comments.values_list("text", flat=True)) == []
    new = Ticket.objects.exclude(pk=old.pk).get(contact=conversation.contact)
    assert new.status == TicketStatus.OPEN
    assert new.description.endswith("are you there?")
    assert Conversation.objects.get(pk=conversation.pk).ticket_id == new.pk


def test_a_second_conversation_of_the_contact_joins_its_open_ticket_with_every_message(
    wa_account,  # noqa: F811
    wa_channel,  # noqa: F811
):
    (first,) = clients_with_tickets(wa_account, 1)
    other_line = Channel.objects.create(
        name="Orders", account=wa_account, provider="whatsapp_cloud", external_id="99887766"
    )
    second = loaded(Conversation.objects.create(channel=other_line, contact=first.contact))
    assert second.ticket is None

    tickets_messages_receive(
        messages=[
            received(first, "on the support line"),
            received(second, "on the orders line"),
            received(second, "and again"),
        ]
    )

    ticket = Ticket.objects.get(contact=first.contact)
    assert sorted(ticket.comments.values_list("text", flat=True)) == [
        "and again",
        "on the orders line",
        "on the support line",
    ]
    assert Conversation.objects.get(pk=second.pk).ticket_id == ticket.pk
    assert Contact.objects.count() == 1
