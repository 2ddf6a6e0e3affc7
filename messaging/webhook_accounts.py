"""Which account a webhook URL belongs to, remembered for a few seconds per process.

Meta can post hundreds of webhooks a second to one URL; looking the account up and decrypting
its secrets on each one costs more than storing the event. A changed account is forgotten at
once in the process that saved it and within WEBHOOK_ACCOUNT_CACHE_SECONDS everywhere else;
nothing is lost meanwhile (a signature made with a new secret is refused and Meta retries, and
processing re-reads the account's active flag).
"""

import time

from django.apps import apps
from django.conf import settings

_cache: dict[tuple[str, str], tuple[float, object]] = {}


def webhook_account(*, platform: str, key) -> object | None:
    cache_key = (platform, str(key))
    now = time.monotonic()
    hit = _cache.get(cache_key)
    if hit is not None and hit[0] > now:
        return hit[1]
    IntegrationAccount = apps.get_model("integrations", "IntegrationAccount")
    account = IntegrationAccount.objects.filter(key=key, platform=platform).first()
    if account is not None:
        _cache[cache_key] = (now + settings.WEBHOOK_ACCOUNT_CACHE_SECONDS, account)
    return account


def webhook_accounts_forget(**_kwargs) -> None:
    _cache.clear()
