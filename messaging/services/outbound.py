"""Sending: every outbound message is checked, stored as queued, then delivered by a task.

Meta's send call has no idempotency key, so delivery is a state machine
(queued -> sending -> sent | failed | unknown) and our message id travels as callback data,
letting a status webhook settle a send whose answer was lost.
"""

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.db.models import F, Prefetch
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.identity import contact_address_mark_unreachable, contact_unreachable_reason
from crm.models import ContactAddress
from crm.selectors import ADDRESS_RECENCY, contact_addresses_map, contact_is_writable_by
from crm.services_consent import SendRefusal, send_category, send_policy_check
from messaging.live import live_conversation_changed, live_message_status
from messaging.models import Channel, Conversation, Message, MessageTemplate
from messaging.previews import message_preview_fields
from messaging.providers.base import (
    Capabilities,
    MessageType,
    OutboundMessage,
    ProviderError,
    TemplateCall,
)
from messaging.queueing import after_commit, task_wake
from messaging.selectors import Window, conversation_window
from messaging.services.health import channel_mark_unhealthy, credentials_invalid_mark
from messaging.services.inbound import conversation_get_or_open
from messaging.services.templates import PLACEHOLDER
from messaging.webhook_accounts import webhook_url

logger = logging.getLogger(__name__)

S = Message.Status
MAX_SEND_ATTEMPTS = 5
UNKNOWN_OUTCOME_GIVE_UP = timedelta(minutes=15)
SENDING_LEASE = timedelta(minutes=10)


class MessageRefused(Exception):
    """The message cannot be sent as asked; the text says why and what to do instead.

    `code` is the reason for programs (the API's error code), so no caller has to read the text:
    `not_writable`, `account_inactive`, `outside_window`, `template_not_approved`, ...
    """

    code = "message_refused"

    def __init__(self, message: str = "", *, code: str | None = None):
        super().__init__(message)
        if code:
            self.code = code


# ---------------------------------------------------------------------------------------------
# What can be sent


@dataclass(frozen=True)
class TextContent:
    text: str
    preview_url: bool = False


@dataclass(frozen=True)
class TemplateContent:
    template: MessageTemplate
    body_params: Sequence[str] = ()
    header_params: Sequence[str] = ()
    header_media: dict | None = None
    button_params: Sequence[dict] = ()


@dataclass(frozen=True)
class MediaContent:
    kind: str
    link: str = ""
    media_id: str = ""
    caption: str = ""
    filename: str = ""
    # Known for a file we upload or link ourselves; checked against the channel's limits.
    mime_type: str = ""
    size: int | None = None


@dataclass(frozen=True)
class ReactionContent:
    message: Message
    emoji: str


@dataclass(frozen=True)
class LocationContent:
    latitude: float
    longitude: float
    name: str = ""
    address: str = ""


Content = TextContent | TemplateContent | MediaContent | ReactionContent | LocationContent


@dataclass(frozen=True)
class _Prepared:
    """Checked content in the shape it is stored: what `_queue` writes."""

    type: str
    text: str
    payload: dict
    template: MessageTemplate | None = None


# ---------------------------------------------------------------------------------------------
# Checks that run before anything is stored


def _check_sendable(*, channel: Channel, contact, actor) -> None:
    if not contact_is_writable_by(user=actor, contact=contact):
        raise MessageRefused(
            _("%(actor)s may not write to %(contact)s: it is not one of their clients.")
            % {"actor": actor, "contact": contact},
            code="not_writable",
        )
    account = channel.account
    if not account.is_active:
        raise MessageRefused(
            _("The account '%(account)s' is inactive: sending is off until it is activated again.")
            % {"account": account.description},
            code="account_inactive",
        )
    _check_reachable(channel=channel, contact=contact)


