from django.db.models import Count, Prefetch, Q, QuerySet

from accounts.models import Role
from accounts.selectors import user_role
from config.row_totals import totals_for
from crm.phones import PhoneNumberInvalid, phone_normalize
from crm.selectors import contact_ids_by_phone, contact_ids_visible_to
from messaging.models import Conversation, Message
from messaging.providers.base import MessageType
from tickets.models import Ticket, TicketComment, TicketStatus


def ticket_list_visible_to(*, user) -> QuerySet[Ticket]:
    """Tickets of the clients the user sees, plus any ticket assigned to them."""
    if user_role(user=user) in (Role.MANAGER, Role.QUALITY_CONTROL):
        return Ticket.objects.all()
    # A UNION of two index lookups, not an OR tested on every ticket.
    of_their_clients = (
        Ticket.objects.filter(contact_id__any=contact_ids_visible_to(user=user))
        .order_by()
        .values("pk")
    )
    assigned = Ticket.objects.filter(assignee=user).order_by().values("pk")
    # The ids read first: PostgreSQL cannot size a UNION in a subquery (see crm.selectors).
    return Ticket.objects.filter(pk__any=[row["pk"] for row in of_their_clients.union(assigned)])


def ticket_comment_list_visible_to(*, user) -> QuerySet[TicketComment]:
    """Comments of the tickets the user sees."""
    if user_role(user=user) in (Role.MANAGER, Role.QUALITY_CONTROL):
        return TicketComment.objects.all()
    return TicketComment.objects.filter(ticket__in=ticket_list_visible_to(user=user).values("pk"))


def ticket_open_of_contact(*, contact) -> Ticket | None:
    """The contact's one non-closed ticket, if any (the partial unique index allows one)."""
    return Ticket.objects.filter(contact=contact).exclude(status=TicketStatus.CLOSED).first()


def ticket_list(*, queryset: QuerySet[Ticket] | None = None) -> QuerySet[Ticket]:
    """Tickets with the rows a list shows beside each, joined (their figures: ticket_totals_set
    on the page)."""
    queryset = Ticket.objects.all() if queryset is None else queryset
    return queryset.select_related("contact", "channel", "assignee")


def ticket_totals_set(*, tickets: list[Ticket], public_only: bool = False) -> list[Ticket]:
    """Set `comment_total` and `conversation_total` on a page of tickets: two grouped queries
    over those tickets only. `public_only` leaves internal notes out of the comment count, for
    readers who may not see them."""
    ids = [ticket.pk for ticket in tickets]
    comments = TicketComment.objects.all()
    if public_only:
        comments = comments.filter(is_internal=False)
    comment_totals = totals_for(comments, field="ticket_id", ids=ids)
    conversation_totals = totals_for(Conversation.objects.all(), field="ticket_id", ids=ids)
    for ticket in tickets:
        ticket.comment_total = comment_totals.get(ticket.pk, 0)
        ticket.conversation_total = conversation_totals.get(ticket.pk, 0)
    return tickets


def ticket_search(*, queryset: QuerySet[Ticket], term: str) -> QuerySet[Ticket]:
    """Match a ticket number (`TT24`, `24`), the contact's name, or a phone written any way."""
    term = term.strip()
    if not term:
        return queryset
    contact_ids = contact_ids_by_phone(term=term)
    if contact_ids:
        # The exact number first: an index lookup, not a scan of every contact's phone.
        return queryset.filter(contact_id__in=contact_ids)
    condition = (
        Q(number__iexact=term)
        | Q(number__iexact=f"TT{term}")
        | Q(contact__name__icontains=term)
        | Q(contact__phone__contains=term)
    )
    phone = ticket_search_phone(term=term)
    if phone:
        condition |= Q(contact__phone=phone)
    return queryset.filter(condition)


def ticket_with_history(
    *, queryset: QuerySet[Ticket], public_only: bool = False
) -> QuerySet[Ticket]:
    """Tickets with their comments in order (author and WhatsApp message joined) and the ids of
    their conversations: a fixed number of queries however long the history is."""
    comments = TicketComment.objects.select_related("author", "message").order_by(
        "created_at", "pk"
    )
    if public_only:
        comments = comments.filter(is_internal=False)
    return queryset.select_related("contact", "channel", "assignee").prefetch_related(
        Prefetch("comments", queryset=comments, to_attr="history"),
    )


def ticket_reply_channel(*, ticket: Ticket):
    """Where a staff comment goes: the channel of the ticket's latest conversation, else the
    channel the ticket was opened on (None when it has neither)."""
    latest = (
        ticket.conversations.select_related("channel__account", "channel__utility_template")
        .order_by("-opened_at", "-pk")
        .first()
    )
    return latest.channel if latest else ticket.channel


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


def ticket_media_message(*, user, message_id: int) -> Message | None:
    """A media message of a contact one of whose tickets the user may see, else None.

    Decided by the contact rather than by the message's current ticket: a description keeps its
    link after the ticket closes and the conversation moves on to the next ticket.
    """
    visible = ticket_list_visible_to(user=user).values("contact_id")
    return Message.objects.filter(
        pk=message_id, type__in=MessageType.MEDIA, conversation__contact__in=visible
    ).first()
