"""Webhook intake and inbound messages: store first, process after commit, sweep what was left."""

import hashlib
import logging
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from django_q.tasks import async_task

from crm.phones import phone_normalize
from crm.services import contact_get_or_create_by_phone
from messaging.models import Channel, Conversation, Message, WebhookEvent
from messaging.pipeline import inbound_pipeline_run
from messaging.providers import provider_class
from messaging.providers.base import (
    IgnoredItem,
    InboundMessage,
    MalformedPayload,
    MessageType,
    StatusUpdate,
    TemplateStatusUpdate,
    UnparsedItem,
)

logger = logging.getLogger(__name__)

# Headers worth keeping with the raw body: enough to re-verify and to debug, no cookies or auth.
KEPT_HEADERS = ("content-type", "user-agent", "x-hub-signature-256", "x-hub-signature")
MAX_PROCESS_ATTEMPTS = 5


def webhook_event_store(
    *, provider: str, account, body: bytes, headers, rejected_reason: str = ""
) -> WebhookEvent | None:
    """Store a webhook request as received. Returns None for an exact redelivery (a no-op).

    A rejected (badly signed) request is stored flagged and never processed; an inactive
    account's event is stored and skipped.
    """
    kept = {name: headers[name] for name in KEPT_HEADERS if name in headers}
    if rejected_reason:
        return WebhookEvent.objects.create(
            provider=provider,
            account=account,
            body=body,
            headers=kept,
            signature_valid=False,
            state=WebhookEvent.State.REJECTED,
            error=rejected_reason,
        )
    state = WebhookEvent.State.PENDING if account.is_active else WebhookEvent.State.SKIPPED
    try:
        with transaction.atomic():
            event = WebhookEvent.objects.create(
                provider=provider,
                account=account,
                body=body,
                headers=kept,
                signature_valid=True,
                dedupe_key=hashlib.sha256(body).hexdigest(),
                state=state,
                error="" if account.is_active else "The account is inactive.",
            )
    except IntegrityError:
        return None
    if state == WebhookEvent.State.PENDING:
        transaction.on_commit(
            lambda: async_task("messaging.tasks.webhook_event_process", event.pk, group="webhooks")
        )
    return event


def webhook_event_process(*, event_id: int) -> WebhookEvent:
    """Read a stored event and apply every item in it; one broken item never loses the others."""
    event = WebhookEvent.objects.select_related("account").get(pk=event_id)
    if event.state in (WebhookEvent.State.PROCESSED, WebhookEvent.State.REJECTED):
        return event
    WebhookEvent.objects.filter(pk=event.pk).update(attempts=F("attempts") + 1)
    account = event.account
    if account is None or not account.is_active:
        return _event_finish(event, WebhookEvent.State.SKIPPED, ["The account is inactive."])

    provider = provider_class(event.provider)(settings=account.settings, secrets=account.secrets)
    try:
        items = provider.parse_webhook(body=bytes(event.body))
    except MalformedPayload as exc:
        return _event_finish(event, WebhookEvent.State.FAILED, [f"Malformed payload: {exc}"])

    channels: dict[str, Channel | None] = {}
    errors = []
    for item in items:
        try:
            _item_apply(item, account=account, provider=event.provider, channels=channels)
        except Exception as exc:
            logger.exception("webhook event %s: item failed", event.pk)
            errors.append(f"{type(exc).__name__}: {exc}")
    state = WebhookEvent.State.FAILED if errors else WebhookEvent.State.PROCESSED
    return _event_finish(event, state, errors)


class UnknownChannel(Exception):
    pass


def _channel_for(external_id: str, *, provider: str, channels: dict) -> Channel:
    if external_id not in channels:
        channels[external_id] = (
            Channel.objects.select_related("account")
            .filter(provider=provider, external_id=external_id)
            .first()
        )
    channel = channels[external_id]
    if channel is None:
        raise UnknownChannel(
            f"No channel has the provider id {external_id!r}: add the channel, then reprocess."
        )
    return channel


