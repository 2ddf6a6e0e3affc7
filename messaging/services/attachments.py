"""Files an agent attaches to a reply: checked against the channel's capabilities first, then
handed to the provider's media upload, or, where the provider has none, to a temporary
document link (messaging/documents.py). Sending itself is `message_send`, as for everything."""

import logging
import mimetypes
from dataclasses import dataclass

from django.core.files.base import ContentFile
from django.db import transaction

from messaging.models import Channel, Message
from messaging.providers.base import Capabilities, MessageType, ProviderError
from messaging.services.outbound import (
    MediaContent,
    MessageRefused,
    message_send,
    message_send_check,
)

logger = logging.getLogger(__name__)

CAPTIONED = (MessageType.IMAGE, MessageType.VIDEO, MessageType.DOCUMENT)


@dataclass(frozen=True)
class Attachment:
    data: bytes
    filename: str
    mime_type: str = ""

    @property
    def content_type(self) -> str:
        guessed = mimetypes.guess_type(self.filename)[0]
        return (self.mime_type or guessed or "application/octet-stream").split(";")[0].lower()


def attachment_kind(*, caps: Capabilities, mime_type: str) -> str:
    """The message type a file goes out as: image, video or audio by its family when the
    channel takes that exact type, otherwise a document (a GIF or an SVG still reaches the
    customer, as a file)."""
    family = mime_type.split("/", 1)[0]
    kind = {"image": MessageType.IMAGE, "video": MessageType.VIDEO, "audio": MessageType.AUDIO}.get(
        family, MessageType.DOCUMENT
    )
    limit = caps.media.get(kind)
    if kind != MessageType.DOCUMENT and (
        limit is None or (limit.mime_types and mime_type not in limit.mime_types)
    ):
        return MessageType.DOCUMENT
    return kind


def _content(attachment: Attachment, kind: str, caption: str, **reference) -> MediaContent:
    return MediaContent(
        kind=kind,
        caption=caption if kind in CAPTIONED else "",
        filename=attachment.filename if kind == MessageType.DOCUMENT else "",
        mime_type=attachment.content_type,
        size=len(attachment.data),
        **reference,
    )


def attachment_check(
    *, channel: Channel, contact, attachment: Attachment, actor, caption: str = ""
) -> str:
    """Refuse (MessageRefused) before any upload what the send would refuse; the kind."""
    kind = attachment_kind(caps=channel.capabilities, mime_type=attachment.content_type)
    content = _content(attachment, kind, caption, media_id="not-uploaded-yet")
    message_send_check(channel=channel, contact=contact, content=content, actor=actor)
    return kind


def attachment_upload(*, channel: Channel, attachment: Attachment, kind: str, caption: str = ""):
    """The provider's media id for the file, or a temporary link to it."""
    provider = channel.get_provider()
    try:
        media_id = provider.media_upload(
            sender_id=channel.external_id,
            content=attachment.data,
            mime_type=attachment.content_type,
            filename=attachment.filename,
        )
    except NotImplementedError:
        # Imported here: messaging.documents imports this package's send service.
        from messaging.documents import document_link_create

        _link, url = document_link_create(
            file=ContentFile(attachment.data), filename=attachment.filename
        )
        return _content(attachment, kind, caption, link=url)
    except ProviderError as exc:
        raise MessageRefused(
            f"The file could not be uploaded: {exc}", code="media_upload_failed"
        ) from exc
    return _content(attachment, kind, caption, media_id=media_id)


def attachment_send(
    *,
    channel: Channel,
    contact,
    content: MediaContent,
    attachment: Attachment,
    actor,
    reply_to=None,
) -> Message:
    """Queue the uploaded file, keeping a copy so the thread shows what went out."""
    with transaction.atomic():
        message = message_send(
            channel=channel, contact=contact, content=content, actor=actor, reply_to=reply_to
        )
        message.media_file.save(attachment.filename, ContentFile(attachment.data), save=False)
        message.media_state = Message.MediaState.STORED
        message.payload = {**message.payload, "filename": attachment.filename}
        message.save(update_fields=["media_file", "media_state", "payload"])
    return message
