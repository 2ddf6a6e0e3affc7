"""How an inbound message becomes a Message row: shared by the one-by-one and the batch paths."""

from datetime import datetime

from messaging.models import Channel, Conversation, Message
from messaging.providers.base import InboundMessage, MessageType
from messaging.queueing import after_commit
from messaging.selectors import reaction_key


def message_build(*, channel: Channel, conversation: Conversation, inbound: InboundMessage):
    """The Message row an inbound message becomes (not saved)."""
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
