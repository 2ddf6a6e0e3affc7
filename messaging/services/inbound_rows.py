"""How an inbound message becomes a Message row: shared by the one-by-one and the batch paths."""

from messaging.models import Channel, Conversation, Message
from messaging.providers.base import InboundMessage, MessageType
from messaging.queueing import after_commit


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
