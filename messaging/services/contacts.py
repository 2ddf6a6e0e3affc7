"""Messaging's part when two contacts of one person become one (crm.identity.contact_merge)."""

from django.utils import timezone

from messaging.models import Conversation


def conversations_move_to_contact(*, source, target) -> int:
    """Every conversation of `source` becomes `target`'s. Where both have one open on the same
    channel, the source's is closed first: one open conversation per contact and channel."""
    target_open = set(
        Conversation.objects.filter(contact=target, status=Conversation.Status.OPEN).values_list(
            "channel_id", flat=True
        )
    )
    Conversation.objects.filter(
        contact=source, status=Conversation.Status.OPEN, channel_id__in=target_open
    ).update(status=Conversation.Status.CLOSED, closed_at=timezone.now())
    return Conversation.objects.filter(contact=source).update(contact=target)
