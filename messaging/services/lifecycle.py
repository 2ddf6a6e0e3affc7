"""When conversations end: a fixed number of hours after they started, like WhatsApp's own
conversation windows. Closing is one UPDATE, so the job can run as often as it likes."""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from messaging.models import Conversation


def conversations_close_expired(*, now=None) -> int:
    now = now or timezone.now()
    cutoff = now - timedelta(hours=settings.CONVERSATION_LIFETIME_HOURS)
    return Conversation.objects.filter(
        status=Conversation.Status.OPEN, opened_at__lte=cutoff
    ).update(status=Conversation.Status.CLOSED, closed_at=now)
