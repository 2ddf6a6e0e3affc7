"""Task-cluster entry points for integration jobs: thin, each calls services."""

import logging

from integrations.models import IntegrationAccount, Platform
from messaging.providers.base import ProviderError
from messaging.services import templates_sync

logger = logging.getLogger(__name__)


def sync_templates() -> dict:
    results = {}
    accounts = IntegrationAccount.objects.filter(is_active=True, platform=Platform.WHATSAPP_CLOUD)
    for account in accounts:
        try:
            results[account.pk] = templates_sync(account=account)
        except ProviderError as exc:
            logger.warning("template sync for account %s failed: %s", account.pk, exc.message)
            results[account.pk] = {"error": exc.message}
    return results
