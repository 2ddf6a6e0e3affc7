"""Connecting a channel whose webhook is registered by an API call (a Telegram bot): check the
credentials, register our URL with a fresh secret, and read back what the platform says."""

import logging
import secrets

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from messaging.models import Channel
from messaging.providers.base import ProviderError
from messaging.services.health import channel_mark_unhealthy

logger = logging.getLogger(__name__)
# The platform's calls are spread over a second: the send throttle keeps a bot under Telegram's
# ~30 messages a second (reference section 7).
CONNECTED_THROUGHPUT = 30


class ChannelConnectFailed(Exception):
    """Connecting (or disconnecting) failed; the text says why and what to do."""


def channel_webhook_url(*, channel: Channel) -> str:
    return settings.PUBLIC_BASE_URL + reverse(
        "webhook", kwargs={"provider": channel.provider, "account_key": channel.key}
    )


def _failed(channel: Channel, exc: ProviderError, doing: str) -> ChannelConnectFailed:
    if exc.credentials_invalid:
        channel_mark_unhealthy(channel=channel, reason=exc.message)
    return ChannelConnectFailed(f"{doing} failed: {exc.message}")


def channel_connect(*, channel: Channel) -> Channel:
    """Check the credentials (the bot's id and name are stored), register the channel's webhook
    URL with a new random secret, and store what the platform then reports about it.

    The secret is stored before it is registered, so the first update (which may come at once)
    verifies. A PUBLIC_BASE_URL the platform cannot call is refused against the real platform and
    noted on the channel against the sandbox."""
    provider = channel.get_provider()
    if not type(provider).connects_webhook:
        raise ChannelConnectFailed(
            f"{channel.get_provider_display()} channels are set up at the provider."
        )
    try:
        identity = provider.channel_identity()
    except ProviderError as exc:
        raise _failed(channel, exc, "Checking the token") from exc
    url = channel_webhook_url(channel=channel)
    secret = secrets.token_urlsafe(32)
    with transaction.atomic():
        locked = Channel.objects.select_for_update().get(pk=channel.pk)
        locked.external_id = identity.external_id
        locked.display_number = identity.display[:32]
        locked.transport = identity.transport or locked.transport
        locked.secrets = {**locked.secrets, "webhook_secret": secret}
        locked.config = {
            **locked.config,
            **identity.config,
            "webhook_url": url,
            "webhook_warning": provider.webhook_url_problem(url),
        }
        locked.throughput_per_second = min(locked.throughput_per_second, CONNECTED_THROUGHPUT)
        locked.save()
    channel.refresh_from_db()
    provider = channel.get_provider()
    try:
        provider.webhook_register(url=url, secret=secret)
        info = provider.webhook_info()
    except ProviderError as exc:
        raise _failed(channel, exc, "Registering the webhook") from exc
    channel.config = {
        **channel.config,
        "webhook_connected": True,
        "webhook_info": _info_dict(info),
    }
    channel.is_healthy, channel.last_error = True, ""
    channel.save(update_fields=["config", "is_healthy", "last_error"])
    return channel


def channel_webhook_refresh(*, channel: Channel) -> Channel:
    """Read the platform's view of the webhook again (pending updates, its last error)."""
    try:
        info = channel.get_provider().webhook_info()
    except ProviderError as exc:
        raise _failed(channel, exc, "Reading the webhook") from exc
    channel.config = {**channel.config, "webhook_info": _info_dict(info)}
    channel.save(update_fields=["config"])
    return channel


def channel_disconnect(*, channel: Channel) -> Channel:
    """Remove the webhook at the platform, then forget the secret: later updates are refused."""
    provider = channel.get_provider()
    try:
        provider.webhook_unregister()
    except ProviderError as exc:
        raise _failed(channel, exc, "Removing the webhook") from exc
    channel.secrets = {**channel.secrets, "webhook_secret": ""}
    config = {
        k: v for k, v in channel.config.items() if k not in ("webhook_info", "webhook_warning")
    }
    channel.config = {**config, "webhook_connected": False}
    channel.save(update_fields=["secrets", "config"])
    return channel


def _info_dict(info) -> dict:
    return {
        "url": info.url,
        "pending_update_count": info.pending_update_count,
        "last_error_message": info.last_error_message,
        "last_error_at": info.last_error_at.isoformat() if info.last_error_at else "",
        "checked_at": timezone.now().isoformat(),
    }
