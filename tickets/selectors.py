from django.db.models import Q, QuerySet

from accounts.models import Role
from accounts.selectors import user_role
from crm.selectors import contact_list_visible_to
from tickets.models import Ticket


def ticket_list_visible_to(*, user) -> QuerySet[Ticket]:
    """Tickets of the clients the user sees, plus any ticket assigned to them."""
    if user_role(user=user) in (Role.MANAGER, Role.QUALITY_CONTROL):
        return Ticket.objects.all()
    visible = contact_list_visible_to(user=user).values("pk")
    return Ticket.objects.filter(Q(contact__in=visible) | Q(assignee=user))
