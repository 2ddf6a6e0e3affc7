"""Webhook intake and inbound messages: store first, process after commit, sweep what was left."""

import hashlib
import json
import logging
import time
from datetime import timedelta
from urllib.parse import urlencode

from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.http import QueryDict
from django.utils import timezone

from messaging.models import Channel, Conversation, Message, WebhookEvent
from messaging.providers import provider_class
from messaging.providers.base import (
    ANSWERED_ITEMS,
    REFUSED_CHARACTERS,
    Address,
    AddressChange,
    ChannelStateUpdate,
    IgnoredItem,
    InboundMessage,
    MalformedPayload,
    MessageChange,
    MessageEdit,
    StatusUpdate,
    TemplateStatusUpdate,
    UnparsedItem,
)
from messaging.queueing import (
    after_commit,
    drain_linger_seconds,
    task_wake,
    task_wake_clear,
    task_wake_helper,
)
from messaging.services.inbound_rows import Received, messages_receive
from messaging.webhook_request import webhook_request_from_event

logger = logging.getLogger(__name__)

# Headers worth keeping with the raw body: enough to re-verify and to debug, no cookies or auth.
# Each provider adds its own (signature headers) through `Provider.kept_headers`.
BASE_KEPT_HEADERS = ("content-type", "user-agent")
_kept_headers: dict[str, tuple[str, ...]] = {}
MAX_PROCESS_ATTEMPTS = 5
DRAIN_TASK = "messaging.tasks.webhook_events_drain"
DRAIN_FLAG = "webhook-events"
DRAIN_BATCH = 100
# Well under the task cluster's timeout (Q_TIMEOUT, 120 s by default).
DRAIN_MAX_SECONDS = 60


def webhook_event_store(
    *,
    provider: str,
    account,
    body: bytes,
    headers,
    rejected_reason: str = "",
    channel=None,
    delivery_key: str | None = None,
    query: str = "",
) -> int | None:
    """Store a webhook request as received and return its id; None for a redelivery (a no-op).
    `headers` is any case-insensitive mapping, such as `request.headers`.

    A redelivery is an identical body, or, when the provider names its deliveries
    (`Provider.dedupe_key`), the same `delivery_key` for the same account and channel.

    A rejected (badly signed) request is stored flagged and never processed; an inactive
    account's event is stored and skipped.
    """
    names = _kept_headers.get(provider)
    if names is None:
        # Once per provider key and process: this runs on the webhook acknowledgment path.
        names = _kept_headers[provider] = BASE_KEPT_HEADERS + provider_class(provider).kept_headers
    kept = {name: headers[name] for name in names if name in headers}
    query = _query_kept(provider, query)
    if rejected_reason:
        return WebhookEvent.objects.create(
            provider=provider,
            account=account,
            body=body,
            headers=kept,
            channel=channel,
            query=query,
            signature_valid=False,
            state=WebhookEvent.State.REJECTED,
            error=rejected_reason,
        ).pk
    state = WebhookEvent.State.PENDING if account.is_active else WebhookEvent.State.SKIPPED
    event_id = _event_insert_once(
        provider=provider,
        account=account,
        body=body,
        headers=kept,
        channel=channel,
        query=query,
        dedupe_key=_dedupe_key(body, account=account, channel=channel, delivery_key=delivery_key),
        state=state,
        error="" if account.is_active else "The account is inactive.",
    )
    if event_id is not None and state == WebhookEvent.State.PENDING:
        after_commit(webhook_events_wake, what=f"webhook event {event_id}")
    return event_id


# The webhook view's one statement. Written out because the ORM's INSERT costs more CPU than the
# rest of the acknowledgment together, and ON CONFLICT DO NOTHING makes a redelivery a no-op with
# no exception and no savepoint, inside a caller's transaction or not.
_INSERT_ONCE = (
    "INSERT INTO messaging_webhookevent"
    " (provider, account_id, channel_id, received_at, body, headers, query, signature_valid,"
    " dedupe_key, state, error, attempts)"
    " VALUES (%s, %s, %s, CURRENT_TIMESTAMP, %s, %s, %s, true, %s, %s, %s, 0)"
    " ON CONFLICT (provider, dedupe_key) DO NOTHING RETURNING id"
)


