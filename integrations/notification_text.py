"""Notifications on channels without templates (a Telegram bot): the rule's text, its {{n}}
placeholders filled from the same dotted paths as a template's body parameters, sent to the
address the contact has on the channel's transport.

Such a channel can only write to someone who wrote to it first: a contact without an address
there, or whose address refused us (they blocked the bot), is skipped with the reason.
"""

from django.db import transaction

from crm.addresses import Address, AddressTransport
from crm.identity import contact_unreachable_reason
from crm.selectors import contact_by_address
from integrations.models import BusinessEvent
from integrations.services import account_contact_link
from messaging.services import MessageRefused, message_send_text
from messaging.services.templates import PLACEHOLDER

State = BusinessEvent.State


def notification_text_render(*, text: str, body_params: list[str]) -> str:
    """{{1}}, {{2}}... replaced by the parameters in order; one without a value stays as is."""

    def value(match):
        key = match.group(1)
        index = int(key) - 1 if key.isdigit() else -1
        return body_params[index] if 0 <= index < len(body_params) else match.group(0)

    return PLACEHOLDER.sub(value, text)


def text_notification_send(*, event, rule, phone: str, contact):
    """(state, reason, message or None) for one event: sent, or skipped with why."""
    from integrations.notifications import notification_parameters

    channel = rule.channel
    if contact is None:
        contact = contact_by_address(address=Address(AddressTransport.WHATSAPP, phone))
        if contact is None:
            return (
                State.SKIPPED,
                f"No contact has the phone {phone}: nobody with it wrote to {channel.name}.",
                None,
            )
    transports = type(channel.get_provider()).recipient_transports
    if not contact.addresses.filter(transport__in=transports).exists():
        return (
            State.SKIPPED,
            f"{contact} has no address on {channel.name} (they never wrote to it).",
            None,
        )
    unreachable = contact_unreachable_reason(contact=contact, transports=transports)
    if unreachable:
        return State.SKIPPED, f"{contact} cannot be reached on {channel.name}: {unreachable}", None
    account_contact_link(account=event.account, contact=contact)
    context = {
        **event.payload["data"],
        "event": {"id": event.external_id, "type": event.type},
        "contact": {"name": contact.name, "phone": contact.phone or ""},
    }
    params = notification_parameters(rule=rule, context=context)
    text = notification_text_render(text=rule.text, body_params=params["body_params"])
    try:
        with transaction.atomic():
            message = message_send_text(channel=channel, contact=contact, text=text)
    except MessageRefused as exc:
        return State.FAILED, str(exc), None
    return State.SENT, f"Sent the rule's text on {channel.name}.", message
