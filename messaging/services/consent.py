"""Consent learned from messages: opt-out and opt-in keywords and buttons, and the platform's own
marketing refusals on a failed send. The records and the policy live in `crm.services_consent`."""

import logging
from datetime import timedelta

from django.utils import timezone, translation
from django.utils.translation import gettext as _

from crm.models import ConsentPurpose, ConsentSource, ConsentState
from crm.services_consent import (
    OPT_OUT,
    address_marketing_hold,
    consent_current,
    consent_keyword_match,
    consent_record_for_transports,
)
from messaging.models import Message
from messaging.providers.base import ErrorMeaning, MessageType

logger = logging.getLogger(__name__)


def _transports(channel) -> tuple[str, ...]:
    return type(channel.get_provider()).recipient_transports


def consent_on_inbound(*, message: Message, conversation_created: bool) -> None:
    """Inbound pipeline step: a message that is exactly a keyword (or an opt-out button) changes
    the person's marketing consent on this channel type at once and gets one confirmation, inside
    the customer-service window the message just opened."""
    payload = message.payload.get("payload", "") if message.type == MessageType.BUTTON else ""
    match = consent_keyword_match(text=message.text, payload=payload)
    if match is None:
        return
    action, language = match
    contact = message.conversation.contact
    opted_out = action == OPT_OUT
    transports = _transports(message.channel)
    wanted = ConsentState.OPTED_OUT if opted_out else ConsentState.OPTED_IN
    before = consent_current(
        contact=contact, purpose=ConsentPurpose.MARKETING, transports=transports
    )
    consent_record_for_transports(
        contact=contact,
        transports=transports,
        purpose=ConsentPurpose.MARKETING,
        state=wanted,
        source=ConsentSource.KEYWORD,
        note=f"{'button' if payload else 'keyword'} {(payload or message.text)[:100]}",
    )
    if before is not None and before.state == wanted:
        return  # a repeated STOP is recorded, but confirmed only once
    with translation.override(language or None):
        text = (
            _("You will receive no more marketing messages from us. Write START to opt back in.")
            if opted_out
            else _("You are subscribed to our marketing messages again. Write STOP to opt out.")
        )
    from messaging.services.outbound import MessageRefused, message_send_text

    try:
        message_send_text(channel=message.channel, contact=contact, text=text)
    except MessageRefused as exc:
        # The consent is recorded either way; a confirmation that cannot go is only logged.
        logger.warning("consent confirmation to contact %s not sent: %s", contact.pk, exc)


def message_refusal_apply(
    *, message: Message, meaning: str, hold_seconds: float | None, reason: str
) -> None:
    """A send the platform refused for a consent reason: an opt-out is recorded for the
    address; a per-person marketing limit holds marketing to it and marks the message skipped."""
    contact = message.conversation.contact
    transports = _transports(message.channel)
    if meaning == ErrorMeaning.MARKETING_OPTED_OUT:
        consent_record_for_transports(
            contact=contact,
            transports=transports,
            purpose=ConsentPurpose.MARKETING,
            state=ConsentState.OPTED_OUT,
            source=ConsentSource.PLATFORM,
            note=reason,
        )
    elif meaning == ErrorMeaning.MARKETING_LIMITED:
        until = timezone.now() + timedelta(seconds=hold_seconds or 24 * 3600)
        address_marketing_hold(contact=contact, transports=transports, until=until, reason=reason)
        skipped = (
            f"Skipped: {reason}. Marketing to this person is held until "
            f"{timezone.localtime(until):%Y-%m-%d %H:%M}."
        )
        Message.objects.filter(pk=message.pk).update(
            error_title=skipped[:255], error_detail=skipped
        )