def webhook_event_find(
    *, provider: str, account, channel, body: bytes, delivery_key: str | None
) -> int | None:
    """The id of the stored event a redelivery repeats."""
    key = _dedupe_key(body, account=account, channel=channel, delivery_key=delivery_key)
    return (
        WebhookEvent.objects.filter(provider=provider, dedupe_key=key)
        .values_list("pk", flat=True)
        .first()
    )


def _query_kept(provider: str, query: str) -> str:
    if not query:
        return ""
    names = provider_class(provider).kept_query
    if not names:
        return ""
    parsed = QueryDict(query)
    return urlencode([(name, value) for name in names for value in parsed.getlist(name)])


def _dedupe_key(body: bytes, *, account, channel, delivery_key: str | None) -> str:
    if delivery_key is None:
        return hashlib.sha256(body).hexdigest()
    scope = f"{account.pk}:{channel.pk if channel is not None else ''}:{delivery_key}"
    return hashlib.sha256(scope.encode()).hexdigest()


def _event_insert_once(
    *,
    provider: str,
    account,
    channel,
    body: bytes,
    headers: dict,
    dedupe_key: str,
    state: str,
    error: str,
    query: str = "",
) -> int | None:
    """Insert and return the id, or None when the dedupe key says the body was stored already."""
    with connection.cursor() as cursor:
        cursor.execute(
            _INSERT_ONCE,
            [
                provider,
                account.pk,
                channel.pk if channel is not None else None,
                body,
                json.dumps(headers),
                query,
                dedupe_key,
                state,
                error,
            ],
        )
        row = cursor.fetchone()
    return None if row is None else row[0]


def webhook_events_wake() -> bool:
    return task_wake(DRAIN_TASK, flag=DRAIN_FLAG)


def webhook_events_drain(*, batch_size: int = DRAIN_BATCH) -> int:
    """Process pending events in batches until none is left; returns how many were processed.

    Several drains run side by side: each claims its batch with SKIP LOCKED, and a batch commits
    once, which is what makes the cluster fast. Every item runs in its own savepoint, so one
    item's database error never rolls back the others; should a batch fail anyway, its events
    are processed again one at a time, so the one that breaks is marked failed alone.
    """
    task_wake_clear(flag=DRAIN_FLAG)
    linger = drain_linger_seconds(flag=DRAIN_FLAG)
    deadline = time.monotonic() + DRAIN_MAX_SECONDS
    done = 0
    lingered = False
    channels: dict[str, Channel | None] = {}
    while True:
        ids: list[int] = []
        try:
            with transaction.atomic():
                batch = list(
                    WebhookEvent.objects.select_related("account", "channel")
                    .select_for_update(skip_locked=True, of=("self",))
                    .filter(state=WebhookEvent.State.PENDING)
                    .order_by("pk")[:batch_size]
                )
                ids = [event.pk for event in batch]
                if len(batch) == batch_size:
                    task_wake_helper(DRAIN_TASK, flag=DRAIN_FLAG)
                _events_finish(_events_process_batch(batch, channels=channels))
        except Exception:
            logger.exception("a batch of webhook events failed; processing it one by one")
            channels.clear()
            for event_id in ids:
                _event_process_alone(event_id)
        done += len(ids)
        if time.monotonic() > deadline:
            # Under endless load, hand over to a fresh drain well before the task timeout.
            task_wake_clear(flag=DRAIN_FLAG)
            task_wake(DRAIN_TASK, flag=DRAIN_FLAG, coalesce=False)
            return done
        if len(ids) == batch_size:
            continue
        if ids:
            lingered = False
        if lingered or not linger:
            return done
        time.sleep(linger)
        lingered = True


