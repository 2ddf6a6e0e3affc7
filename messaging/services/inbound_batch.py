"""The inbound messages of a drain batch, stored with set-based statements.

`message_receive` spends about eight statements on each message; here a whole batch costs about
eight, plus what the pipeline's steps do for each message. The rows are the same: contacts found
or created by E.164 phone, the open conversation reused or opened (the partial unique index still
decides between concurrent openers), each message stored once, the pipeline run for every new
message in order. Runs inside the drain's batch transaction; any database error there rolls the
batch back and the drain processes its events one by one through `message_receive`.
"""

from dataclasses import dataclass

from django.db import connection
from django.utils import timezone

from crm.phones import PhoneNumberInvalid, phone_normalize
from crm.services import contacts_get_or_create_by_phones
from messaging.models import Channel, Conversation, Message
from messaging.pipeline import inbound_pipeline_run
from messaging.providers.base import InboundMessage
from messaging.services.inbound_rows import (
    latest,
    media_fetch_after_commit,
    message_build,
    reaction_apply,
)


@dataclass
class Received:
    """One inbound message of the batch and what became of it."""

    channel: Channel
    inbound: InboundMessage
    phone: str = ""
    error: Exception | None = None
    message: Message | None = None


def messages_receive_batch(received: list[Received]) -> None:
    """Store every message of `received` once; sets `.message`, or `.error` for a message that
    cannot be stored (an unreadable sender). A message stored before stays untouched."""
    for item in received:
        try:
            item.phone = phone_normalize(
                item.inbound.sender,
                international_prefix=item.channel.international_prefix,
                assume_international=True,
            )
        except PhoneNumberInvalid as exc:
            item.error = exc
    fresh = _not_stored_yet([item for item in received if item.error is None])
    if not fresh:
        return

    names: dict[str, str] = {}
    for item in fresh:
        names.setdefault(item.phone, item.inbound.sender_name)
    contacts = contacts_get_or_create_by_phones(names=names)
    pairs = {(item.channel, contacts[item.phone]) for item in fresh}
    conversations, opened = _conversations_get_or_open(pairs)

    now = timezone.now()
    messages = []
    for item in fresh:
        conversation = conversations[item.channel.pk, contacts[item.phone].pk]
        item.message = message_build(
            channel=item.channel, conversation=conversation, inbound=item.inbound
        )
        messages.append(item.message)
        conversation.last_inbound_at = latest(conversation.last_inbound_at, item.inbound.timestamp)
        conversation.last_message_at = now
        conversation.last_message_status = Message.Status.RECEIVED
    _messages_insert(messages)
    # In arrival order, after every message of the batch is stored: a reaction may follow the
    # message it reacts to within one batch.
    for item in fresh:
        reaction_apply(reaction=item.message, contact_id=contacts[item.phone].pk)
    Conversation.objects.bulk_update(
        {c.pk: c for c in conversations.values()}.values(),
        ["last_inbound_at", "last_message_at", "last_message_status"],
    )
    for item in fresh:
        conversation = item.message.conversation
        created = conversation.pk in opened
        opened.discard(conversation.pk)  # only its first message opened it
        inbound_pipeline_run(message=item.message, conversation_created=created)
        media_fetch_after_commit(item.message)


def _not_stored_yet(items: list[Received]) -> list[Received]:
    """Drop redeliveries: messages stored before, and repeats within the batch."""
    if not items:
        return []
    stored = set(
        Message.objects.filter(
            channel__in={item.channel.pk for item in items},
            provider_message_id__in={item.inbound.provider_message_id for item in items},
        ).values_list("channel_id", "provider_message_id")
    )
    fresh = []
    for item in items:
        key = (item.channel.pk, item.inbound.provider_message_id)
        if key not in stored:
            stored.add(key)
            fresh.append(item)
    return fresh


def _conversations_get_or_open(pairs) -> tuple[dict, set[int]]:
    """The open conversation of each (channel, contact), opened where there is none. Returns them
    by (channel id, contact id), and the ids of those opened here."""

    def read():
        found = (
            Conversation.objects.select_related("ticket")
            .filter(
                status=Conversation.Status.OPEN,
                channel__in={channel.pk for channel, _ in pairs},
                contact__in={contact.pk for _, contact in pairs},
            )
            .order_by()
        )
        return {(c.channel_id, c.contact_id): c for c in found}

    conversations = read()
    missing = [(ch, co) for ch, co in pairs if (ch.pk, co.pk) not in conversations]
    opened: set[int] = set()
    if missing:
        # The partial unique index on open conversations turns a concurrent opener's row into a
        # conflict that is skipped; reading again then finds whichever row won.
        Conversation.objects.bulk_create(
            [Conversation(channel=ch, contact=co) for ch, co in missing], ignore_conflicts=True
        )
        before = set(conversations)
        conversations = read()
        opened = {c.pk for key, c in conversations.items() if key not in before}
    wanted = {}
    for channel, contact in pairs:
        conversation = conversations[channel.pk, contact.pk]
        conversation.channel, conversation.contact = channel, contact
        wanted[channel.pk, contact.pk] = conversation
    return wanted, opened


def _messages_insert(messages: list[Message]) -> None:
    if connection.features.can_return_rows_from_bulk_insert:
        Message.objects.bulk_create(messages)
    else:
        for message in messages:
            message.save(force_insert=True)
