"""Temporary public links to stored documents, so a provider can fetch a file we send by link.

The URL carries a random token signed with the project's secret: a tampered or made-up URL is
refused before any database lookup. The link expires after `DOCUMENT_LINK_MINUTES`; the first
successful fetch deletes the file, and `document_links_purge` (a job) deletes what expired
unfetched. Nothing stays public.
"""

import logging
import mimetypes
import secrets
from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.core.files.base import ContentFile, File
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from messaging.models import DocumentLink
from messaging.providers.base import MessageType
from messaging.services import MediaContent, message_send

logger = logging.getLogger(__name__)

SALT = "switchboard.document-link"


class DocumentLinkInvalid(Exception):
    """Tampered or made up."""


class DocumentLinkGone(Exception):
    """Expired, or already fetched."""


def _signer() -> signing.Signer:
    return signing.Signer(salt=SALT)


def document_link_url(*, link: DocumentLink) -> str:
    signed = _signer().sign(link.token)
    return settings.PUBLIC_BASE_URL + reverse("document-fetch", args=[signed])


@transaction.atomic
def document_link_create(*, file: File, filename: str = "", minutes: int | None = None):
    """Store `file` and return (link, public URL)."""
    minutes = minutes or settings.DOCUMENT_LINK_MINUTES
    filename = filename or getattr(file, "name", "") or "document"
    filename = filename.rsplit("/", 1)[-1]
    content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
    link = DocumentLink(
        token=secrets.token_urlsafe(32),
        filename=filename,
        content_type=content_type,
        expires_at=timezone.now() + timedelta(minutes=minutes),
    )
    link.file.save(filename, file if isinstance(file, File) else ContentFile(file), save=False)
    link.save()
    return link, document_link_url(link=link)


def document_link_consume(*, signed: str) -> tuple[str, str, bytes]:
    """Return (filename, content type, bytes) once; the file is deleted as it is handed out.

    Two fetches at once: the conditional UPDATE lets one through.
    """
    try:
        token = _signer().unsign(signed)
    except signing.BadSignature:
        raise DocumentLinkInvalid("This document link is not valid.") from None
    now = timezone.now()
    link = DocumentLink.objects.filter(token=token).first()
    if link is None:
        raise DocumentLinkGone("This document link was used or has expired.")
    if link.expires_at <= now:
        raise DocumentLinkGone("This document link has expired.")
    if not DocumentLink.objects.filter(pk=link.pk, used_at__isnull=True).update(used_at=now):
        raise DocumentLinkGone("This document link was already used.")
    with link.file.open("rb") as handle:
        content = handle.read()
    _delete(link)
    return link.filename, link.content_type, content


def _delete(link: DocumentLink) -> None:
    try:
        link.file.delete(save=False)
    except OSError:
        logger.warning("document link %s: could not delete its file", link.pk, exc_info=True)
    DocumentLink.objects.filter(pk=link.pk).delete()


def document_links_purge(*, now=None) -> int:
    """Delete links (and their files) that expired unfetched. Safe to run as often as wanted."""
    now = now or timezone.now()
    expired = list(DocumentLink.objects.filter(expires_at__lte=now)[:1000])
    for link in expired:
        _delete(link)
    return len(expired)


def document_send(
    *, channel, contact, file: File, caption: str = "", filename: str = "", actor=None
):
    """Send a stored document as a WhatsApp document message through a temporary link.

    A refused send (customer-service window, role) raises `MessageRefused` and leaves no file
    behind.
    """
    link, url = document_link_create(file=file, filename=filename)
    try:
        return message_send(
            channel=channel,
            contact=contact,
            content=MediaContent(
                kind=MessageType.DOCUMENT,
                link=url,
                caption=caption,
                filename=link.filename,
                mime_type=link.content_type,
                size=link.file.size,
            ),
            actor=actor,
        )
    except Exception:
        _delete(link)
        raise
