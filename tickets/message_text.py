"""How a customer's WhatsApp message reads inside a ticket: its text, or a labelled reference for
what is not text (media as a link, a location, a button tap)."""

from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from messaging.models import Message
from messaging.providers.base import MessageType


def message_time(message: Message):
    """When the customer sent it (the provider's time), in the local time zone."""
    return timezone.localtime(message.provider_timestamp or message.created_at)


def media_link(message: Message) -> str:
    """Where staff open a message's media: the ticket console's staff-only media page.

    The text is written when the message arrives, before the media is downloaded, and stays in
    the ticket for good; so it names the message, not a file path that does not exist yet (and
    is never public). Absolute, so the link works when the text is copied out of the page.
    """
    path = reverse("admin:tickets_ticket_media", args=[message.pk])
    return f"{settings.PUBLIC_BASE_URL}{path}"


def message_as_text(message: Message) -> str:
    payload = message.payload or {}
    kind = message.type
    if kind == MessageType.TEXT:
        return message.text
    if kind in MessageType.MEDIA:
        label = f"[{kind}] {media_link(message)}"
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
