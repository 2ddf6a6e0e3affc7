"""The one inbound write path: how inbound messages become contacts, conversations and Message
rows, for a drain batch and for a single message alike.

A whole batch costs about eight statements, plus what the pipeline's steps do for each message:
contacts found or created by their strongest address, the open conversation reused or opened (the
partial unique index decides between concurrent openers), each message stored once, the pipeline
run for every new message in order. In a drain it runs inside the batch transaction; any database
error there rolls the batch back and the drain processes its events one by one through
`message_receive`, which runs this same path for one message.
"""

import logging
from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from config.rows_update import rows_update
from crm.addresses import PHONE_TRANSPORTS, Address, address_normalize, addresses_by_strength
from crm.addresses import AddressTransport as _Transports
from crm.identity import (
    contact_addresses_mark_reachable,
    contact_link_by_token,
    contact_phone_share,
)
from crm.services import SenderIdentity, contacts_get_or_create_by_addresses
from messaging.live import live_conversation_changed
from messaging.models import Channel, Conversation, Message
from messaging.pipeline import echo_pipeline_run, inbound_pipeline_run_many
from messaging.previews import message_preview_fields
from messaging.providers.base import InboundMessage, MessageType
from messaging.queueing import after_commit
from messaging.selectors import reaction_key

logger = logging.getLogger(__name__)
PHONE_ADDRESS = _Transports.WHATSAPP  # the contact's phone, whatever transport shared it


@dataclass
class Received:
    """One inbound message and what became of it."""

    channel: Channel
    inbound: InboundMessage
    addresses: tuple[Address, ...] = ()  # normalized, strongest first (set by step 1)
    error: Exception | None = None
    message: Message | None = None


def messages_receive(received: list[Received]) -> None:
    """Store every message of `received` once; sets `.message`, or `.error` for a message that
    cannot be stored (no readable sender). A message stored before stays untouched."""
    for item in received:
        _addresses_normalize(item)
    fresh = _not_stored_yet([item for item in received if item.error is None])
    if not fresh:
        return
    for item in fresh:
        if item.inbound.link_token or item.inbound.shared_phone:
            _identity_learn(item)
    contact_addresses_mark_reachable(addresses=[a for item in fresh for a in item.addresses])

    now = timezone.now()
    contacts = contacts_get_or_create_by_addresses(
        senders=[
            SenderIdentity(addresses=item.addresses, name=item.inbound.sender_name, seen_at=now)
            for item in fresh
        ]
    )
    pairs = {(item.channel, contact) for item, contact in zip(fresh, contacts, strict=True)}
    conversations, opened = _conversations_get_or_open(pairs)

    messages = []
    authors = _echo_authors(fresh)
    for item, contact in zip(fresh, contacts, strict=True):
        conversation = conversations[item.channel.pk, contact.pk]
        item.message = message_build(
            channel=item.channel, conversation=conversation, inbound=item.inbound
        )
        messages.append(item.message)
        conversation.last_message_at = now
        for field, value in message_preview_fields(item.message).items():
            setattr(conversation, field, value)
        if item.inbound.is_echo:
            item.message.sent_by_id = authors.get(item.inbound.author_id)
            conversation.last_message_status = item.message.status
            continue
        conversation.last_inbound_at = latest(conversation.last_inbound_at, item.inbound.timestamp)
        conversation.last_message_status = Message.Status.RECEIVED
    _messages_insert(messages)
    # In arrival order, after every message of the batch is stored: a reaction may follow the
    # message it reacts to within one batch.
    for item, contact in zip(fresh, contacts, strict=True):
        reaction_apply(reaction=item.message, contact_id=contact.pk)
    rows_update(
        {c.pk: c for c in conversations.values()}.values(),
        [
            "last_inbound_at",
            "last_message_at",
            "last_message_status",
            "last_message_type",
            "last_message_direction",
            "last_message_preview",
        ],
    )
    live_conversation_changed(conversation_ids={c.pk for c in conversations.values()})
    runs = []
    for item in fresh:
        conversation = item.message.conversation
        created = conversation.pk in opened
        opened.discard(conversation.pk)  # only its first message opened it
        if item.inbound.is_echo:
            # What customers wrote before an agent's own message is filed before it.
            inbound_pipeline_run_many(runs)
            runs = []
            echo_pipeline_run(message=item.message, conversation_created=created)
        else:
            runs.append((item.message, created))
    inbound_pipeline_run_many(runs)
    for item in fresh:
        media_fetch_after_commit(item.message)
        if item.inbound.acknowledge_id:
            _acknowledge_after_commit(item.channel, item.inbound.acknowledge_id)


def _addresses_normalize(item: Received) -> None:
    """Step 1. A phone that cannot be read is dropped while a stronger id remains: a message
    without a usable phone is never refused for it."""
    addresses, error = [], None
    for address in item.inbound.addresses:
        try:
            addresses.append(
                address_normalize(
                    address,
                    international_prefix=item.channel.international_prefix,
                    assume_international=address.transport in PHONE_TRANSPORTS,
                )
            )
        except ValidationError as exc:
            error = error or exc
    if not addresses:
        item.error = error or ValueError("The message carries no sender address.")
        return
    if error is not None:
        logger.warning("message %s: %s", item.inbound.provider_message_id, error.messages[0])
    item.addresses = tuple(addresses_by_strength(addresses))