def _check_reachable(*, channel: Channel, contact, addresses=None) -> None:
    """Refused before anything is stored or called when every address the channel could use
    refused us for good (the user blocked the bot): they must write first."""
    transports = type(channel.get_provider()).recipient_transports
    reason = contact_unreachable_reason(contact=contact, transports=transports, addresses=addresses)
    if reason:
        raise MessageRefused(
            _(
                "%(contact)s cannot be reached on this channel (%(reason)s). They have to write "
                "to us again first."
            )
            % {"contact": contact, "reason": reason},
            code="recipient_unreachable",
        )


def channel_send_policy_check(
    *, channel: Channel, contact, template: MessageTemplate | None
) -> SendRefusal | None:
    """The consent policy for one send on this channel: a template's category, or a service
    message. What every send path asks (through `message_send`), and what a bulk sender asks
    before it claims a recipient."""
    return send_policy_check(
        contact=contact,
        transports=type(channel.get_provider()).recipient_transports,
        category=send_category(template.category if template is not None else None),
    )


def _check_policy(*, channel: Channel, contact, template: MessageTemplate | None) -> None:
    refusal = channel_send_policy_check(channel=channel, contact=contact, template=template)
    if refusal is not None:
        raise MessageRefused(refusal.message, code=refusal.code)


def _check_window(*, channel: Channel, contact) -> None:
    window = conversation_window(channel=channel, contact=contact)
    if not window.is_open:
        raise _window_refusal(window)


def _window_refusal(window: Window) -> MessageRefused:
    if window.last_inbound_at is None:
        since = _("the customer has never written on this channel")
    else:
        last = timezone.localtime(window.last_inbound_at)
        since = _("the customer last wrote at %(at)s") % {"at": f"{last:%Y-%m-%d %H:%M}"}
    return MessageRefused(
        _(
            "The %(hours)s-hour customer-service window is closed (%(since)s): only an approved "
            "template can be sent."
        )
        % {"hours": window.hours, "since": since},
        code="outside_window",
    )


def template_render(template: MessageTemplate, body_params: list[str]) -> str:
    """The body as the customer reads it, for our own records and previews."""
    body = next((c.get("text", "") for c in template.components if c.get("type") == "BODY"), "")
    values = iter(body_params)
    return PLACEHOLDER.sub(lambda m: next(values, m.group(0)), body)


def _check_template(
    *,
    template: MessageTemplate,
    body_params: list[str],
    header_params: list[str],
    header_media: dict | None,
    button_params: list[dict],
) -> None:
    label = f"Template {template.name!r} [{template.language}]"
    if not template.is_approved:
        raise MessageRefused(
            _(
                "%(label)s is not approved (status %(status)s): only approved templates can be "
                "sent. Sync templates if it was approved since."
            )
            % {"label": label, "status": template.status},
            code="template_not_approved",
        )
    for what, expected, given in (
        ("body", template.body_param_count, len(body_params)),
        ("header", template.header_param_count, len(header_params)),
        ("button", template.button_param_count, len(button_params)),
    ):
        if expected != given:
            raise MessageRefused(
                f"{label} takes {expected} {what} parameter(s); {given} given.",
                code="template_parameters",
            )
    if template.header_format in ("IMAGE", "VIDEO", "DOCUMENT") and not header_media:
        raise MessageRefused(
            f"{label} needs a {template.header_format.lower()} header.",
            code="template_parameters",
        )


