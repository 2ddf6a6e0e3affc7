from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Max, Q, QuerySet
from django.utils import timezone

from accounts.models import Role
from accounts.selectors import user_role
from crm.selectors import contact_list_visible_to
from messaging.models import Channel, Conversation


@dataclass(frozen=True)
class Window:
    """Meta's customer-service window: free text only within 24 hours of the last inbound."""

    last_inbound_at: datetime | None
    closes_at: datetime | None

    @property
    def is_open(self) -> bool:
        return self.closes_at is not None and self.closes_at > timezone.now()

    @property
    def time_left(self) -> timedelta:
        if not self.is_open:
            return timedelta(0)
        return self.closes_at - timezone.now()


def conversation_window(*, channel: Channel, contact) -> Window:
    last = Conversation.objects.filter(channel=channel, contact=contact).aggregate(
        last=Max("last_inbound_at")
    )["last"]
    hours = getattr(settings, "CUSTOMER_SERVICE_WINDOW_HOURS", 24)
    return Window(last_inbound_at=last, closes_at=last + timedelta(hours=hours) if last else None)


def conversation_list_visible_to(*, user) -> QuerySet[Conversation]:
    """Conversations of the clients the user sees (crm decides who those are), plus any
    conversation assigned to them."""
    if user_role(user=user) in (Role.MANAGER, Role.QUALITY_CONTROL):
        return Conversation.objects.all()
    visible = contact_list_visible_to(user=user).values("pk")
    return Conversation.objects.filter(Q(contact__in=visible) | Q(assignee=user))
