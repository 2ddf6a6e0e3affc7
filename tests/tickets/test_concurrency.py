"""Real threads on PostgreSQL: simultaneous first messages make one ticket, and ticket numbers
stay unique however many open at once."""

from datetime import UTC, datetime

import pytest

from crm.models import Contact
from messaging.models import Conversation, Message
from messaging.providers.base import InboundMessage
from messaging.services import message_receive
from tests.concurrency import run_at_once
from tickets.models import Ticket, TicketComment

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def inbound(channel, index, sender="393351032246"):
    return InboundMessage(
        provider_message_id=f"wamid.T{sender}.{index}",
        channel_external_id=channel.external_id,
        sender=sender,
        sender_name="Racer",
        timestamp=datetime(2026, 1, 1, 12, 0, index % 60, tzinfo=UTC),
        type="text",
        text=f"message {index}",
    )


def test_ten_simultaneous_first_messages_open_one_ticket(wa_channel):
    errors = run_at_once(
        10, lambda i: message_receive(channel=wa_channel, inbound=inbound(wa_channel, i))
    )
    assert errors == []
    assert Contact.objects.count() == 1
    assert Conversation.objects.count() == 1
    assert Message.objects.count() == 10
    ticket = Ticket.objects.get()
    assert Conversation.objects.get().ticket == ticket
    # One message is the description, the nine others are comments: nothing lost or doubled.
    assert TicketComment.objects.filter(ticket=ticket).count() == 9


def test_ticket_numbers_stay_unique_when_twenty_open_at_once(wa_channel):
    senders = [f"39335100{index:04d}" for index in range(20)]
    errors = run_at_once(
        20,
        lambda i: message_receive(channel=wa_channel, inbound=inbound(wa_channel, i, senders[i])),
    )
    assert errors == []
    tickets = list(Ticket.objects.all())
    assert len(tickets) == 20
    numbers = {t.number for t in tickets}
    assert len(numbers) == 20
    assert numbers == {f"TT{t.pk}" for t in tickets}
    assert len({t.contact_id for t in tickets}) == 20


def test_a_known_contact_writing_on_ten_channels_at_once_gets_one_ticket(wa_channel):
    # Different channels mean different conversations, so only the ticket's own partial unique
    # index stands between these writers and ten tickets.
    from messaging.models import Channel

    Contact.objects.create(phone="+393351032246", name="Known")
    channels = [wa_channel] + [
        Channel.objects.create(
            name=f"Line {index}",
            account=wa_channel.account,
            provider="whatsapp_cloud",
            external_id=f"9000000000000{index:02d}",
        )
        for index in range(1, 10)
    ]
    errors = run_at_once(
        10, lambda i: message_receive(channel=channels[i], inbound=inbound(channels[i], i))
    )
    assert errors == []
    ticket = Ticket.objects.get()
    assert Conversation.objects.count() == 10
    assert set(Conversation.objects.values_list("ticket_id", flat=True)) == {ticket.pk}
    assert TicketComment.objects.filter(ticket=ticket).count() == 9