def _prepare(*, content: Content, channel: Channel, caps: Capabilities) -> _Prepared:
    """Check the content that will actually go out and shape it for storage."""
    if isinstance(content, TextContent):
        text = (content.text or "").strip()
        if not text:
            raise MessageRefused(_("The message is empty."), code="empty")
        if len(text) > caps.max_text_length:
            raise MessageRefused(
                _("The message has %(n)s characters; at most %(max)s are allowed.")
                % {"n": len(text), "max": caps.max_text_length},
                code="too_long",
            )
        return _Prepared(MessageType.TEXT, text, {"preview_url": content.preview_url})
    if isinstance(content, TemplateContent):
        template = content.template
        if template.account_id != channel.account_id:
            raise MessageRefused(
                f"Template {template.name!r} belongs to another account.",
                code="template_other_account",
            )
        body_params = [str(p) for p in content.body_params or ()]
        header_params = [str(p) for p in content.header_params or ()]
        button_params = list(content.button_params or ())
        _check_template(
            template=template,
            body_params=body_params,
            header_params=header_params,
            header_media=content.header_media,
            button_params=button_params,
        )
        call = {
            "external_id": template.external_id,
            "name": template.name,
            "language": template.language,
            "body_params": body_params,
            "header_params": header_params,
            "header_media": content.header_media,
            "button_params": button_params,
        }
        return _Prepared(
            MessageType.TEMPLATE,
            template_render(template, body_params),
            {"template": call},
            template,
        )
    if isinstance(content, MediaContent):
        kind = content.kind
        if kind not in MessageType.MEDIA:
            raise MessageRefused(f"{kind!r} is not a media type.", code="invalid_media")
        if bool(content.link) == bool(content.media_id):
            raise MessageRefused(
                "Give either a link or an uploaded media id.", code="invalid_media"
            )
        limit = caps.media.get(kind)
        if limit is None:
            raise MessageRefused(f"This channel cannot send {kind} messages.", code="invalid_media")
        if content.mime_type and limit.mime_types and content.mime_type not in limit.mime_types:
            raise MessageRefused(
                f"This channel cannot send {content.mime_type} as {kind}; it takes "
                f"{', '.join(sorted(limit.mime_types))}.",
                code="invalid_media",
            )
        if content.size is not None and content.size > limit.max_bytes:
            raise MessageRefused(
                f"The {kind} is {content.size} bytes; this channel takes at most "
                f"{limit.max_bytes}.",
                code="media_too_large",
            )
        media = {"link": content.link} if content.link else {"id": content.media_id}
        if content.caption and kind in (MessageType.IMAGE, MessageType.VIDEO, MessageType.DOCUMENT):
            media["caption"] = content.caption
        if content.filename and kind == MessageType.DOCUMENT:
            media["filename"] = content.filename
        return _Prepared(kind, content.caption, {"media": media})
    if isinstance(content, ReactionContent):
        target = content.message
        if not target.provider_message_id:
            raise MessageRefused(
                "This message has no provider id yet: it cannot be reacted to.",
                code="not_reactable",
            )
        reaction = {"message_id": target.provider_message_id, "emoji": content.emoji}
        return _Prepared(MessageType.REACTION, content.emoji, {"reaction": reaction})
    if isinstance(content, LocationContent):
        location = {
            "latitude": float(content.latitude),
            "longitude": float(content.longitude),
            "name": content.name,
            "address": content.address,
        }
        if not (-90 <= location["latitude"] <= 90 and -180 <= location["longitude"] <= 180):
            raise MessageRefused("The location is not on Earth.", code="invalid_location")
        text = content.name or f"{location['latitude']}, {location['longitude']}"
        return _Prepared(MessageType.LOCATION, text, location)
    raise TypeError(f"Not sendable content: {content!r}")


# ---------------------------------------------------------------------------------------------
# The send service


def _queue(
    *,
    channel: Channel,
    contact,
    actor,
    type: str,
    text: str = "",
    payload: dict,
    template: MessageTemplate | None = None,
    reply_to: str = "",
    deliver: bool = True,
) -> Message:
    with transaction.atomic():
        conversation, _ = conversation_get_or_open(channel=channel, contact=contact)
        if template is not None and not conversation.messages.exists():
            conversation.started_by_template = template
            conversation.save(update_fields=["started_by_template"])
        message = Message.objects.create(
            channel=channel,
            conversation=conversation,
            direction=Message.Direction.OUTBOUND,
            type=type,
            text=text,
            payload=payload,
            template=template,
            reply_to_provider_id=reply_to,
            status=S.QUEUED,
            sent_by=actor,
        )
        Conversation.objects.filter(pk=conversation.pk).update(
            last_message_at=message.created_at,
            last_message_status=S.QUEUED,
            **message_preview_fields(message),
        )
        live_conversation_changed(conversation_ids=[conversation.pk])
        if deliver:
            after_commit(
                lambda: message_deliver_enqueue(message_id=message.pk, channel_id=channel.pk),
                what=f"queued message {message.pk}",
            )
    return message


