"""Reads for the integrations admin."""

from dataclasses import dataclass

from integrations.models import IntegrationAccount, Platform

# Which jobs work over accounts of each platform.
JOBS_BY_PLATFORM = {
    Platform.WHATSAPP_CLOUD: ("sync_templates", "sync_messages", "close_conversations"),
    Platform.VTENEXT: ("sync_customers",),
    Platform.ACTIVECAMPAIGN: ("sync_customers",),
    Platform.CLERK: ("sync_customers",),
    Platform.ECOMMERCE: (),
}


@dataclass
class Dependent:
    label: str
    count: int | str
    effect: str
    blocks: bool = False


def account_dependents(*, account: IntegrationAccount) -> list[Dependent]:
    """What depends on an account and what deleting it would do to each, for the confirmation."""
    channels = account.channels.count()
    rows = [
        Dependent(
            "Channels",
            channels,
            "protected: delete them or move them to another account first",
            blocks=channels > 0,
        ),
        Dependent("Message templates", account.templates.count(), "deleted with the account"),
        Dependent(
            "External links (ids on the platform)",
            account.external_links.count(),
            "deleted: a new account would create the records again on the platform",
        ),
        Dependent("Sync conflicts", account.sync_conflicts.count(), "deleted with the account"),
        Dependent(
            "Webhook events",
            account.webhook_events.count(),
            "kept, no longer tied to an account",
        ),
    ]
    jobs = JOBS_BY_PLATFORM.get(account.platform, ())
    if jobs:
        rows.append(
            Dependent("Jobs", ", ".join(jobs), "stop working over this account; they keep running")
        )
    return rows
