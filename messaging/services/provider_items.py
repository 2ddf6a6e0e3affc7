"""Webhook items beyond messages and statuses: edits and deletions of a stored message, a
channel's state at the provider, statuses that do not name their channel, and requests to create
a contact or deal that the provider waits for (answered in the webhook's response)."""

import logging

from django.db import transaction
from django.utils import timezone

from messaging.models import Channel, Message, WebhookEvent
from messaging.pipeline import entity_request_answer
from messaging.providers import provider_class
from messaging.providers.base import (
    ANSWERED_ITEMS,
    ChannelInfo,
    ChannelStateUpdate,
    MessageChange,
    MessageEdit,
    StatusUpdate,
)
from messaging.services.edits import message_edit_apply

logger = logging.getLogger(__name__)


def message_change_apply(*, channel: Channel, change: MessageChange) -> Message | None:
    """Edit or delete a stored message in place (the old text is kept in its payload). A change
    to a message never stored stores it as it reads now. Applying the same change twice changes
    nothing."""
    from messaging.services.inbound import message_receive

    message = (
        Message.objects.select_for_update()
        .filter(channel=channel, provider_message_id=change.provider_message_id)
        .first()
    )
    if message is None:
        stored = message_receive(channel=channel, inbound=change.message)
        if stored is not None and change.deleted:
            _mark_deleted(stored)
        return stored
    if change.deleted:
        _mark_deleted(message)
        return message
    # An edit is the one edit path every provider shares: the earlier text stays visible and the
    # ticket that quotes the message follows.
    edit = MessageEdit(
        channel_external_id=change.channel_external_id,
        provider_message_id=change.provider_message_id,
        text=change.message.text,
        edited_at=timezone.now(),
        raw=change.raw,
    )
    return message_edit_apply(channel=channel, edit=edit)


def _mark_deleted(message: Message) -> None:
    if message.payload.get("deleted"):
        return
    message.payload = {**message.payload, "deleted": True, "deleted_at": _now()}
    message.save(update_fields=["payload"])


def _now() -> str:
    return timezone.now().isoformat()


def channel_state_apply(*, account, update: ChannelStateUpdate) -> Channel | None:
    """Record a channel's state as the provider reports it: shown on the channel, and only a
    state that sends counts as healthy. An unknown channel waits for the channel import."""
    channel = Channel.objects.filter(
        account=account, provider=account.platform, external_id=update.channel_external_id
    ).first()
    if channel is None:
        logger.info("state %r for unknown channel %s", update.state, update.channel_external_id)
        return None
    return _channel_state_set(channel, state=update.state, healthy=update.healthy)


def _channel_state_set(channel: Channel, *, state: str, healthy: bool) -> Channel:
    channel.config = {**channel.config, "state": state}
    channel.is_healthy = healthy
    if healthy:
        channel.last_error = ""
    else:
        channel.last_error = f"The provider reports the channel as {state!r}: it cannot send."
        channel.last_error_at = timezone.now()
    channel.save(update_fields=["config", "is_healthy", "last_error", "last_error_at"])
    return channel


def status_channel_find(*, account, update: StatusUpdate) -> Channel | None:
    """The channel of a status that does not name one (Wazzup): the channel of the message it is
    about, among the account's channels; else the account's first channel, where it waits as a
    pending status until the message is stored (a send whose answer is still on its way)."""
    channels = Channel.objects.filter(account=account, provider=account.platform)
    message = (
        Message.objects.filter(channel__in=channels, provider_message_id=update.provider_message_id)
        .select_related("channel")
        .first()
    )
    if message is not None:
        return message.channel
    return channels.order_by("pk").first()


@transaction.atomic
def account_channels_import(*, account) -> tuple[int, int]:
    """Create or update one channel per channel the provider lists for the account; returns
    (created, updated). Routing and ticket settings of existing channels are kept."""
    provider = provider_class(account.platform)(settings=account.settings, secrets=account.secrets)
    created = updated = 0
    for info in provider.channels_list():
        if _channel_import_one(account=account, info=info):
            created += 1
        else:
            updated += 1
    return created, updated


def _channel_import_one(*, account, info: ChannelInfo) -> bool:
    channel = Channel.objects.filter(
        provider=account.platform, external_id=info.external_id
    ).first()
    if channel is None:
        Channel.objects.create(
            account=account,
            provider=account.platform,
            external_id=info.external_id,
            name=info.name,
            transport=info.transport or Channel._meta.get_field("transport").default,
            display_number=info.display_id,
            config=dict(info.config),
            is_healthy=info.healthy,
            last_error=_state_error(info),
        )
        return True
    channel.config = {**channel.config, **info.config}
    if info.transport:
        channel.transport = info.transport
    channel.display_number = info.display_id or channel.display_number
    channel.save(update_fields=["config", "transport", "display_number"])
    _channel_state_set(channel, state=info.state, healthy=info.healthy)
    return False


def _state_error(info: ChannelInfo) -> str:
    if info.healthy:
        return ""
    return f"The provider reports the channel as {info.state!r}: it cannot send."


def webhook_event_answer(*, event_id: int) -> dict | None:
    """Process a stored event now and return the provider's answer body for it (a created
    contact or deal), for providers that wait for one in the webhook's response.

    The event is stored first, like every other; this processes it inline, under its row lock,
    so the drain cannot process it twice. The entity requests are answered by get-or-create, so
    an event the drain processed first is answered from what it made."""
    from messaging.services.inbound import (
        _event_items,
        _event_outcome,
        _events_finish,
        _item_apply,
        _item_flag,
    )

    with transaction.atomic():
        event = (
            WebhookEvent.objects.select_related("account", "channel")
            .select_for_update(of=("self",))
            .get(pk=event_id)
        )
        items, stop, errors = _event_items(event)
        if stop:
            if event.state == WebhookEvent.State.PENDING:
                _events_finish([(event, stop, errors)])
            return None
        pending = event.state == WebhookEvent.State.PENDING
        results, flags = [], []
        for item in items:
            if _item_flag(item, event=event, flags=flags):
                continue
            if isinstance(item, ANSWERED_ITEMS):
                try:
                    with transaction.atomic():
                        results.append(entity_request_answer(request=item, account=event.account))
                except Exception as exc:
                    logger.exception("webhook event %s: create request failed", event.pk)
                    errors.append(f"{type(exc).__name__}: {exc}")
            elif pending:
                try:
                    _item_apply(item, account=event.account, provider=event.provider, channels={})
                except Exception as exc:
                    logger.exception("webhook event %s: item failed", event.pk)
                    errors.append(f"{type(exc).__name__}: {exc}")
        if pending:
            state, errors = _event_outcome(errors, flags)
            _events_finish([(event, state, errors)])
    provider = provider_class(event.provider)(
        settings=event.account.settings, secrets=event.account.secrets
    )
    return provider.answer(results)


def account_webhooks_connect(*, account) -> str:
    """Tell the provider to post to this account's webhook URL. A fresh URL token is stored (and
    committed) first: the provider tests the URL at once and the test must pass. Not atomic on
    purpose. Raises ProviderError."""
    from messaging.webhook_accounts import webhook_url

    provider = provider_class(account.platform)(settings=account.settings, secrets=account.secrets)
    new = provider.webhook_secrets_new()
    if new:
        account.secrets = {**account.secrets, **new}
        account.save(update_fields=["secrets"])
        provider = provider_class(account.platform)(
            settings=account.settings, secrets=account.secrets
        )
    return provider.webhooks_subscribe(url=webhook_url(account))