def message_send(
    *,
    channel: Channel,
    contact,
    content: Content,
    actor=None,
    reply_to: Message | None = None,
    when_window_closed: Callable[[], TemplateContent] | None = None,
    deliver: bool = True,
) -> Message:
    """The one way a message goes out: every check is here, then the message is queued.

    `deliver=False` is for a caller that paces delivery itself (a campaign worker): the message
    is queued all the same and it calls `message_deliver`; if that caller dies, the sweep's
    re-drive of queued messages delivers it.

    Order: who may send and whether the account is active, the customer-service window (read
    once, from the channel's capabilities), then the content that will actually go out. A
    template may go any time. When the window is closed and `when_window_closed` is given, its
    template goes instead of the free content; without it, the content is checked before the
    window, so an empty or too long message is refused as such whatever the window.
    """
    _check_sendable(channel=channel, contact=contact, actor=actor)
    caps = channel.capabilities
    free = not isinstance(content, TemplateContent)
    window_checked = False
    if free and when_window_closed is not None:
        window_checked = True
        if not conversation_window(channel=channel, contact=contact).is_open:
            content = when_window_closed()
    prepared = _prepare(content=content, channel=channel, caps=caps)
    _check_policy(channel=channel, contact=contact, template=prepared.template)
    if free and not window_checked:
        _check_window(channel=channel, contact=contact)
    return _queue(
        channel=channel,
        contact=contact,
        actor=actor,
        type=prepared.type,
        text=prepared.text,
        payload=prepared.payload,
        template=prepared.template,
        reply_to=reply_to.provider_message_id
        if reply_to is not None and prepared.type != MessageType.TEMPLATE
        else "",
        deliver=deliver,
    )


def message_send_check(*, channel: Channel, contact, content: Content, actor=None) -> None:
    """Every check `message_send` makes, without storing anything: for a caller that must do
    costly work (upload a file to the provider) only once the send is known to be allowed."""
    _check_sendable(channel=channel, contact=contact, actor=actor)
    prepared = _prepare(content=content, channel=channel, caps=channel.capabilities)
    _check_policy(channel=channel, contact=contact, template=prepared.template)
    if prepared.template is None:
        _check_window(channel=channel, contact=contact)


def message_send_text(
    *,
    channel: Channel,
    contact,
    text: str,
    actor=None,
    preview_url: bool = False,
    reply_to: Message | None = None,
) -> Message:
    return message_send(
        channel=channel,
        contact=contact,
        content=TextContent(text=text, preview_url=preview_url),
        actor=actor,
        reply_to=reply_to,
    )


def message_send_template(
    *,
    channel: Channel,
    contact,
    template: MessageTemplate,
    body_params: list[str] | None = None,
    header_params: list[str] | None = None,
    header_media: dict | None = None,
    button_params: list[dict] | None = None,
    actor=None,
) -> Message:
    """Send an approved template; allowed inside and outside the customer-service window."""
    return message_send(
        channel=channel,
        contact=contact,
        content=TemplateContent(
            template=template,
            body_params=tuple(body_params or ()),
            header_params=tuple(header_params or ()),
            header_media=header_media,
            button_params=tuple(button_params or ()),
        ),
        actor=actor,
    )


def message_send_media(
    *,
    channel: Channel,
    contact,
    kind: str,
    link: str = "",
    media_id: str = "",
    caption: str = "",
    filename: str = "",
    actor=None,
    reply_to: Message | None = None,
) -> Message:
    return message_send(
        channel=channel,
        contact=contact,
        content=MediaContent(
            kind=kind, link=link, media_id=media_id, caption=caption, filename=filename
        ),
        actor=actor,
        reply_to=reply_to,
    )


