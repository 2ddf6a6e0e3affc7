"""A customer edited a message the ticket already quotes: the ticket shows the new text and
keeps the old one beside it, as the inbox does."""

import copy

from messaging.models import Message
from tickets.message_text import description_entry, message_as_text
from tickets.models import Ticket, TicketComment


def _edited(now: str, before: str) -> str:
    return f"{now}\n(edited; before: {before})"


def ticket_message_edited(*, message: Message, previous_text: str) -> None:
    old = copy.copy(message)
    old.text = previous_text
    TicketComment.objects.filter(message=message).update(
        text=_edited(message_as_text(message), message_as_text(old))
    )
    # The first message of a ticket is its description, not a comment.
    entry = description_entry(old)
    for ticket in Ticket.objects.filter(conversations=message.conversation_id).distinct():
        if entry in ticket.description:
            new = _edited(description_entry(message), message_as_text(old))
            Ticket.objects.filter(pk=ticket.pk).update(
                description=ticket.description.replace(entry, new, 1)
            )
