"""Widget references: the short code a visitor's first message carries ("... [W7K2QXM]" in a
pre-filled WhatsApp text, "/start widget-7K2QXM" from a Telegram deep link, the same start
parameter as a contact link) that ties the conversation it starts to a widget, a page and a time.

The code names a stored row, so it can be short and still carry the page; a code that names no
row, a widget that is off or not on the line written to, or a reference past its age is ignored:
the message is stored as written, never refused.
"""

import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from messaging.models import Conversation, Message, Widget, WidgetReference

logger = logging.getLogger(__name__)

# No 0/O, 1/I/L, U: a visitor may read a code aloud or type it from a poster.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 6
# A Telegram start parameter allows A-Z a-z 0-9 _ - only (reference section 3), so the deep link
# carries "widget-<code>" where a text carries "[W<code>]".
START_PREFIX = "widget-"
_CODE = f"[{CODE_ALPHABET}]{{{CODE_LENGTH}}}"
REFERENCE_PATTERN = re.compile(
    rf"\s*\[W(?P<text>{_CODE})\]|(?<![\w-]){START_PREFIX}(?P<start>{_CODE})(?![\w-])"
)
POSTER_PAGE = "poster"


def reference_text(*, code: str) -> str:
    return f"[W{code}]"


def reference_start_token(*, code: str) -> str:
    return f"{START_PREFIX}{code}"


def _code_new() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def page_url_clean(url: str) -> str:
    """The page without its query string and fragment: they may carry a visitor's e-mail or a
    session token, and the path is what attribution needs."""
    parts = urlsplit((url or "").strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return ""
    return f"{parts.scheme}://{parts.netloc}{parts.path or '/'}"[:500]


def widget_reference_issue(
    *, widget: Widget, page_url: str, is_poster: bool = False
) -> WidgetReference:
    """A new reference for a visitor who opened `widget` on `page_url`."""
    for _ in range(5):
        try:
            with transaction.atomic():
                return WidgetReference.objects.create(
                    code=_code_new(), widget=widget, page_url=page_url, is_poster=is_poster
                )
        except IntegrityError:  # the code was taken: draw again
            continue
    raise RuntimeError("No free widget reference code after five draws.")


def widget_poster_reference(*, widget: Widget) -> WidgetReference:
    """The widget's reference for printed QR posters: one per widget, never expiring."""
    found = WidgetReference.objects.filter(widget=widget, is_poster=True).first()
    return found or widget_reference_issue(widget=widget, page_url=POSTER_PAGE, is_poster=True)


@dataclass(frozen=True)
class FoundReference:
    code: str
    start: int
    end: int


def reference_find(text: str) -> FoundReference | None:
    match = REFERENCE_PATTERN.search(text or "")
    if match is None:
        return None
    return FoundReference(match.group("text") or match.group("start"), *match.span())


def reference_strip(text: str, found: FoundReference) -> str:
    return (text[: found.start] + text[found.end :]).strip()


def widget_reference_read(*, code: str, channel, at: datetime) -> WidgetReference | None:
    """The reference `code` names, when it is live at `at` for a message on `channel`: its
    widget is active and offers that channel. None otherwise."""
    reference = (
        WidgetReference.objects.select_related("widget")
        .filter(code=code, widget__is_active=True, widget__entries__channel=channel)
        .first()
    )
    if reference is None:
        return None
    max_age = timedelta(days=settings.WIDGET_REFERENCE_MAX_AGE_DAYS)
    if not reference.is_poster and reference.created_at < at - max_age:
        return None
    return reference


def widget_reference_on_inbound(*, message: Message, conversation_created: bool) -> None:
    """Inbound pipeline step (first): a message carrying a live reference has it removed from
    the text agents and the ticket read (the raw message keeps it); when the message opened
    its conversation, the conversation records the widget, the page and the widget's service,
    which routing then uses."""
    if message.direction != Message.Direction.INBOUND:
        return
    found = reference_find(message.text)
    if found is None:
        return
    at = message.provider_timestamp or timezone.now()
    reference = widget_reference_read(code=found.code, channel=message.channel, at=at)
    if reference is None:
        logger.info("message %s: a widget reference that is not live", message.pk)
        return
    message.text = reference_strip(message.text, found)
    message.payload = {**message.payload, "widget_reference": reference.code}
    Message.objects.filter(pk=message.pk).update(text=message.text, payload=message.payload)
    if not conversation_created:
        return
    conversation = message.conversation
    conversation.widget = reference.widget
    conversation.widget_page = reference.page_url
    conversation.service_id = reference.widget.service_id
    Conversation.objects.filter(pk=conversation.pk).update(
        widget=reference.widget, widget_page=reference.page_url, service=conversation.service_id
    )


def widget_references_purge(*, now: datetime | None = None) -> int:
    """Delete the visitors' references past their age: they can no longer start anything, and
    a conversation they started keeps its widget and page. Poster references stay."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.WIDGET_REFERENCE_MAX_AGE_DAYS)
    deleted, _ = WidgetReference.objects.filter(is_poster=False, created_at__lt=cutoff).delete()
    return deleted
