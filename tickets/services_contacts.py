"""The tickets' part when two contacts of one person become one (crm.identity.contact_merge)."""

from django.utils import timezone

from messaging.models import Conversation
from tickets.models import Ticket, TicketStatus


def tickets_move_to_contact(*, source, target) -> int:
    """Every ticket of `source` becomes `target`'s. When both have an open ticket, the source's
    conversations join the target's open one and the source's is closed: one open ticket per
    contact."""
    target_open = Ticket.objects.filter(contact=target).exclude(status=TicketStatus.CLOSED).first()
    source_open = Ticket.objects.filter(contact=source).exclude(status=TicketStatus.CLOSED).first()
    if target_open is not None and source_open is not None:
        Conversation.objects.filter(ticket=source_open).update(ticket=target_open)
        Ticket.objects.filter(pk=source_open.pk).update(
            status=TicketStatus.CLOSED, closed_at=timezone.now()
        )
    return Ticket.objects.filter(contact=source).update(contact=target)
