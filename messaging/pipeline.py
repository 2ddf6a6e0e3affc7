"""What happens after an inbound message is stored, in order.

Apps to the right of `messaging` (tickets, routing) register here by dotted path, so the whole
inbound flow can be read in one list instead of being hidden in signals. Each handler is called as
`handler(message=..., conversation_created=...)` inside the message's transaction. A drain's
messages go through the steps together (`inbound_pipeline_run_many`); a handler with a `many`
attribute takes them at once as `handler.many(runs=[(message, conversation_created), ...])`.
"""

from functools import cache

from django.utils.module_loading import import_string

INBOUND_HANDLERS: list[str] = [
    # First: a website widget's reference leaves the text before the ticket copies it, and
    # names the service that routing then uses.
    "messaging.services.widget_reference.widget_reference_on_inbound",
    "tickets.handlers.ticket_on_inbound",
    # Routing reads the ticket the steps before may have linked.
    "tickets.routing.route_on_inbound",
    # After routing: a new client and their agent are pushed to CRM mirrors (Wazzup).
    "integrations.services.crm_mirror.crm_mirror_on_message",
    # A whole-message STOP/START (or an opt-out button) changes marketing consent at once.
    "messaging.services.consent.consent_on_inbound",
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


# After an echo is stored: a message an agent wrote outside Switchboard (their phone, the
# provider's own app), stored as outbound by that agent. It counts as the agent's reply.
ECHO_HANDLERS: list[str] = [
    "tickets.handlers.ticket_on_echo",
    "tickets.routing.route_on_echo",
    "integrations.services.crm_mirror.crm_mirror_on_message",
]

# Answers a provider's request to create a contact or a deal now (`ContactCreateRequest`,
# `DealCreateRequest`): called as handler(request=..., account=...) inside a transaction, returns
# the ContactRecord or DealRecord the provider answers with.
ENTITY_REQUEST_HANDLER = "tickets.new_clients.entity_request_answer"


@cache
def _handlers(kind: str = "inbound"):
    paths = INBOUND_HANDLERS if kind == "inbound" else ECHO_HANDLERS
    return [import_string(path) for path in paths]


def inbound_pipeline_run_many(runs: list[tuple]) -> None:
    """The inbound steps for many messages in arrival order, one step at a time: every message
    passes a step before any passes the next, as if the drain had read them one by one with each
    step's own effects in order (no step reads what a later one writes)."""
    if not runs:
        return
    for handler in _handlers():
        many = getattr(handler, "many", None)
        if many is not None:
            many(runs=runs)
            continue
        for message, created in runs:
            handler(message=message, conversation_created=created)


def echo_pipeline_run(*, message, conversation_created: bool) -> None:
    for handler in _handlers("echo"):
        handler(message=message, conversation_created=conversation_created)


def entity_request_answer(*, request, account):
    return import_string(ENTITY_REQUEST_HANDLER)(request=request, account=account)