def message_send_reaction(*, message: Message, emoji: str, actor=None) -> Message:
    """React to a customer's message ("" removes our reaction)."""
    return message_send(
        channel=message.channel,
        contact=message.conversation.contact,
        content=ReactionContent(message=message, emoji=emoji),
        actor=actor,
    )


def message_mark_read(*, message: Message) -> None:
    """Tell the customer we read their message (blue ticks on their side), where the channel
    has read receipts at all."""
    channel = message.channel
    if not channel.capabilities.read_receipts:
        return
    channel.get_provider().mark_read(
        sender_id=channel.external_id, provider_message_id=message.provider_message_id
    )


# ---------------------------------------------------------------------------------------------
# Delivery


DELIVERY_DRAIN = "messaging.tasks.channel_deliveries_drain"


def delivery_flag(channel_id: int) -> str:
    return f"deliver:{channel_id}"


def channel_deliveries_wake(*, channel_id: int) -> bool:
    """Wake the channel's delivery drain (services/delivery.py) unless one is about to start."""
    return task_wake(DELIVERY_DRAIN, channel_id, flag=delivery_flag(channel_id))


def message_deliver_enqueue(*, message_id: int, channel_id: int | None = None) -> None:
    """A message is queued: its channel's drain sends it."""
    if channel_id is None:
        channel_id = Message.objects.values_list("channel_id", flat=True).get(pk=message_id)
    channel_deliveries_wake(channel_id=channel_id)


# A slot further ahead than this is no backlog but a clock that moved (a restored snapshot, a
# test that travelled in time): start again from now.
THROTTLE_HORIZON_SECONDS = 60


def channel_throttle_slots(*, channel: Channel, count: int = 1, clock=time.time) -> list[float]:
    """Take this channel's next `count` send slots (times, epoch seconds), 1/rate apart.

    The next free slot is a time on the channel row, taken under its row lock by every worker
    thread and process on every machine, so together they never send faster than the rate, and
    evenly: no second ever carries more than the rate (plus the network's jitter), which a
    per-second counter would allow across a second's boundary.
    """
    with transaction.atomic():
        next_slot, rate = (
            Channel.objects.select_for_update()
            .values_list("throttle_next_at", "throughput_per_second")
            .get(pk=channel.pk)
        )
        now = clock()
        first = next_slot if now <= next_slot <= now + THROTTLE_HORIZON_SECONDS else now
        step = 1 / max(rate, 1)
        Channel.objects.filter(pk=channel.pk).update(throttle_next_at=first + count * step)
    return [first + i * step for i in range(count)]


def channel_throttle_slot(*, channel: Channel, clock=time.time) -> float:
    return channel_throttle_slots(channel=channel, count=1, clock=clock)[0]


def channel_throttle_acquire(*, channel: Channel, clock=time.time, sleep=time.sleep) -> None:
    """Wait for this channel's next send slot."""
    slot = channel_throttle_slot(channel=channel, clock=clock)
    now = clock()
    if slot > now:
        sleep(slot - now)


def _outbound(message: Message) -> OutboundMessage:
    payload = message.payload
    contact = message.conversation.contact
    outbound = OutboundMessage(
        to=contact.phone or "",
        recipient_addresses=contact_addresses_map(
            contact=contact, addresses=_loaded_addresses(message)
        ),
        type=message.type,
        text=message.text,
        reply_to=message.reply_to_provider_id,
        callback_data=str(message.pk),
        status_url=webhook_url(message.channel.account),
        author_id=str(message.sent_by_id or ""),
    )
    if message.type == MessageType.TEXT:
        outbound.preview_url = bool(payload.get("preview_url"))
    elif message.type == MessageType.TEMPLATE:
        outbound.template = TemplateCall(**payload["template"])
    elif message.type in MessageType.MEDIA:
        outbound.media = payload["media"]
    elif message.type == MessageType.REACTION:
        outbound.reaction = payload["reaction"]
    elif message.type == MessageType.LOCATION:
        outbound.location = payload
    return outbound


