"""Inbound media: fetched by a retried task into our storage. A failed download keeps the message,
shows its state and can be retried; nothing is dropped."""

import base64
import hashlib
import mimetypes
from datetime import timedelta

from django.core.files.base import ContentFile
from django.db.models import F
from django.utils import timezone

from messaging.models import Message
from messaging.providers.base import ProviderError
from messaging.queueing import task_enqueue
from messaging.services.health import channel_follow_error

MAX_MEDIA_ATTEMPTS = 5
M = Message.MediaState


def media_fetch_enqueue(*, message_id: int) -> None:
    Message.objects.filter(pk=message_id).exclude(media_state=M.STORED).update(
        media_state=M.PENDING
    )
    task_enqueue("messaging.tasks.media_fetch", message_id, group="media")


def _checksum_matches(content: bytes, expected: str) -> bool:
    if not expected:
        return True
    digest = hashlib.sha256(content).digest()
    # Meta gives base64 in webhooks and hex in the media URL answer.
    return expected in (digest.hex(), base64.b64encode(digest).decode())


def media_fetch(*, message_id: int) -> Message:
    message = Message.objects.select_related("channel__account").get(pk=message_id)
    if message.media_state == M.STORED:
        return message
    media_id = message.payload.get("media_id")
    Message.objects.filter(pk=message.pk).update(media_attempts=F("media_attempts") + 1)
    message.media_attempts += 1
    try:
        media = message.channel.get_provider().media_fetch(media_id=media_id)
    except ProviderError as exc:
        channel_follow_error(message.channel, exc)
        return _media_failed(message, exc.message, retry=not exc.permanent)
    expected = message.payload.get("sha256", "")
    if not _checksum_matches(media.content, expected):
        return _media_failed(message, "The file's sha256 does not match the webhook's.", retry=True)
    extension = mimetypes.guess_extension((media.mime_type or "").split(";")[0].strip()) or ""
    name = message.payload.get("filename") or f"{message.provider_message_id}{extension}"
    message.media_file.save(f"{message.channel_id}/{name}", ContentFile(media.content), save=False)
    Message.objects.filter(pk=message.pk).update(
        media_file=message.media_file.name,
        media_state=M.STORED,
        media_error="",
        next_attempt_at=None,
    )
    message.refresh_from_db()
    return message


def _media_failed(message: Message, reason: str, *, retry: bool) -> Message:
    retry = retry and message.media_attempts < MAX_MEDIA_ATTEMPTS
    delay = timedelta(seconds=30 * 2 ** (message.media_attempts - 1))
    Message.objects.filter(pk=message.pk).update(
        media_state=M.FAILED,
        media_error=reason,
        next_attempt_at=timezone.now() + delay if retry else None,
    )
    message.refresh_from_db()
    return message


def media_retry_due() -> int:
    """Retry failed downloads whose backoff has passed (the admin can also retry at once)."""
    due = list(
        Message.objects.filter(
            direction=Message.Direction.INBOUND,
            media_state=M.FAILED,
            next_attempt_at__lte=timezone.now(),
        ).values_list("pk", flat=True)[:500]
    )
    for pk in due:
        media_fetch_enqueue(message_id=pk)
    return len(due)