def _event_process_alone(event_id: int) -> None:
    try:
        webhook_event_process(event_id=event_id)
    except Exception as exc:
        logger.exception("webhook event %s failed", event_id)
        WebhookEvent.objects.filter(pk=event_id, state=WebhookEvent.State.PENDING).update(
            state=WebhookEvent.State.FAILED,
            error=f"{type(exc).__name__}: {exc}",
            processed_at=timezone.now(),
            attempts=F("attempts") + 1,
        )


def webhook_event_process(*, event_id: int) -> WebhookEvent:
    """Process one stored event now (the admin's reprocess, the fallback of a failed batch)."""
    with transaction.atomic():
        event = (
            WebhookEvent.objects.select_related("account", "channel")
            .select_for_update(of=("self",))
            .get(pk=event_id)
        )
        if event.state in (WebhookEvent.State.PROCESSED, WebhookEvent.State.REJECTED):
            return event
        state, errors = _event_process(event, channels={})
        _events_finish([(event, state, errors)])
        return event


def _event_items(event: WebhookEvent) -> tuple[list, str | None, list[str]]:
    """The event's parsed items, or the outcome that stops it before any: (items, stop, errors)."""
    account = event.account
    if account is None or not account.is_active:
        return [], WebhookEvent.State.SKIPPED, ["The account is inactive."]
    if event.channel is not None:
        provider = event.channel.get_provider()
    else:
        provider = provider_class(event.provider)(
            settings=account.settings, secrets=account.secrets
        )
    try:
        return provider.parse_webhook(webhook_request_from_event(event)), None, []
    except MalformedPayload as exc:
        return [], WebhookEvent.State.FAILED, [f"Malformed payload: {exc}"]


def _event_process(event: WebhookEvent, *, channels: dict) -> tuple[str, list[str]]:
    """Apply every item of a stored event; one broken item never loses the others."""
    items, stop, errors = _event_items(event)
    if stop:
        return stop, errors
    flags = []
    for item in items:
        if _item_flag(item, event=event, flags=flags):
            continue
        try:
            _item_apply(item, account=event.account, provider=event.provider, channels=channels)
        except Exception as exc:
            logger.exception("webhook event %s: item failed", event.pk)
            errors.append(f"{type(exc).__name__}: {exc}")
    return _event_outcome(errors, flags)


def _item_flag(item, *, event: WebhookEvent, flags: list[str]) -> bool:
    """Note an item the provider's parser could not read; True when `item` is one. It is
    unreadable as sent, so it never fails (and retries) its event: it flags it. An ignored item
    only leaves its reason on the event (its note), so a person sees why nothing happened."""
    if isinstance(item, IgnoredItem):
        event.notes = [*getattr(event, "notes", []), f"Ignored: {item.reason}"]
        return False
    if not isinstance(item, UnparsedItem):
        return False
    logger.warning("webhook event %s: unreadable item: %s", event.pk, item.error)
    flags.append(f"Unreadable item: {item.error}")
    return True


def _event_outcome(errors: list[str], flags: list[str]) -> tuple[str, list[str]]:
    """Failed (retried) when applying an item failed; flagged (kept, not retried) when only
    unreadable items were left out; processed otherwise."""
    if errors:
        return WebhookEvent.State.FAILED, errors + flags
    return (WebhookEvent.State.FLAGGED if flags else WebhookEvent.State.PROCESSED), flags


