"""Reads for the integrations admin and for what an API key may see."""

from dataclasses import dataclass

from django.db.models import Q

from crm.models import Contact
from integrations.models import AccountContact, IntegrationAccount, Platform
from messaging.models import Channel, Conversation
from messaging.providers import PROVIDERS

# Which jobs work over accounts of each platform: every messaging provider drives the same three.
JOBS_BY_PLATFORM = {
    **{key: ("sync_templates", "sync_messages", "close_conversations") for key in PROVIDERS},
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


def contacts_visible_to_account(*, account):
    """An account's own contacts: those it created, upserted, messaged or notified through the
    API, and anyone with a conversation on its own channels."""
    linked = AccountContact.objects.filter(account=account).values("contact_id")
    on_own_channels = Conversation.objects.filter(channel__account=account).values("contact_id")
    return Contact.objects.filter(Q(pk__in=linked) | Q(pk__in=on_own_channels))


def channels_allowed_to_account(*, account):
    """Its own channels; an account without any (a shop) sends on those its rules name."""
    own = Channel.objects.filter(account=account)
    if own.exists():
        return own
    return Channel.objects.filter(notification_rules__account=account).distinct()