def _identity_learn(item: Received) -> None:
    """What a message says about who its sender is, applied before the contact is looked up: a
    link we issued names their contact; a phone they shared as their own joins it."""
    inbound = item.inbound
    if inbound.link_token:
        contact = contact_link_by_token(token=inbound.link_token, addresses=item.addresses)
        if contact is None:
            logger.info("message %s: a start token that is not ours", inbound.provider_message_id)
    if inbound.shared_phone:
        try:
            phone = address_normalize(
                Address(PHONE_ADDRESS, inbound.shared_phone), assume_international=True
            )
        except ValidationError:
            logger.warning("message %s: shared phone is not a number", inbound.provider_message_id)
            return
        contact_phone_share(address=item.addresses[0], phone_e164=phone.value)
        item.addresses = tuple(addresses_by_strength([*item.addresses, phone]))


# An echo's status on the wire (Wazzup: sent, delivered, read, error) -> our message status.
ECHO_STATUSES = {
    "sent": Message.Status.SENT,
    "delivered": Message.Status.DELIVERED,
    "read": Message.Status.READ,
    "error": Message.Status.FAILED,
}


def _echo_authors(items: list[Received]) -> dict[str, int]:
    """Author id -> user id for the echoes of a batch: the provider's author id is the user id
    we gave the provider for that agent. An unknown author leaves the message authorless."""
    from django.contrib.auth import get_user_model

    wanted = {
        item.inbound.author_id
        for item in items
        if item.inbound.is_echo and item.inbound.author_id.isdigit()
    }
    if not wanted:
        return {}
    found = get_user_model().objects.filter(pk__in=[int(each) for each in wanted])
    return {str(pk): pk for pk in found.values_list("pk", flat=True)}


def message_build(*, channel: Channel, conversation: Conversation, inbound: InboundMessage):
    """The Message row an inbound message becomes (not saved). An echo (written by an agent
    outside Switchboard) becomes an outbound message, already sent."""
    if inbound.is_echo:
        status = ECHO_STATUSES.get(str(inbound.raw.get("status") or ""), Message.Status.SENT)
        return Message(
            channel=channel,
            conversation=conversation,
            direction=Message.Direction.OUTBOUND,
            provider_message_id=inbound.provider_message_id,
            type=inbound.type,
            text=inbound.text,
            payload={**_payload_with_errors(inbound), "echo": {"author": inbound.author_name}},
            raw=inbound.raw,
            reply_to_provider_id=inbound.reply_to,
            status=status,
            provider_timestamp=inbound.timestamp,
            sent_at=inbound.timestamp,
        )
    return Message(
        channel=channel,
        conversation=conversation,
        direction=Message.Direction.INBOUND,
        provider_message_id=inbound.provider_message_id,
        type=inbound.type,
        text=inbound.text,
        payload=_payload_with_errors(inbound),
        raw=inbound.raw,
        reply_to_provider_id=inbound.reply_to,
        status=Message.Status.RECEIVED,
        provider_timestamp=inbound.timestamp,
        media_state=(
            Message.MediaState.PENDING
            if inbound.type in MessageType.MEDIA and inbound.payload.get("media_id")
            else Message.MediaState.NONE
        ),
    )


def reaction_apply(*, reaction: Message, contact_id: int) -> bool:
    """Make a stored inbound reaction the sender's current one on the message it reacts to: set,
    changed, or cleared by an empty emoji. One reaction per person per message; one older than
    the current one (a late delivery) changes nothing. Returns True when the reacted message
    changed; False as well when it is not stored here."""
    if reaction.type != MessageType.REACTION or not reaction.payload.get("message_id"):
        return False
    target = (
        Message.objects.select_for_update()
        .filter(channel=reaction.channel_id, provider_message_id=reaction.payload["message_id"])
        .only("pk", "reactions")
        .first()
    )
    if target is None:
        return False
    key = reaction_key(contact_id=contact_id)
    current = target.reactions.get(key)
    at = reaction.provider_timestamp
    if current and current.get("at") and at and datetime.fromisoformat(current["at"]) > at:
        return False
    reactions = {
        **target.reactions,
        key: {
            "emoji": reaction.payload.get("emoji", ""),
            "at": at.isoformat() if at else "",
            "id": reaction.provider_message_id,
        },
    }
    Message.objects.filter(pk=target.pk).update(reactions=reactions)
    return True


def media_fetch_after_commit(message: Message) -> None:
    if message.media_state == Message.MediaState.PENDING:
        from messaging.services.media import media_fetch_enqueue

        after_commit(
            lambda: media_fetch_enqueue(message_id=message.pk),
            what=f"media of message {message.pk}",
        )


def _acknowledge_after_commit(channel: Channel, acknowledge_id: str) -> None:
    """Answer the provider once the message is stored; best effort: the message is kept either
    way, and a failure is logged (after_commit logs what raises)."""
    after_commit(
        lambda: channel.get_provider().inbound_acknowledge(acknowledge_id=acknowledge_id),
        what=f"acknowledgment {acknowledge_id}",
    )


def latest(current, candidate):
    return candidate if current is None or candidate > current else current


def _payload_with_errors(inbound: InboundMessage) -> dict:
    if not inbound.errors:
        return inbound.payload
    return {
        **inbound.payload,
        "errors": [
            {"code": err.code, "title": err.title, "details": err.details} for err in inbound.errors
        ],
    }


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
    # Sorted: two drains opening the same conversations wait on each other in one order.
    missing = sorted(
        ((ch, co) for ch, co in pairs if (ch.pk, co.pk) not in conversations),
        key=lambda pair: (pair[0].pk, pair[1].pk),
    )
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