def _item_apply(item, *, account, provider: str, channels: dict) -> None:
    from messaging.services.statuses import status_apply
    from messaging.services.templates import template_status_apply

    if isinstance(item, InboundMessage):
        channel = _channel_for(item.channel_external_id, provider=provider, channels=channels)
        message_receive(channel=channel, inbound=item)
    elif isinstance(item, StatusUpdate):
        channel = _channel_for(item.channel_external_id, provider=provider, channels=channels)
        status_apply(channel=channel, update=item)
    elif isinstance(item, TemplateStatusUpdate):
        template_status_apply(account=account, update=item)
    elif isinstance(item, UnparsedItem):
        raise ValueError(f"Unreadable item: {item.error}")
    elif isinstance(item, IgnoredItem):
        logger.info("webhook item ignored: %s", item.reason)


def _event_finish(event: WebhookEvent, state: str, errors: list[str]) -> WebhookEvent:
    event.state = state
    event.error = "\n".join(errors)
    event.processed_at = timezone.now()
    WebhookEvent.objects.filter(pk=event.pk).update(
        state=event.state, error=event.error, processed_at=event.processed_at
    )
    return event


def webhook_event_reprocess(*, event_id: int) -> WebhookEvent:
    """Process a stored event again now; a rejected (forged) one never is."""
    WebhookEvent.objects.filter(pk=event_id).exclude(state=WebhookEvent.State.REJECTED).update(
        state=WebhookEvent.State.PENDING
    )
    return webhook_event_process(event_id=event_id)


def webhook_events_requeue(*, older_than: timedelta = timedelta(minutes=2)) -> int:
    """Hand events that were stored but never processed (or failed) back to the task cluster."""
    cutoff = timezone.now() - older_than
    stale = WebhookEvent.objects.filter(
        Q(state=WebhookEvent.State.PENDING, received_at__lt=cutoff)
        | Q(state=WebhookEvent.State.FAILED, attempts__lt=MAX_PROCESS_ATTEMPTS)
    ).values_list("pk", flat=True)
    ids = list(stale[:1000])
    for event_id in ids:
        async_task("messaging.tasks.webhook_event_process", event_id, group="webhooks")
    return len(ids)


def conversation_get_or_open(*, channel: Channel, contact) -> tuple[Conversation, bool]:
    """The open conversation of this contact on this channel, opened if there is none.

    The partial unique index on open conversations decides between concurrent openers; the loser
    reads the winner's row.
    """
    return Conversation.objects.get_or_create(
        channel=channel, contact=contact, status=Conversation.Status.OPEN
    )


def message_receive(*, channel: Channel, inbound: InboundMessage) -> Message | None:
    """Store one inbound message once. Returns None when it was already stored."""
    if Message.objects.filter(
        channel=channel, provider_message_id=inbound.provider_message_id
    ).exists():
        return None
    phone = phone_normalize(
        inbound.sender,
        international_prefix=channel.international_prefix,
        assume_international=True,
    )
    try:
        with transaction.atomic():
            contact, _ = contact_get_or_create_by_phone(phone_e164=phone, name=inbound.sender_name)
            conversation, opened = conversation_get_or_open(channel=channel, contact=contact)
            message = Message.objects.create(
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
            Conversation.objects.filter(pk=conversation.pk).update(
                last_inbound_at=_latest(conversation.last_inbound_at, inbound.timestamp),
                last_message_at=timezone.now(),
                last_message_status=Message.Status.RECEIVED,
            )
            inbound_pipeline_run(message=message, conversation_created=opened)
    except IntegrityError:
        # The same message id was stored by a concurrent delivery: this one is a no-op.
        if Message.objects.filter(
            channel=channel, provider_message_id=inbound.provider_message_id
        ).exists():
            return None
        raise
    if message.media_state == Message.MediaState.PENDING:
        from messaging.services.media import media_fetch_enqueue

        transaction.on_commit(lambda: media_fetch_enqueue(message_id=message.pk))
    return message


def _latest(current, candidate):
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
