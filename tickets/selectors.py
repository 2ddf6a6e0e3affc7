from django.db.models import Count, Q, QuerySet

from accounts.models import Role
from accounts.selectors import user_role
from crm.phones import PhoneNumberInvalid, phone_normalize
from crm.selectors import contact_list_visible_to
from tickets.models import Ticket, TicketComment, TicketStatus


def ticket_list_visible_to(*, user) -> QuerySet[Ticket]:
    """Tickets of the clients the user sees, plus any ticket assigned to them."""
    if user_role(user=user) in (Role.MANAGER, Role.QUALITY_CONTROL):
        return Ticket.objects.all()
    visible = contact_list_visible_to(user=user).values("pk")
    return Ticket.objects.filter(Q(contact__in=visible) | Q(assignee=user))


def ticket_comment_list_visible_to(*, user) -> QuerySet[TicketComment]:
    """Comments of the tickets the user sees."""
    if user_role(user=user) in (Role.MANAGER, Role.QUALITY_CONTROL):
        return TicketComment.objects.all()
    return TicketComment.objects.filter(ticket__in=ticket_list_visible_to(user=user).values("pk"))


def ticket_open_of_contact(*, contact) -> Ticket | None:
    """The contact's one non-closed ticket, if any (the partial unique index allows one)."""
    return Ticket.objects.filter(contact=contact).exclude(status=TicketStatus.CLOSED).first()


def ticket_list(*, queryset: QuerySet[Ticket] | None = None) -> QuerySet[Ticket]:
    """Tickets with what a list shows about each, fetched in one query."""
    queryset = Ticket.objects.all() if queryset is None else queryset
    return queryset.select_related("contact", "channel", "assignee").annotate(
        comment_total=Count("comments", distinct=True),
        conversation_total=Count("conversations", distinct=True),
    )


def ticket_search_phone(*, term: str) -> str | None:
    """The E.164 form of a search term that is a phone number written any way, else None."""
    try:
        return phone_normalize(term)
    except PhoneNumberInvalid:
        return None


def ticket_comments(*, ticket: Ticket) -> QuerySet[TicketComment]:
    """The ticket's history in order, with each comment's author and WhatsApp message."""
    return ticket.comments.select_related("author", "message").order_by("created_at", "pk")


def ticket_conversations(*, ticket: Ticket):
    return (
        ticket.conversations.select_related("channel", "started_by_template")
        .annotate(message_total=Count("messages"))
        .order_by("-opened_at", "-pk")
    )
