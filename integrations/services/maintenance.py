"""The jobs that drive messaging: template sync, re-driving what was left behind, closing."""

from integrations.models import IntegrationAccount
from integrations.services.jobs import JobReport
from messaging.providers import PROVIDERS
from messaging.providers.base import ProviderError, TemplateKind
from messaging.services import (
    messages_retry_due,
    templates_sync,
    webhook_events_requeue,
)
from messaging.services.provider_items import account_channels_import
from tickets.routing import conversations_close_due


def templates_sync_all() -> JobReport:
    """Every active messaging account's templates and approval states; inactive ones are skipped.

    Providers without templates (a Telegram bot) have nothing to sync.
    """
    report = JobReport()
    with_templates = [
        key
        for key in PROVIDERS
        if PROVIDERS.get(key).capabilities.template_kind != TemplateKind.NONE
    ]
    accounts = IntegrationAccount.objects.filter(platform__in=with_templates).order_by("pk")
    ran = 0
    for account in accounts:
        if not account.is_active:
            report.add("accounts_skipped")
            report.note(f"{account}: skipped, the account is inactive.")
            continue
        ran += 1
        try:
            result = templates_sync(account=account)
        except ProviderError as exc:
            report.fail(f"{account}: {exc.message}")
            continue
        report.add("accounts_synced")
        for key, value in result.items():
            if isinstance(value, int):
                report.add(f"templates_{key}", value)
        report.note(f"{account}: {result}")
    ran += _channels_refresh(report)
    report.skipped = ran == 0
    if not ran:
        report.note("No active WhatsApp account.")
    return report


def _channels_refresh(report: JobReport) -> int:
    """Accounts whose provider lists its channels (Wazzup): new channels and current states, in
    the same hourly job as the templates. Returns how many accounts ran."""
    listing = [key for key in PROVIDERS if PROVIDERS.get(key).lists_channels]
    ran = 0
    for account in IntegrationAccount.objects.filter(platform__in=listing, is_active=True):
        ran += 1
        try:
            created, updated = account_channels_import(account=account)
        except ProviderError as exc:
            report.fail(f"{account}: {exc.message}")
            continue
        report.add("channels_created", created)
        report.add("channels_updated", updated)
    return ran


def messaging_redrive() -> JobReport:
    """Hand back to the task cluster what an outage or a crash left behind: webhook events
    stored but never processed or failed (fewer than five attempts), and outbound messages left
    queued. Both are claimed again by conditional UPDATEs, so re-driving twice is harmless."""
    report = JobReport()
    report.add("webhook_events_requeued", webhook_events_requeue())
    for key, value in messages_retry_due().items():
        report.add(f"messages_{key}", value)
    report.note(", ".join(f"{k} {v}" for k, v in report.counts.items()))
    return report


def conversations_close() -> JobReport:
    """Close expired conversations; the agents this frees take waiting round-robin clients."""
    result = conversations_close_due()
    report = JobReport()
    report.add("conversations_closed", result["closed"])
    report.add("queued_conversations_assigned", result["assigned"])
    report.note(
        f"{result['closed']} conversation(s) closed, {result['assigned']} waiting one(s) assigned."
    )
    return report
