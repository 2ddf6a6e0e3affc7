"""What happens after an inbound message is stored, in order.

Apps to the right of `messaging` (tickets, routing) register here by dotted path, so the whole
inbound flow can be read in one list instead of being hidden in signals. Each handler is called as
`handler(message=..., conversation_created=...)` inside the message's transaction.
"""

from functools import cache

from django.utils.module_loading import import_string

INBOUND_HANDLERS: list[str] = [
    "tickets.handlers.ticket_on_inbound",
    # Keep routing last: it reads the ticket the steps before may have linked.
    "tickets.routing.route_on_inbound",
]


# Called as `handler(message=..., previous_text=...)` after a customer edited a stored message.
EDIT_HANDLERS: list[str] = [
    "tickets.handlers.ticket_on_edit",
]


@cache
def _edit_handlers():
    return [import_string(path) for path in EDIT_HANDLERS]


def edit_pipeline_run(*, message, previous_text: str) -> None:
    for handler in _edit_handlers():
        handler(message=message, previous_text=previous_text)


@cache
def _handlers():
    return [import_string(path) for path in INBOUND_HANDLERS]


def inbound_pipeline_run(*, message, conversation_created: bool) -> None:
    for handler in _handlers():
        handler(message=message, conversation_created=conversation_created)