def message_deliver(*, message_id: int) -> Message | None:
    """Hand one queued message to the provider. A message not in `queued` is left alone."""
    claimed = Message.objects.filter(
        pk=message_id, status=S.QUEUED, direction=Message.Direction.OUTBOUND
    ).update(status=S.SENDING, attempts=F("attempts") + 1, next_attempt_at=None)
    if not claimed:
        return None
    return message_deliver_claimed(message_id=message_id)


def message_deliver_claimed(*, message_id: int) -> Message:
    """Send a message its caller moved to `sending` (claimed, so no one else sends it)."""
    message = delivery_load(message_ids=[message_id])[0]
    refusal = delivery_refusal(message)
    if refusal:
        return _fail(message, code=None, reason=refusal)
    try:
        channel_throttle_acquire(channel=message.channel)
        result = message.channel.get_provider().send(
            sender_id=message.channel.external_id, message=delivery_outbound(message)
        )
    except ProviderError as exc:
        return _delivery_failed(message, exc)
    return delivery_settle(message, result)


def delivery_load(*, message_ids) -> list[Message]:
    """Claimed messages with what a send reads (their contacts' addresses too), in two queries,
    in id order."""
    addresses = Prefetch(
        "conversation__contact__addresses",
        queryset=ContactAddress.objects.order_by(*ADDRESS_RECENCY),
        to_attr="loaded_addresses",
    )
    return list(
        Message.objects.select_related("channel__account", "conversation__contact", "template")
        .prefetch_related(addresses)
        .filter(pk__in=message_ids)
        .order_by("pk")
    )


def _loaded_addresses(message: Message):
    """The contact's addresses delivery_load read, or None (they are read when needed)."""
    return getattr(message.conversation.contact, "loaded_addresses", None)


def delivery_refusal(message: Message) -> str:
    """Why a claimed message must not go out after all ("" when it may), with no call made."""
    channel = message.channel
    if not channel.account.is_active:
        return "The account is inactive: sending is off."
    try:
        # Queued before the address became unreachable or the person opted out: refused the
        # same way.
        _check_reachable(
            channel=channel,
            contact=message.conversation.contact,
            addresses=_loaded_addresses(message),
        )
        _check_policy(
            channel=channel, contact=message.conversation.contact, template=message.template
        )
    except MessageRefused as exc:
        return str(exc)
    return ""


def delivery_outbound(message: Message) -> OutboundMessage:
    return _outbound(message)


def delivery_fail(message: Message, *, reason: str) -> Message:
    return _fail(message, code=None, reason=reason)


def delivery_failed(message: Message, exc: ProviderError) -> Message:
    return _delivery_failed(message, exc)


def delivery_settle(message: Message, result) -> Message:
    """The provider took the message: record its id and `sent` (a status may be ahead of us).
    One message settled as a drain settles a batch (delivery_settle.py)."""
    from messaging.services.delivery_settle import deliveries_settle

    deliveries_settle(channel=message.channel, sent=[(message, result)])
    message.refresh_from_db()
    return message


def _fail(message: Message, *, code, reason: str) -> Message:
    now = timezone.now()
    Message.objects.filter(pk=message.pk).update(
        status=S.FAILED,
        error_code=code,
        error_title=reason[:255],
        error_detail=reason,
        failed_at=now,
    )
    Conversation.objects.filter(pk=message.conversation_id).update(last_message_status=S.FAILED)
    live_message_status(
        conversation_id=message.conversation_id,
        message_id=message.pk,
        status=S.FAILED,
        error=reason[:255],
    )
    message.refresh_from_db()
    return message