def _events_process_batch(events: list[WebhookEvent], *, channels: dict) -> list[tuple]:
    """Like `_event_process` for each event, with the inbound messages of all of them stored
    together (see inbound_rows). Returns (event, state, errors) for each."""
    results, received, flagged, statuses = [], {}, {}, []
    for event in events:
        items, stop, errors = _event_items(event)
        results.append((event, stop, errors))
        mine = received[event.pk] = []
        flagged[event.pk] = []
        for item in items:
            if _item_flag(item, event=event, flags=flagged[event.pk]):
                continue
            try:
                if isinstance(item, InboundMessage):
                    channel = _channel_for(
                        item.channel_external_id, provider=event.provider, channels=channels
                    )
                    mine.append(Received(channel=channel, inbound=item))
                elif isinstance(item, StatusUpdate) and item.channel_external_id:
                    channel = _channel_for(
                        item.channel_external_id, provider=event.provider, channels=channels
                    )
                    statuses.append((event, channel, item))
                else:
                    _item_apply(
                        item, account=event.account, provider=event.provider, channels=channels
                    )
            except Exception as exc:
                logger.exception("webhook event %s: item failed", event.pk)
                errors.append(f"{type(exc).__name__}: {exc}")
    messages_receive([each for mine in received.values() for each in mine])
    status_errors = _statuses_apply_batch(statuses)
    outcomes = []
    for event, stop, errors in results:
        if stop is None:
            errors += [
                f"{type(r.error).__name__}: {r.error}" for r in received[event.pk] if r.error
            ]
            errors += status_errors.get(event.pk, [])
            stop, errors = _event_outcome(errors, flagged[event.pk])
        outcomes.append((event, stop, errors))
    return outcomes


def _statuses_apply_batch(statuses: list[tuple]) -> dict[int, list[str]]:
    """The batch's statuses together (see statuses_batch); should that fail, one at a time, so
    only the status that breaks fails its event. Returns the errors by event id."""
    from messaging.services.statuses import status_apply
    from messaging.services.statuses_batch import statuses_apply

    if not statuses:
        return {}
    try:
        with transaction.atomic():
            statuses_apply([(channel, item) for _, channel, item in statuses])
        return {}
    except Exception:
        logger.exception("the batch's statuses failed together; applying them one by one")
    errors: dict[int, list[str]] = {}
    for event, channel, item in statuses:
        try:
            with transaction.atomic():
                status_apply(channel=channel, update=item)
        except Exception as exc:
            logger.exception("webhook event %s: status failed", event.pk)
            errors.setdefault(event.pk, []).append(f"{type(exc).__name__}: {exc}")
    return errors


def _events_finish(outcomes: list[tuple[WebhookEvent, str, list[str]]]) -> None:
    """Record outcomes; the common one (processed, no error) in a single UPDATE per batch."""
    now = timezone.now()
    clean = []
    for event, state, errors in outcomes:
        # Why an item was ignored is worth keeping after the errors (never instead of them).
        errors = [*errors, *getattr(event, "notes", [])]
        # An error may quote the wire (an id, a field): never with a character the column refuses.
        error = REFUSED_CHARACTERS.sub("\ufffd", "\n".join(errors))
        event.state, event.error, event.processed_at = state, error, now
        event.attempts += 1
        if state == WebhookEvent.State.PROCESSED and not error:
            clean.append(event.pk)
        else:
            WebhookEvent.objects.filter(pk=event.pk).update(
                state=state, error=event.error, processed_at=now, attempts=F("attempts") + 1
            )
    if clean:
        WebhookEvent.objects.filter(pk__in=clean).update(
            state=WebhookEvent.State.PROCESSED,
            error="",
            processed_at=now,
            attempts=F("attempts") + 1,
        )


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
    from messaging.pipeline import entity_request_answer
    from messaging.services.provider_items import (
        channel_state_apply,
        message_change_apply,
        status_channel_find,
    )
    from messaging.services.statuses import status_apply
    from messaging.services.templates import template_status_apply

    if isinstance(item, InboundMessage):
        channel = _channel_for(item.channel_external_id, provider=provider, channels=channels)
        message_receive(channel=channel, inbound=item)
    elif isinstance(item, StatusUpdate):
        with transaction.atomic():
            if item.channel_external_id:
                channel = _channel_for(
                    item.channel_external_id, provider=provider, channels=channels
                )
            else:
                channel = status_channel_find(account=account, update=item)
            if channel is not None:
                status_apply(channel=channel, update=item)
    elif isinstance(item, MessageChange):
        channel = _channel_for(item.channel_external_id, provider=provider, channels=channels)
        with transaction.atomic():
            message_change_apply(channel=channel, change=item)
    elif isinstance(item, ChannelStateUpdate):
        with transaction.atomic():
            channel_state_apply(account=account, update=item)
    elif isinstance(item, ANSWERED_ITEMS):
        # Answered in the webhook's response when it came in; applying it again (a drain, a
        # reprocess) finds what that made.
        with transaction.atomic():
            entity_request_answer(request=item, account=account)
    elif isinstance(item, TemplateStatusUpdate):
        with transaction.atomic():
            template_status_apply(account=account, update=item)
    elif isinstance(item, AddressChange):
        _address_change_apply(item)
    elif isinstance(item, MessageEdit):
        from messaging.services.edits import message_edit_apply

        channel = _channel_for(item.channel_external_id, provider=provider, channels=channels)
        message_edit_apply(channel=channel, edit=item)
    elif isinstance(item, IgnoredItem):
        logger.info("webhook item ignored: %s", item.reason)


