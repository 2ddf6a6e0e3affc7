"""The tickets step of the inbound pipeline (registered in messaging/pipeline.py)."""

from tickets.services import ticket_echo_receive, ticket_message_receive, tickets_messages_receive
from tickets.services_edits import ticket_message_edited


def ticket_on_inbound(*, message, conversation_created: bool) -> None:
    # Whether the conversation is new does not matter: a new conversation of a contact with an
    # open ticket joins that ticket, and one whose ticket closed gets a new one.
    ticket_message_receive(message=message)


def _tickets_on_inbound(*, runs) -> None:
    tickets_messages_receive(messages=[message for message, _created in runs])


ticket_on_inbound.many = _tickets_on_inbound


def ticket_on_edit(*, message, previous_text: str) -> None:
    ticket_message_edited(message=message, previous_text=previous_text)


def ticket_on_echo(*, message, conversation_created: bool) -> None:
    # An agent's message from outside Switchboard is their comment on the open ticket.
    ticket_echo_receive(message=message)
