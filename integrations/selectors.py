from django.db.models import Q

from crm.models import Contact
from integrations.models import AccountContact
from messaging.models import Channel, Conversation


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
