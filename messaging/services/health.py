"""An account whose credentials a provider refused: marked unhealthy with its channels, so it
never looks fine while every call fails (zammad#5352)."""

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
