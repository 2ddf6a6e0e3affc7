"""How a customer's WhatsApp message reads inside a ticket: its text, or a labelled reference for
what is not text (media by link or provider media id, a location, a button tap)."""

from django.utils import timezone

from messaging.models import Message
from messaging.providers.base import MessageType


def message_time(message: Message):
    """When the customer sent it (the provider's time), in the local time zone."""
    return timezone.localtime(message.provider_timestamp or message.created_at)


def message_as_text(message: Message) -> str:
    payload = message.payload or {}
    kind = message.type
    if kind == MessageType.TEXT:
        return message.text
    if kind in MessageType.MEDIA:
        reference = (
            message.media_file.url
            if message.media_file
            else payload.get("url") or payload.get("media_id", "")
        )
        label = f"[{kind}] {reference}".rstrip()
        if payload.get("filename"):
            label += f" ({payload['filename']})"
        caption = message.text or payload.get("caption", "")
        return f"{label}\n{caption}" if caption else label
    if kind == MessageType.LOCATION:
        place = ", ".join(p for p in (payload.get("name"), payload.get("address")) if p)
        where = f"{payload.get('latitude')}, {payload.get('longitude')}"
        return f"[location] {where}" + (f" ({place})" if place else "")
    if message.text:
        return f"[{kind}] {message.text}"
    return f"[{kind} message]"


def description_entry(message: Message) -> str:
    """The first message as a ticket's description: a timestamp line, then what was written."""
    return f"{message_time(message):%Y-%m-%d %H:%M:%S}\n{message_as_text(message)}"
