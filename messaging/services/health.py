"""Credentials a provider refused: the account (with its channels), or the one channel whose own
secret it is (a bot token), is marked unhealthy, so it never looks fine while every call fails
(zammad#5352)."""

from django.utils import timezone

from messaging.models import Channel
from messaging.providers.base import ProviderError


def account_mark_unhealthy(account, reason: str) -> None:
    now = timezone.now()
    type(account).objects.filter(pk=account.pk).update(
        is_healthy=False, last_error=reason, last_error_at=now
    )
    Channel.objects.filter(account=account).update(
        is_healthy=False, last_error=reason, last_error_at=now
    )


def account_follow_error(account, exc: ProviderError) -> None:
    """Mark the account when `exc` says its credentials are wrong or revoked."""
    if exc.credentials_invalid:
        account_mark_unhealthy(account, exc.message)


def channel_mark_unhealthy(*, channel: Channel, reason: str) -> None:
    Channel.objects.filter(pk=channel.pk).update(
        is_healthy=False, last_error=reason, last_error_at=timezone.now()
    )


def credentials_invalid_mark(*, channel: Channel, reason: str) -> None:
    """The platform refused the credentials a call on `channel` used: the channel is unhealthy,
    and so is its account when the credentials are the account's (a bot token is the channel's
    own: the account's other channels still work)."""
    if type(channel.get_provider()).channel_secret_fields:
        channel_mark_unhealthy(channel=channel, reason=reason)
    else:
        account_mark_unhealthy(channel.account, reason)


def channel_follow_error(channel: Channel, exc: ProviderError) -> None:
    """Mark the channel (or its account) when `exc` says the credentials are wrong or revoked."""
    if exc.credentials_invalid:
        credentials_invalid_mark(channel=channel, reason=exc.message)