def _delivery_failed(message: Message, exc: ProviderError) -> Message:
    channel = message.channel
    logger.warning("message %s: delivery failed: %s", message.pk, exc.message)
    if exc.unreachable is not None:
        contact_address_mark_unreachable(address=exc.unreachable, reason=exc.message)
    if exc.credentials_invalid:
        credentials_invalid_mark(channel=channel, reason=exc.message)
    elif exc.channel_problem:
        # The channel itself cannot send (logged out, no money): an alert on the channel.
        channel_mark_unhealthy(channel=channel, reason=exc.message)
    elif exc.permanent:
        Channel.objects.filter(pk=channel.pk).update(
            last_error=exc.message, last_error_at=timezone.now()
        )
    if exc.meaning:
        from messaging.services.consent import message_refusal_apply

        failed = _fail(message, code=exc.code, reason=exc.message)
        message_refusal_apply(
            message=failed, meaning=exc.meaning, hold_seconds=exc.hold_seconds, reason=exc.message
        )
        failed.refresh_from_db()
        return failed
    if exc.permanent or exc.credentials_invalid:
        return _fail(message, code=exc.code, reason=exc.message)
    if exc.raw.get("timeout"):
        # The request may have reached the provider: sending again could deliver twice. Wait for
        # a status webhook carrying our id to settle it.
        Message.objects.filter(pk=message.pk, status=S.SENDING).update(
            status=S.UNKNOWN, error_title=f"No answer from the provider: {exc.message}"[:255]
        )
        message.refresh_from_db()
        return message
    if message.attempts >= MAX_SEND_ATTEMPTS:
        return _fail(
            message,
            code=exc.code,
            reason=f"Gave up after {message.attempts} attempts: {exc.message}",
        )
    if exc.retry_after is not None:
        delay = exc.retry_after
    elif exc.per_recipient and channel.capabilities.rate_limit_backoff_base:
        # A per-recipient limit asks for its own schedule (Meta's pair rate limit: 4^X seconds).
        delay = channel.capabilities.rate_limit_backoff_base**message.attempts
    else:
        delay = min(5 * 2 ** (message.attempts - 1), 300)
    Message.objects.filter(pk=message.pk, status=S.SENDING).update(
        status=S.QUEUED,
        next_attempt_at=timezone.now() + timedelta(seconds=delay),
        error_code=exc.code,
        error_title=f"Will retry: {exc.message}"[:255],
    )
    message.refresh_from_db()
    return message


def messages_retry_due() -> dict:
    """Re-drive outbound messages: retries that are due, queued ones a crash left behind, and
    sends whose outcome stayed unknown too long."""
    now = timezone.now()
    due = list(
        Message.objects.filter(
            direction=Message.Direction.OUTBOUND, status=S.QUEUED, next_attempt_at__lte=now
        ).values_list("pk", "channel_id")[:1000]
    )
    left = list(
        Message.objects.filter(
            direction=Message.Direction.OUTBOUND,
            status=S.QUEUED,
            next_attempt_at__isnull=True,
            created_at__lt=now - timedelta(minutes=2),
        ).values_list("pk", "channel_id")[:1000]
    )
    # One wake-up per channel: its drain takes every due message of the channel.
    for channel_id in {row[1] for row in due + left}:
        channel_deliveries_wake(channel_id=channel_id)
    stuck = Message.objects.filter(
        status=S.SENDING, created_at__lt=now - SENDING_LEASE, provider_message_id__isnull=True
    ).update(status=S.UNKNOWN, error_title="The send was interrupted; its outcome is unknown.")
    given_up = Message.objects.filter(
        status=S.UNKNOWN, created_at__lt=now - UNKNOWN_OUTCOME_GIVE_UP
    ).update(
        status=S.FAILED,
        failed_at=now,
        error_title="Outcome unknown: no answer and no status arrived. Check before resending.",
    )
    return {"retried": len(due), "requeued": len(left), "stuck": stuck, "given_up": given_up}


def message_delivery_retry(*, message_ids) -> int:
    """Queue failed outbound messages again (an operator's decision after fixing the cause)."""
    rows = list(
        Message.objects.filter(
            pk__in=message_ids, direction=Message.Direction.OUTBOUND, status=S.FAILED
        ).values_list("pk", "channel_id")
    )
    Message.objects.filter(pk__in=[row[0] for row in rows]).update(
        status=S.QUEUED, next_attempt_at=None
    )
    for channel_id in {row[1] for row in rows}:
        channel_deliveries_wake(channel_id=channel_id)
    return len(rows)
