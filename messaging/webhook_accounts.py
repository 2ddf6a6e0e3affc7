"""Which account a webhook URL belongs to, remembered for a few seconds per process.

Meta can post hundreds of webhooks a second to one URL; looking the account up and decrypting
its secrets on each one costs more than storing the event. So the account is cached together with
the provider built from it. A changed account or channel is forgotten at once in the process that
saved it and within WEBHOOK_ACCOUNT_CACHE_SECONDS everywhere else; nothing is lost meanwhile (a
signature made with a new secret is refused and the provider retries, and processing re-reads the
account's active flag).
"""

import time
from dataclasses import dataclass

from django.apps import apps
from django.conf import settings
from django.urls import reverse

from messaging.providers import provider_class


@dataclass(frozen=True)
class WebhookTarget:
    account: object  # integrations.IntegrationAccount
    provider: object  # a messaging.providers.base.Provider instance
    channel: object = None  # messaging.Channel, when the URL carried a channel's key


_cache: dict[tuple[str, str], tuple[float, WebhookTarget]] = {}


def webhook_account(*, provider: str, key) -> WebhookTarget | None:
    """The account (and its provider) whose webhook URL carries `key`: an account key, or else the
    key of one of its channels, whose own secrets then join the provider's."""
    cache_key = (provider, str(key))
    now = time.monotonic()
    hit = _cache.get(cache_key)
    if hit is not None and hit[0] > now:
        return hit[1]
    target = _target_read(provider=provider, key=key)
    if target is not None:
        _cache[cache_key] = (now + settings.WEBHOOK_ACCOUNT_CACHE_SECONDS, target)
    return target


def _target_read(*, provider: str, key) -> WebhookTarget | None:
    klass = provider_class(provider)
    IntegrationAccount = apps.get_model("integrations", "IntegrationAccount")
    account = IntegrationAccount.objects.filter(key=key, platform=provider).first()
    if account is not None:
        return WebhookTarget(
            account=account, provider=klass(settings=account.settings, secrets=account.secrets)
        )
    # Only on a miss: the account URL is the common case and must stay one lookup.
    Channel = apps.get_model("messaging", "Channel")
    channel = (
        Channel.objects.filter(key=key, provider=provider, account__platform=provider)
        .select_related("account")
        .first()
    )
    if channel is None:
        return None
    return WebhookTarget(account=channel.account, provider=channel.get_provider(), channel=channel)


def webhook_url(account) -> str:
    """The address to configure at the provider for this account."""
    return settings.PUBLIC_BASE_URL + reverse(
        "webhook", kwargs={"provider": account.platform, "account_key": account.key}
    )


def webhook_accounts_forget(**_kwargs) -> None:
    _cache.clear()