def _address_change_apply(item: AddressChange) -> None:
    from django.core.exceptions import ValidationError

    from crm.addresses import AddressTransport, address_normalize
    from crm.services import contact_address_change

    phone = ""
    if item.phone:
        try:
            phone = address_normalize(
                Address(AddressTransport.WHATSAPP, item.phone), assume_international=True
            ).value
        except ValidationError:  # AddressInvalid, PhoneNumberInvalid
            logger.warning("user id change: phone %r is not a number; ignored", item.phone)
    with transaction.atomic():
        contact = contact_address_change(
            transport=item.transport, old=item.old, new=item.new, phone_e164=phone
        )
    if contact is None:
        logger.info("user id change for %s: no contact had it", item.transport)


def webhook_event_reprocess(*, event_id: int) -> WebhookEvent:
    """Process a stored event again now; a rejected (forged) one never is."""
    WebhookEvent.objects.filter(pk=event_id).exclude(state=WebhookEvent.State.REJECTED).update(
        state=WebhookEvent.State.PENDING
    )
    return webhook_event_process(event_id=event_id)


def webhook_events_requeue(*, older_than: timedelta = timedelta(minutes=2)) -> int:
    """Hand events that were stored but never processed (or failed, a bounded number of times)
    back to the task cluster. Returns how many are waiting for it."""
    cutoff = timezone.now() - older_than
    retried = WebhookEvent.objects.filter(
        state=WebhookEvent.State.FAILED, attempts__lt=MAX_PROCESS_ATTEMPTS
    ).update(state=WebhookEvent.State.PENDING)
    stale = WebhookEvent.objects.filter(
        state=WebhookEvent.State.PENDING, received_at__lt=cutoff
    ).count()
    waiting = retried + stale
    if waiting:
        # The flag may still stand for a wake-up that was lost; this one must get through.
        task_wake_clear(flag=DRAIN_FLAG)
        task_wake(DRAIN_TASK, flag=DRAIN_FLAG, coalesce=False)
    return waiting


def conversation_get_or_open(*, channel: Channel, contact) -> tuple[Conversation, bool]:
    """The open conversation of this contact on this channel, opened if there is none.

    The partial unique index on open conversations decides between concurrent openers; the loser
    reads the winner's row.
    """
    conversation, opened = Conversation.objects.select_related("ticket").get_or_create(
        channel=channel, contact=contact, status=Conversation.Status.OPEN
    )
    conversation.channel, conversation.contact = channel, contact
    return conversation, opened


def message_receive(*, channel: Channel, inbound: InboundMessage) -> Message | None:
    """Store one inbound message once, through the same steps as a drain batch. Returns None when
    it was already stored: the unique (channel, provider id) index decides, inside this
    savepoint, so a redelivery costs nothing more than a first delivery."""
    received = Received(channel=channel, inbound=inbound)
    try:
        with transaction.atomic():
            messages_receive([received])
    except IntegrityError:
        # The same message id was stored by a concurrent delivery: this one is a no-op.
        if Message.objects.filter(
            channel=channel, provider_message_id=inbound.provider_message_id
        ).exists():
            return None
        raise
    if received.error is not None:
        raise received.error
    return received.message
